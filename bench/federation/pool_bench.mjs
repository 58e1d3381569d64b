// The one pool's cost: the same six workers (100 MB each, preset "small")
// served by one node, then pooled across three federated nodes on
// 127.0.0.1 (two local workers each, so the plan crosses nodes), the client
// on a follower (b). Runs ROUNDS greedy prompts of MAX tokens one after
// another on each (after one warm-up) and prints per setup the p50 of each
// reply's ms/token and of the node's overhead ms/token (time outside the
// workers' compute: relays, links, actors), the plan, and the pool/one-node
// ratios from the one run.
//   node bench/federation/pool_bench.mjs build/tessera [ROUNDS] [MAX]
import fs from 'node:fs';
import path from 'node:path';
import * as h from '../../tests/integration/harness.mjs';
import { makeCluster } from '../../tests/integration/federation_cluster.mjs';
import { planText, poolSettled } from '../../tests/integration/federation_pool.mjs';

const [tessera, roundsArg = '5', maxArg = '32'] = process.argv.slice(2);
const ROUNDS = Number(roundsArg);
const MAX = Number(maxArg);
h.watchdog(900000, 'pool_bench');
const dir = h.tmpDir('tessera-pool-bench-');
const modelDir = h.buildModel(tessera, 'small', path.join(dir, 'model'));
const workers = (id) => [{ name: `${id}1`, memory: '100MB' }, { name: `${id}2`, memory: '100MB' }];
const p50 = (xs) => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)];

async function measure(port, label, plan) {
  await h.prompt(tessera, port, 'warm up', { 'max-tokens': MAX });
  const perToken = [];
  const overhead = [];
  for (let i = 0; i < ROUNDS; ++i) {
    const r = await h.prompt(tessera, port, `The quick brown fox ${i}`, { 'max-tokens': MAX });
    perToken.push(r.done.timings.per_token_ms);
    overhead.push(r.done.timings.overhead_ms_per_token);
  }
  const out = { perToken: p50(perToken), overhead: p50(overhead) };
  console.log(`${label.padEnd(28)} ${out.perToken.toFixed(2).padStart(8)} ms/token  overhead ${out.overhead.toFixed(2).padStart(7)} ms/token  plan ${plan}`);
  return out;
}

let single;
const nodes = {};
try {
  // One node holding all six workers.
  const oneDir = path.join(dir, 'one');
  fs.mkdirSync(oneDir, { recursive: true });
  const config = h.writeConfig(oneDir, { modelDir, restart: 'never', workers: ['a', 'b', 'c'].flatMap(workers) });
  single = await h.startNode(tessera, config, oneDir);
  const s = await h.settle(single.port, 'one node serving', 120000, (st) => st.ready && st.workers.length === 6,
                           (st) => st.reason);
  const one = await measure(single.port, 'one node, 6 workers', s.plan.stages.map((st) => `[${st.layers}]`).join(' -> '));
  await h.stopNode(single);
  single = null;

  // The same workers pooled across three nodes; the client at b.
  const ids = ['a', 'b', 'c'];
  const cluster = await makeCluster(tessera, path.join(dir, 'pool'), modelDir, ids, {
    secret: 'pool-bench-secret-0123456789', heartbeatMs: 300, timeoutMs: 1500, pool: true, workers,
  });
  for (const id of ids) cluster.configFor(id, ids.filter((p) => p !== id));
  for (const id of ids) nodes[id] = await cluster.start(id);
  const settled = await poolSettled(nodes, ids, 'a', 6, [], 'the pool settled');
  const pooled = await measure(nodes.b.port, 'pool of 3 nodes, client at b', planText(settled[0]));
  console.log(`pool / one node: ${(pooled.perToken / one.perToken).toFixed(2)}x ms/token, ` +
              `${(pooled.overhead / one.overhead).toFixed(2)}x overhead ms/token`);
  for (const id of ids) await h.stopNode(nodes[id]);
  h.killAll();
  h.removeDir(dir);
} catch (e) {
  await h.fail(e, dir, { nodes: [single, ...Object.values(nodes)].filter(Boolean) });
}
process.exit(0);
