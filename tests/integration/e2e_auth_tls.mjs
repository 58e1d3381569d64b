// TLS and credentials end to end, on 127.0.0.1: `tessera certs` makes a CA and
// a node certificate; the node serves https/wss with it and requires API keys
// ([auth] keys_file) and worker join tokens ([auth] tokens_file).
//  - its local workers join over wss (NODE_EXTRA_CA_CERTS from node.tls_ca, the
//    node's in-memory token) and serve: greedy replies equal the whole model,
//    from `tessera prompt --url wss://... --ca` and from a Node client (?key=);
//  - a client without the CA is refused by certificate verification; plain
//    http to the TLS port gets no answer;
//  - a client without a key and one with a wrong key are refused, naming why;
//  - a worker without a token and one with a wrong token are closed with 1008
//    and the reason; a worker with a token from `tessera tokens add` (--ca)
//    joins, and is disconnected once the token is revoked;
//  - a node told to listen beyond loopback without keys and tokens files
//    refuses to start, naming what is missing (it fails before binding).
//   node e2e_auth_tls.mjs TESSERA_BINARY [PRESET]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import * as h from './harness.mjs';
import { httpsJson, makeCerts, until, wsGenerate } from './tls.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
h.watchdog(300000, 'e2e_auth_tls');
const dir = h.tmpDir('tessera-auth-tls-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const certs = path.join(dir, 'certs');
const run = (...args) => execFileSync(tessera, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
const ca = makeCerts(tessera, certs, ['tessera.test']).caPem;
const keysFile = path.join(dir, 'keys');
const tokensFile = path.join(dir, 'tokens');
const key = run('keys', 'add', 'tester', '--file', keysFile);
const token = run('tokens', 'add', 'lab', '--file', tokensFile);
const config = h.writeConfig(dir, {
  modelDir, workers: [{ name: 'a', memory: '160MB' }],
  node: {
    tls_cert: `"${path.join(certs, 'node.pem')}"`, tls_key: `"${path.join(certs, 'node.key')}"`,
    tls_ca: `"${path.join(certs, 'ca.pem')}"`,
  },
  auth: { keys_file: `"${keysFile}"`, tokens_file: `"${tokensFile}"` },
});
const MAX = 12;
const PROMPT = 'The quick brown fox';
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// Runs a worker.mjs with --ca; resolves its exit code and stderr once it exits.
const workers = [];
const killWorkers = () => { for (const c of workers) try { process.kill(-c.pid, 'SIGKILL'); } catch {} };
process.on('exit', killWorkers);
function worker(url, name) {
  const child = spawn(process.execPath, [path.join(h.repoRoot, 'webworker', 'node', 'worker.mjs'), '--url', url,
                                         '--memory', '160MB', '--threads', '1', '--name', name, '--no-benchmark',
                                         '--flops', '1e9', '--ca', path.join(certs, 'ca.pem'),
                                         '--cache', path.join(dir, `cache-${name}`), '--connect-timeout-ms', '5000'],
                      { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  workers.push(child);
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.on('close', (code) => resolve({ code, err })));
  return { child, exited, log: () => err };
}

const nodeClient = (url, caPem) => wsGenerate(url, caPem, PROMPT, MAX);

let node;
try {
  const openDir = path.join(dir, 'open');
  fs.mkdirSync(openDir);
  const unguarded = spawnSync(tessera, ['node', '--config', h.writeConfig(openDir, { modelDir, workers: [] }),
                                        '--listen', '0.0.0.0:0'], { timeout: 60000 });
  const why = unguarded.stderr.toString();
  h.check(unguarded.status === 1 && /reaches beyond loopback but \[auth\] lacks keys_file and tokens_file/.test(why),
          `a node on 0.0.0.0 without credentials files refuses to start (exit ${unguarded.status}): ${why.trim().split('\n').pop()}`);

  const refs = h.reference(modelDir, MAX, [PROMPT]);
  node = await h.startNode(tessera, config, dir, { waitReady: false });
  const port = node.port;
  // The local worker joined over wss with the node's own token: the plan serves.
  const status = await until('the node to be ready over https', 120000, async () => {
    const s = await httpsJson(port, '/api/status', ca);
    return s.ready ? s : undefined;
  });
  h.check(status.workers.length === 1, `the local worker joined over wss (${status.workers.length} worker)`);
  const log = fs.readFileSync(node.logFile, 'utf8');
  h.check(/join link \(valid while this node runs\): https:\/\/127\.0\.0\.1:\d+\/\?token=tsj_/.test(log),
          'the node prints an https join link carrying a token');

  const untrusted = await httpsJson(port, '/api/status', undefined).then(() => 'accepted', (e) => e.code ?? e.message);
  h.check(untrusted === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || untrusted === 'SELF_SIGNED_CERT_IN_CHAIN',
          `a client that does not trust the CA is refused by verification (${untrusted})`);
  const plain = await new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/api/status', timeout: 3000 }, (res) => resolve(`HTTP ${res.statusCode}`));
    req.on('error', (e) => resolve(e.code ?? e.message));
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
  h.check(!/^HTTP/.test(plain), `plain http to the TLS port gets no HTTP answer (${plain})`);

  // Clients: wss from `tessera prompt` (--ca, --key) and from Node (?key=).
  const cli = await h.prompt(tessera, port, PROMPT, { 'max-tokens': MAX, url: `wss://127.0.0.1:${port}/ws/generate`,
                                                     ca: path.join(certs, 'ca.pem'), key });
  h.check(same(cli.tokens, refs[PROMPT]), `tessera prompt over wss equals the whole model (${cli.tokens.length} tokens)`);
  const viaName = await h.prompt(tessera, port, PROMPT, { 'max-tokens': MAX, url: `wss://localhost:${port}/ws/generate`,
                                                         ca: path.join(certs, 'ca.pem'), key });
  h.check(same(viaName.tokens, refs[PROMPT]), 'the certificate also names localhost');
  const fromNode = await nodeClient(`wss://127.0.0.1:${port}/ws/generate?key=${key}`, ca);
  h.check(same(fromNode.tokens, refs[PROMPT]), `a Node client over wss (?key=) equals the whole model`);
  const noKey = await nodeClient(`wss://127.0.0.1:${port}/ws/generate`, ca);
  h.check(noKey.code === 'invalid_api_key' && /missing API key/.test(noKey.error),
          `a client without a key is refused: ${JSON.stringify(noKey)}`);
  const badKey = await nodeClient(`wss://127.0.0.1:${port}/ws/generate?key=tsk_00000000_${'0'.repeat(40)}`, ca);
  h.check(badKey.code === 'invalid_api_key' && /invalid API key/.test(badKey.error),
          `a client with a wrong key is refused: ${JSON.stringify(badKey)}`);
  const cliNoKey = await h.prompt(tessera, port, PROMPT, { url: `wss://127.0.0.1:${port}/ws/generate`,
                                                          ca: path.join(certs, 'ca.pem') }).catch((e) => e);
  h.check(cliNoKey instanceof Error && /missing API key/.test(cliNoKey.message), 'tessera prompt without a key names why');

  // Workers: no token, a wrong token, then a valid one that is revoked.
  const url = `wss://127.0.0.1:${port}/ws/worker`;
  const noToken = await worker(url, 'no-token').exited;
  h.check(noToken.code === 1 && /code=1008 reason=missing join token/.test(noToken.err),
          `a worker without a token is closed with 1008 and the reason (exit ${noToken.code})`);
  const badToken = await worker(`${url}?token=tsj_00000000_${'0'.repeat(40)}`, 'bad-token').exited;
  h.check(badToken.code === 1 && /code=1008 reason=invalid join token/.test(badToken.err),
          `a worker with a wrong token is closed with 1008 and the reason (exit ${badToken.code})`);
  const good = worker(`${url}?token=${token}`, 'lab-worker');
  await until('the worker with a join token to be listed', 30000, async () =>
    (await httpsJson(port, '/api/status', ca)).workers.some((w) => w.name === 'lab-worker'));
  h.check(true, 'a worker with a join token from `tessera tokens add` joins over wss (--ca)');
  run('tokens', 'revoke', 'lab', '--file', tokensFile);
  const gone = await Promise.race([good.exited, new Promise((r) => setTimeout(() => r(undefined), 15000))]);
  h.check(gone && /code=1008 reason=join token revoked/.test(gone.err),
          `revoking the token disconnects its worker (${gone ? gone.err.split('\n').filter((l) => /closed/.test(l)).join(' ') : 'still connected'})`);
  await until('the revoked worker to leave the status', 15000, async () =>
    !(await httpsJson(port, '/api/status', ca)).workers.some((w) => w.name === 'lab-worker'));
  const still = await nodeClient(`wss://127.0.0.1:${port}/ws/generate?key=${key}`, ca);
  h.check(same(still.tokens, refs[PROMPT]), 'the node keeps serving after the revocation');

  const code = await h.stopNode(node);
  h.check(code.code === 0, `node exited 0 (${JSON.stringify(code)})`);
  h.removeDir(dir);
  console.log('PASS e2e_auth_tls');
} catch (e) {
  killWorkers();
  await h.fail(e, dir, { nodes: [node] });
}
