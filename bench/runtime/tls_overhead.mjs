// TLS cost on the token path: the same model and three local node workers,
// once with a plain node (ws://) and once with TLS (wss:// between the node
// and its workers, and to the client), alternating runs so both see the same
// machine load. Prints per-token wall time and orchestration overhead
// (wall − worker compute) for each, and the TLS/plain ratios.
//   node bench/runtime/tls_overhead.mjs build/tessera [PRESET] [RUNS]
import fs from 'node:fs';
import path from 'node:path';
import * as h from '../../tests/integration/harness.mjs';
import { httpsJson, makeCerts, until, wsGenerate } from '../../tests/integration/tls.mjs';

const [tessera, preset = 'small', runsArg = '3'] = process.argv.slice(2);
const RUNS = Number(runsArg);
const MAX = 64;
const PROMPT = 'The quick brown fox';
h.watchdog(900000, 'tls_overhead');
const dir = h.tmpDir('tessera-tls-bench-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const certs = makeCerts(tessera, path.join(dir, 'certs'));
const weights = fs.statSync(path.join(modelDir, 'model.onnx.data')).size;
const mb = (f) => `${Math.round((weights * f) / 1e6 + 100)}MB`;
const workers = [{ name: 'a', memory: mb(0.5) }, { name: 'b', memory: mb(0.4) }, { name: 'c', memory: mb(0.35) }];

async function start(kind) {
  const sub = path.join(dir, kind);
  fs.mkdirSync(sub, { recursive: true });
  const tls = kind === 'tls';
  const config = h.writeConfig(sub, {
    modelDir, workers,
    node: tls ? { tls_cert: `"${certs.cert}"`, tls_key: `"${certs.key}"`, tls_ca: `"${certs.ca}"` } : {},
  });
  const node = await h.startNode(tessera, config, sub, { waitReady: false });
  await until(`the ${kind} node to be ready`, 120000, async () =>
    (tls ? await httpsJson(node.port, '/api/status', certs.caPem) : await h.getJson(node.port, '/api/status')).ready);
  node.url = `${tls ? 'wss' : 'ws'}://127.0.0.1:${node.port}/ws/generate`;
  return node;
}

// One greedy request's final timings (per_token_ms, overhead_ms_per_token).
async function timed(node) {
  const r = await wsGenerate(node.url, certs.caPem, PROMPT, MAX);
  if (!r.timings) throw new Error(`${node.url}: ${JSON.stringify(r)}`);
  return r.timings;
}

const nodes = {};
try {
  nodes.plain = await start('plain');
  nodes.tls = await start('tls');
  const warm = await wsGenerate(nodes.tls.url, certs.caPem, PROMPT, MAX);
  h.check(warm.tokens?.length > 0, 'warm-up over wss');
  await wsGenerate(nodes.plain.url, undefined, PROMPT, MAX);
  const sums = { plain: { wall: 0, overhead: 0 }, tls: { wall: 0, overhead: 0 } };
  for (let i = 0; i < RUNS; ++i) {
    for (const kind of ['plain', 'tls']) {
      const t = await timed(nodes[kind]);
      sums[kind].wall += t.per_token_ms;
      sums[kind].overhead += t.overhead_ms_per_token;
    }
  }
  const avg = (k, f) => sums[k][f] / RUNS;
  console.log(`preset ${preset}, ${MAX} tokens, ${RUNS} alternating runs, stages ${(await h.getJson(nodes.plain.port, '/api/status')).plan.stages.length}`);
  console.log('| node | ms/token | overhead ms/token |');
  console.log('|---|---|---|');
  for (const k of ['plain', 'tls']) console.log(`| ${k} | ${avg(k, 'wall').toFixed(2)} | ${avg(k, 'overhead').toFixed(3)} |`);
  console.log(`TLS/plain: ms/token ${(avg('tls', 'wall') / avg('plain', 'wall')).toFixed(3)}, overhead ${(avg('tls', 'overhead') / avg('plain', 'overhead')).toFixed(3)}`);
  for (const n of Object.values(nodes)) await h.stopNode(n);
  h.removeDir(dir);
} catch (e) {
  await h.fail(e, dir, { nodes: Object.values(nodes) });
}
