// Browser workers: two headless Chromium pages (the real worker page, ORT-web
// WASM) plus one node worker form the pipeline (none of them can hold the model
// alone) and produce exactly the tokens of the whole model in onnxruntime-node;
// each page shows the layer range it serves. Then re-plans: the node worker is
// killed and a spare joins; each page's Re-plans list must show every plan that
// starts serving with the version and reason /api/status lists under `replans`,
// and what each serving worker now holds.
//   node e2e_browser.mjs TESSERA_BINARY [PRESET]
import path from 'node:path';
import * as h from './harness.mjs';

const [tessera, preset = 'small'] = process.argv.slice(2);
const { launchBrowser, haveChromium } = await import(path.join(h.repoRoot, 'webworker', 'testing', 'chromium.mjs'));
if (!haveChromium()) {
  console.log('SKIP: no Chromium');
  process.exit(0);
}
h.watchdog(600000, 'e2e_browser');
const dir = h.tmpDir('tessera-browser-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const config = h.writeConfig(dir, { modelDir, restart: 'never', workers: [{ name: 'node-worker', memory: '90MB' }] });
const MAX = 12;
const prompts = ['The quick brown fox', 'Hello, world'];

let node;
let browser;

// A page's Re-plans list, newest first: [{version, text}].
const pageNews = (page) => page.$$eval('#replans li', (lis) =>
  lis.map((li) => ({ version: Number(li.dataset.version), text: li.textContent })));

// Polls (bounded) until the node is ready on a settled plan that satisfies `pred`
// and the page's newest re-plan is that plan; resolves { status, entries }.
async function pageAgrees(port, page, what, ms, pred = () => true) {
  const deadline = Date.now() + ms;
  let last = '';
  for (;;) {
    const status = await h.getJson(port, '/api/status');
    const entries = await pageNews(page);
    if (status.ready && !status.migration && pred(status) && entries[0]?.version === status.plan_version)
      return { status, entries };
    last = `node v${status.plan_version} ready=${status.ready}, page [${entries.map((e) => e.version).join(', ')}]`;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} (${last})`);
    await new Promise((r) => setTimeout(r, 200));  // poll interval, not a synchronisation
  }
}

// The page's line for the serving plan gives the reason the node's `replans`
// history gives that version, and every serving stage as /api/status has it.
async function checkNews(name, page, status, entries) {
  const v = status.plan_version;
  const line = entries.find((e) => e.version === v)?.text ?? '';
  const at = line.indexOf(`plan v${v}`);
  h.check(at >= 0, `page ${name} lists plan v${v}: "${line}"`);
  const parts = line.slice(at).split(' · ');
  const why = parts[0].startsWith(`plan v${v} — `) ? parts[0].slice(`plan v${v} — `.length) : '';
  const history = status.replans.find((l) => l.startsWith(`v${v} (`));
  h.check(why !== '' && history !== undefined && history.startsWith(`v${v} (${why}):`),
    `page ${name}: plan v${v}'s reason "${why}" is the node's ("${history}")`);
  const me = (await page.textContent('#worker-id')).trim();
  for (const w of status.workers.filter((x) => x.layers)) {
    const who = String(w.id) === me ? 'you' : `worker ${w.id} (${w.name})`;
    const range = `[${w.layers[0]},${w.layers[1]})`;
    const part = parts.find((p) => p.startsWith(`${who}: `)) ?? '';
    h.check(part.endsWith(` ${range}`) && /^(new|kept|\[\d+,\d+\) →) /.test(part.slice(who.length + 2)),
      `page ${name} shows "${part}" for ${who} serving ${range} in v${v}`);
  }
}

// When the page heard of no plan between `prev` and `next` (both /api/status
// snapshots of a serving plan), its line for `next` must say what moved from
// `prev`: kept / new / [old) → [new) for each stage, and the workers dropped.
async function checkMoves(name, page, prev, next, entries) {
  const i = entries.findIndex((e) => e.version === next.plan_version);
  if (entries[i + 1]?.version !== prev.plan_version) {
    console.log(`# page ${name}: plans between v${prev.plan_version} and v${next.plan_version}; moves not compared`);
    return;
  }
  const parts = entries[i].text.split(' · ');
  const me = (await page.textContent('#worker-id')).trim();
  const label = (w) => (String(w.id) === me ? 'you' : `worker ${w.id} (${w.name})`);
  const was = new Map(prev.workers.filter((w) => w.layers).map((w) => [w.id, w]));
  for (const w of next.workers.filter((x) => x.layers)) {
    const old = was.get(w.id);
    const range = `[${w.layers[0]},${w.layers[1]})`;
    const want = !old ? `new ${range}`
      : old.layers[0] === w.layers[0] && old.layers[1] === w.layers[1] ? `kept ${range}`
        : `[${old.layers[0]},${old.layers[1]}) → ${range}`;
    h.check(parts.includes(`${label(w)}: ${want}`), `page ${name}, v${next.plan_version}: "${label(w)}: ${want}" (line: ${entries[i].text})`);
  }
  const gone = [...was.values()].filter((w) => !next.workers.some((x) => x.id === w.id && x.layers));
  if (gone.length) {
    const want = gone.map(label).sort();
    const shown = (parts.find((p) => p.startsWith('dropped: ')) ?? 'dropped: ').slice(9).split(', ').sort();
    h.check(JSON.stringify(shown) === JSON.stringify(want), `page ${name}, v${next.plan_version}: dropped ${want.join(', ')} (shown: ${shown.join(', ')})`);
  }
}

try {
  const refs = h.reference(modelDir, MAX, prompts);
  node = await h.startNode(tessera, config, dir, { waitReady: false });
  browser = await launchBrowser();
  const pages = [];
  for (const [name, memory] of [['chromium-1', '160MB'], ['chromium-2', '120MB']]) {
    const page = await browser.context.newPage();
    await page.goto(`http://127.0.0.1:${node.port}/?reconnect=0&threads=1&name=${name}&memory=${memory}`);
    pages.push({ name, page });
  }
  const status = await h.waitStatus(node.port, 'a plan over the browser and node workers', 240000, (s) => s.ready);
  const served = status.workers.filter((w) => w.layers);
  h.check(served.length === 3, `three workers serve: ${served.map((w) => `${w.name} (${w.device}) [${w.layers[0]},${w.layers[1]})`).join(', ')}`);
  h.check(served.filter((w) => w.device === 'wasm' || w.device === 'webgpu').length === 2, 'two of them are browser workers');
  for (const { name, page } of pages) {
    const w = status.workers.find((x) => x.name === name);
    const shown = (await page.textContent('#layers')).trim();
    h.check(shown === `${w.layers[0]}–${w.layers[1]}`, `page ${name} shows its layer range "${shown}"`);
  }
  for (const p of prompts) {
    const r = await h.prompt(tessera, node.port, p, { 'max-tokens': MAX });
    h.check(JSON.stringify(r.tokens) === JSON.stringify(refs[p]), `greedy "${p}" through the browsers equals the whole model (${r.tokens.length} tokens)`);
  }

  // ---- re-plans on the worker page ----
  // The plan serving now was announced to every page when it started serving.
  let before;
  for (const { name, page } of pages) {
    const { status: s, entries } = await pageAgrees(node.port, page, `page ${name} to list the serving plan`, 60000);
    await checkNews(name, page, s, entries);
    before = s;
  }

  // Lose the node worker, let a spare join: a new plan must start serving and reach the pages.
  const lost = before.workers.find((w) => w.name === 'node-worker');
  h.check(lost?.layers !== undefined, `node-worker (id ${lost?.id}) serves [${lost?.layers}] in v${before.plan_version} before the kill`);
  process.kill(h.workerPid(node.child.pid, 'node-worker'), 'SIGKILL');
  h.startWorker(node.port, 'spare', '200MB', path.join(dir, 'spare-cache'));
  for (const { name, page } of pages) {
    const { status: s, entries } = await pageAgrees(node.port, page, `page ${name} to list a plan without node-worker`, 300000,
      (x) => x.plan_version > before.plan_version && !x.workers.some((w) => w.name === 'node-worker') &&
             x.workers.some((w) => w.name === 'spare'));
    console.log(`# node re-plans: ${JSON.stringify(s.replans.slice(-3))}`);
    console.log(`# page ${name}: ${entries.slice(0, 3).map((e) => e.text).join(' | ')}`);
    await checkNews(name, page, s, entries);
    await checkMoves(name, page, before, s, entries);
    const named = new RegExp(`worker ${lost.id}\\b`);
    h.check(entries.some((e) => e.version > before.plan_version && named.test(e.text)),
      `page ${name} lists a re-plan after v${before.plan_version} that names the lost worker ${lost.id}`);
  }
  const again = await h.prompt(tessera, node.port, prompts[0], { 'max-tokens': MAX });
  h.check(JSON.stringify(again.tokens) === JSON.stringify(refs[prompts[0]]), `greedy "${prompts[0]}" after the re-plan still equals the whole model`);
  // The workers' own counts (Heartbeat.sequences, browser and node alike) reach
  // /api/status and agree with the node's KV ledger once the requests are done.
  const counted = await h.waitStatus(node.port, 'worker-reported KV sequences equal to the ledger', 30000,
    (s) => s.workers.every((w) => w.worker_kv_sequences !== undefined && w.worker_kv_sequences === w.kv_sequences));
  console.log(`ok - worker-reported sequences (reported/ledger) after the requests: ${counted.workers.map((w) => `${w.name}=${w.worker_kv_sequences}/${w.kv_sequences}`).join(', ')}`);

  await browser.close();
  browser = null;
  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, 'the node stops cleanly');
  node = null;
  h.removeDir(dir);
  console.log('PASS e2e_browser');
} catch (e) {
  await h.fail(e, dir, { nodes: [node], browser });
}
process.exit(0);
