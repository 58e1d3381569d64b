// End to end: the real `tessera node` with three local node workers of unequal
// memory on 127.0.0.1. Greedy replies equal the whole model run in
// onnxruntime-node; a seeded sampling run repeats exactly; 8 concurrent clients
// each get their sequential reply; SIGTERM stops the node and its workers.
//   node e2e_node_workers.mjs TESSERA_BINARY [PRESET]
import path from 'node:path';
import * as h from './harness.mjs';

const [tessera, preset = 'small'] = process.argv.slice(2);
h.watchdog(600000, 'e2e_node_workers');
const dir = h.tmpDir('tessera-e2e-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const config = h.writeConfig(dir, {
  modelDir,
  workers: [{ name: 'big', memory: '160MB' }, { name: 'mid', memory: '120MB' }, { name: 'small', memory: '90MB' }],
});
const MAX = 24;
const prompts = ['The quick brown fox', 'Hello, world', 'Tessera runs models on many machines', 'a', '0123456789'];

let node;
try {
  const refs = h.reference(modelDir, MAX, prompts);
  node = await h.startNode(tessera, config, dir);
  const stages = node.status.plan.stages;
  h.check(node.status.workers.length === 3, `three workers joined (${node.status.workers.map((w) => w.name).join(', ')})`);
  h.check(stages.length >= 1, `plan: ${stages.map((s) => `worker ${s.worker} [${s.layers[0]},${s.layers[1]})`).join(' ')}`);
  const workerPids = h.childPids(node.child.pid);
  h.check(workerPids.length === 3, `the node started 3 worker processes (${workerPids.join(' ')})`);

  const sequential = {};
  for (const p of prompts) {
    const r = await h.prompt(tessera, node.port, p, { 'max-tokens': MAX });
    sequential[p] = r.tokens;
    h.check(JSON.stringify(r.tokens) === JSON.stringify(refs[p]),
            `greedy "${p}" equals the whole model (${r.tokens.length} tokens)`);
    h.check(r.done.done === true && r.done.usage.completion_tokens === r.tokens.length, `"${p}" ends with done and usage`);
  }

  const sampling = { 'max-tokens': MAX, temperature: 0.9, 'top-k': 40, 'top-p': 0.95, seed: 1234 };
  const s1 = await h.prompt(tessera, node.port, 'Once upon a time', sampling);
  const s2 = await h.prompt(tessera, node.port, 'Once upon a time', sampling);
  h.check(s1.tokens.length > 0 && JSON.stringify(s1.tokens) === JSON.stringify(s2.tokens),
          `a seeded sampling run repeats exactly (${s1.tokens.length} tokens)`);
  const s3 = await h.prompt(tessera, node.port, 'Once upon a time', { ...sampling, seed: 99 });
  console.log(`# another seed gives ${JSON.stringify(s3.tokens) === JSON.stringify(s1.tokens) ? 'the same' : 'different'} tokens`);

  const concurrent = [];
  for (let i = 0; i < 8; ++i) concurrent.push(prompts[i % prompts.length]);
  const results = await Promise.all(concurrent.map((p) => h.prompt(tessera, node.port, p, { 'max-tokens': MAX })));
  results.forEach((r, i) => h.check(JSON.stringify(r.tokens) === JSON.stringify(sequential[concurrent[i]]),
                                    `concurrent client ${i} equals its sequential reply`));

  const bad = await h.prompt(tessera, node.port, 'x'.repeat(400), { 'max-tokens': 4 }).then(() => null, (e) => e.message);
  h.check(bad && bad.includes('context'), 'a prompt longer than the context is a clear error');

  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, `SIGTERM stops the node cleanly (exit ${stopped.code}, signal ${stopped.signal})`);
  const left = workerPids.filter(h.alive);
  h.check(left.length === 0, 'no local worker process is left');
  node = null;
  h.removeDir(dir);
  console.log('PASS e2e_node_workers');
} catch (e) {
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
