// Runtime benchmark: orchestrator overhead per token (time outside worker
// compute: actor hops, protobuf, WebSocket relay), µs per hop, distributed vs
// whole-model tokens/s, and 8-stream aggregate vs single stream. Ratios come
// from one run on one machine. Not a ctest (never gated on time).
//   node bench/runtime/bench_runtime.mjs BUILD/tessera [PRESET ...]   (default: small medium)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as h from '../../tests/integration/harness.mjs';

const [tessera, ...presetArgs] = process.argv.slice(2);
const presets = presetArgs.length ? presetArgs : ['small', 'medium'];
const TOKENS = 64;
const PROMPT = 'The orchestrator relays activations along the pipeline';
h.watchdog(1800000, 'bench_runtime');

function mean(xs) { return xs.reduce((a, b) => a + b, 0) / xs.length; }

const rows = [];
for (const preset of presets) {
  const dir = h.tmpDir(`tessera-bench-${preset}-`);
  const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
  // Budgets of 50% / 40% / 35% of the weights (+100 MB): no worker holds the
  // model alone, so the plan has three stages.
  const data = fs.statSync(path.join(modelDir, 'model.onnx.data')).size;
  const mb = (f) => `${Math.round((f * data) / 1e6) + 100}MB`;
  const config = h.writeConfig(dir, {
    modelDir, context: 512,
    workers: [{ name: 'w1', memory: mb(0.5) }, { name: 'w2', memory: mb(0.4) }, { name: 'w3', memory: mb(0.35) }],
  });
  const whole = JSON.parse(execFileSync(process.execPath, [path.join(h.repoRoot, 'bench', 'runtime', 'whole_model.mjs'),
                                                           modelDir, String(TOKENS), PROMPT]).toString());
  const node = await h.startNode(tessera, config, dir);
  const stages = node.status.plan.stages.length;
  await h.prompt(tessera, node.port, PROMPT, { 'max-tokens': 8 });  // warm-up
  const single = [];
  for (let i = 0; i < 3; ++i) single.push((await h.prompt(tessera, node.port, PROMPT, { 'max-tokens': TOKENS })).done.timings);
  const perToken = mean(single.map((t) => t.per_token_ms));
  const overhead = mean(single.map((t) => t.overhead_ms_per_token));
  const compute = mean(single.map((t) => t.compute_ms_per_token));
  const t0 = performance.now();
  const many = await Promise.all(Array.from({ length: 8 }, () => h.prompt(tessera, node.port, PROMPT, { 'max-tokens': TOKENS })));
  const wall = (performance.now() - t0) / 1000;
  const aggregate = many.reduce((a, r) => a + r.tokens.length, 0) / wall;
  const singleRate = 1000 / perToken;
  await h.stopNode(node);
  h.removeDir(dir);
  rows.push({
    preset, stages, per_token_ms: perToken, compute_ms: compute, overhead_ms: overhead,
    overhead_share: overhead / perToken, us_per_hop: (overhead * 1000) / stages,
    whole_per_token_ms: whole.per_token_ms, distributed_vs_whole: whole.per_token_ms / perToken,
    aggregate_tps: aggregate, single_tps: singleRate, aggregate_vs_single: aggregate / singleRate,
  });
}
console.log(`# ${os.cpus().length} CPUs (${os.cpus()[0].model}), load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; ` +
            `${TOKENS} tokens per stream, workers with 1 ORT thread each, whole model with 1 thread`);
console.log('| preset | stages | ms/token (3 workers) | worker compute ms | overhead ms | overhead share | µs/hop | whole-model ms/token | distributed/whole tokens/s | 8-stream tok/s | 8-stream/single |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows)
  console.log(`| ${r.preset} | ${r.stages} | ${r.per_token_ms.toFixed(2)} | ${r.compute_ms.toFixed(2)} | ${r.overhead_ms.toFixed(3)} | ` +
              `${(100 * r.overhead_share).toFixed(1)}% | ${r.us_per_hop.toFixed(0)} | ${r.whole_per_token_ms.toFixed(2)} | ` +
              `${r.distributed_vs_whole.toFixed(2)} | ${r.aggregate_tps.toFixed(1)} | ${r.aggregate_vs_single.toFixed(2)} |`);
process.exit(0);
