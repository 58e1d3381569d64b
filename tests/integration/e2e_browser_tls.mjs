// A Chromium worker over https from a name that is not loopback: the node
// serves https/wss with a `tessera certs` certificate for tessera.test
// (Chromium maps the name to 127.0.0.1 and trusts the certificate's key by
// --ignore-certificate-errors-spki-list). The page, opened with the join
// link's ?token=, reports a secure context, cross-origin isolation and two
// WASM threads, shows no "runs slow" notice, joins over wss and serves the
// whole model: a Node client's greedy reply over wss equals the whole model's.
// A browser client in the same page authenticates with the WebSocket
// subprotocol `tessera.key.KEY`, and a page without a token is refused.
// Control: the same page from a plain-http node under that name is not a
// secure context, gets one WASM thread and says why it runs slow.
//   node e2e_browser_tls.mjs TESSERA_BINARY [PRESET]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';
import { httpsJson, makeCerts, spkiHash, until, wsGenerate } from './tls.mjs';

const { launchBrowser } = await import(path.join(h.repoRoot, 'webworker', 'testing', 'chromium.mjs'));
const [tessera, preset = 'tiny'] = process.argv.slice(2);
h.watchdog(300000, 'e2e_browser_tls');
const dir = h.tmpDir('tessera-browser-tls-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const certs = makeCerts(tessera, path.join(dir, 'certs'), ['tessera.test']);
const run = (...args) => execFileSync(tessera, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
const keysFile = path.join(dir, 'keys');
const tokensFile = path.join(dir, 'tokens');
const key = run('keys', 'add', 'browser-client', '--file', keysFile);
const token = run('tokens', 'add', 'browser-worker', '--file', tokensFile);
// No local workers: the Chromium tab alone serves the model.
const config = h.writeConfig(dir, {
  modelDir, workers: [],
  node: { tls_cert: `"${certs.cert}"`, tls_key: `"${certs.key}"` },
  auth: { keys_file: `"${keysFile}"`, tokens_file: `"${tokensFile}"` },
});
const plainDir = path.join(dir, 'plain');
fs.mkdirSync(plainDir);
const plainConfig = h.writeConfig(plainDir, { modelDir, workers: [] });
const MAX = 8;
const PROMPT = 'The quick brown fox';
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

let node;
let plainNode;
let browser;
try {
  const refs = h.reference(modelDir, MAX, [PROMPT]);
  node = await h.startNode(tessera, config, dir, { waitReady: false });
  const origin = `https://tessera.test:${node.port}`;
  browser = await launchBrowser({ extraArgs: [
    '--host-resolver-rules=MAP tessera.test 127.0.0.1', `--ignore-certificate-errors-spki-list=${spkiHash(certs.cert)}`,
  ] });

  const refusedPage = await browser.context.newPage();
  await refusedPage.goto(`${origin}/?reconnect=0&threads=2&name=no-token&memory=160MB`);
  const refusedLog = await until('the page without a token to be refused', 30000, async () => {
    const t = await refusedPage.textContent('#log');
    return /code=1008 reason=missing join token/.test(t) ? t : undefined;
  });
  h.check(refusedLog, 'a page without a join token is closed with 1008 "missing join token"');
  await refusedPage.close();

  const page = await browser.context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error(`page: ${m.text()}`); });
  await page.goto(`${origin}/?reconnect=0&threads=2&name=chromium-tls&memory=160MB&token=${token}`);
  const caps = await until('the page to report its capabilities', 30000, async () => {
    const threads = await page.textContent('#wasm-threads');
    return threads && threads !== '—' ? {
      secure: await page.textContent('#secure-context'), isolated: await page.textContent('#isolated'),
      threads: Number(threads), webgpu: await page.textContent('#webgpu'),
      slowHidden: await page.$eval('#slow-reason', (e) => e.hidden),
    } : undefined;
  });
  h.check(caps.secure === 'true' && caps.isolated === 'true', `https page: isSecureContext ${caps.secure}, crossOriginIsolated ${caps.isolated}`);
  h.check(caps.threads === 2, `WASM threads ${caps.threads} (> 1), WebGPU: ${caps.webgpu}`);
  h.check(caps.slowHidden, 'no "runs slow" notice on https');

  const status = await until('the Chromium worker to serve the plan', 120000, async () => {
    const s = await httpsJson(node.port, '/api/status', certs.caPem);
    return s.ready && s.workers.some((w) => w.name === 'chromium-tls') ? s : undefined;
  });
  h.check(status.plan.stages.length === 1, `the Chromium tab serves the whole plan (${status.plan.stages.length} stage)`);

  // A Node client over wss (?key=) gets the whole model's greedy reply from the tab.
  const fromNode = (await wsGenerate(`wss://127.0.0.1:${node.port}/ws/generate?key=${key}`, certs.caPem, PROMPT, MAX)).tokens;
  h.check(same(fromNode, refs[PROMPT]), `greedy reply served by the https tab equals the whole model (${fromNode.length} tokens)`);

  // A browser client authenticates with the subprotocol (browsers cannot set Authorization on a WebSocket).
  const fromBrowser = await page.evaluate(async ({ url, key: k, prompt, max }) => new Promise((resolve) => {
    const s = new WebSocket(url, ['tessera', `tessera.key.${k}`]);
    const tokens = [];
    s.onopen = () => s.send(JSON.stringify({ prompt, max_tokens: max }));
    s.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if ('token' in m) tokens.push(m.token);
      if (m.done || m.error) { s.close(); resolve({ tokens, protocol: s.protocol, error: m.error }); }
    };
    s.onclose = (ev) => resolve({ tokens, closed: ev.code, reason: ev.reason });
  }), { url: `wss://tessera.test:${node.port}/ws/generate`, key, prompt: PROMPT, max: MAX });
  h.check(fromBrowser.protocol === 'tessera' && same(fromBrowser.tokens, refs[PROMPT]),
          `a browser client with the tessera.key subprotocol is served (${JSON.stringify({ ...fromBrowser, tokens: fromBrowser.tokens.length })})`);

  // Control: plain http from a name that is not loopback.
  plainNode = await h.startNode(tessera, plainConfig, plainDir, { waitReady: false });
  const slow = await browser.context.newPage();
  await slow.goto(`http://tessera.test:${plainNode.port}/?reconnect=0&threads=2&name=plain&memory=160MB`);
  const plain = await until('the plain-http page to report its capabilities', 30000, async () => {
    const threads = await slow.textContent('#wasm-threads');
    return threads && threads !== '—' ? {
      secure: await slow.textContent('#secure-context'), threads: Number(threads),
      reason: await slow.$eval('#slow-reason', (e) => (e.hidden ? '' : e.textContent)),
    } : undefined;
  });
  h.check(plain.secure === 'false' && plain.threads === 1 && /not loopback.*not treat it as a secure context/.test(plain.reason),
          `plain http from tessera.test: secure ${plain.secure}, ${plain.threads} thread, says why: "${plain.reason.slice(0, 90)}..."`);

  await browser.close();
  browser = undefined;
  const code = await h.stopNode(node);
  h.check(code.code === 0, `node exited 0 (${JSON.stringify(code)})`);
  await h.stopNode(plainNode);
  h.removeDir(dir);
  console.log('PASS e2e_browser_tls');
} catch (e) {
  await h.fail(e, dir, { nodes: [node, plainNode], browser });
}
