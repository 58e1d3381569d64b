// Three federated `tessera node` processes on 127.0.0.1 with [federation]
// pool = true and two local workers each that cannot hold the model alone:
// the leader plans over all six workers, the plan crosses nodes, a prompt at
// any node equals the whole model in onnxruntime-node (greedy) and a seeded
// sampling run gives the same tokens at every node. Then a follower that
// serves a stage is SIGKILLed mid-generation: the leader re-plans over the
// survivors and the requests whose clients are on surviving nodes finish with
// the fault-free tokens. The follower restarts and rejoins the pool; then the
// leader is SIGKILLed mid-generation: the next leader plans over the
// survivors' workers at a higher epoch and the requests on the survivors
// finish with the fault-free tokens. Last, the node left alone (no majority)
// tells its client {status: "queued", reason: "no federation leader reachable"}.
//   node e2e_federation_pool.mjs TESSERA_BINARY [PRESET]
import path from 'node:path';
import * as h from './harness.mjs';
import { makeCluster } from './federation_cluster.mjs';
import { planText, pool, poolSettled, queuedReason, stageNodes, underFault } from './federation_pool.mjs';

const [tessera, preset = 'small'] = process.argv.slice(2);
h.watchdog(900000, 'e2e_federation_pool');
const dir = h.tmpDir('tessera-fedpool-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const ids = ['a', 'b', 'c'];
const MAX = 16;
const prompts = ['The quick brown fox', 'Hello, world', 'zzz'];
const nodes = {};

try {
  const refs = h.reference(modelDir, MAX, prompts);
  const cluster = await makeCluster(tessera, dir, modelDir, ids, {
    secret: 'pool-test-secret-0123456789', heartbeatMs: 300, timeoutMs: 1500, pool: true,
    workers: (id) => [{ name: `${id}1`, memory: '100MB' }, { name: `${id}2`, memory: '100MB' }],
  });
  for (const id of ids) cluster.configFor(id, ids.filter((p) => p !== id));
  for (const id of ids) nodes[id] = await cluster.start(id);
  const kill = (id) => () => {
    process.kill(-nodes[id].child.pid, 'SIGKILL');
    nodes[id] = null;
  };

  // 1. One pool: a leads, plans over six workers, the plan crosses nodes.
  const settled = await poolSettled(nodes, ids, 'a', 6, [], 'a cross-node plan over all six workers');
  for (const s of settled) {
    h.check(JSON.stringify(Object.keys(pool(s).workers).sort()) === '["a","b","c"]',
            `node ${s.federation.id} shows two workers per node: ${JSON.stringify(pool(s).workers)}`);
    h.check(s.plan.stages.every((st) => typeof st.node === 'string'), `node ${s.federation.id} shows each stage's node`);
  }
  console.log(`# plan: ${planText(settled[0])}`);

  // 2. Any node serves: greedy prompts at each node equal the whole model.
  for (const id of ids) {
    const runs = await Promise.all(prompts.map((p) => h.prompt(tessera, nodes[id].port, p, { 'max-tokens': MAX })));
    runs.forEach((r, i) => h.check(JSON.stringify(r.tokens) === JSON.stringify(refs[prompts[i]]),
                                   `at node ${id}: "${prompts[i]}" equals the whole model (${r.tokens.length} tokens)`));
  }
  const sampling = { 'max-tokens': MAX, temperature: 0.9, 'top-k': 40, 'top-p': 0.95, seed: 4321 };
  const seeded = await Promise.all(ids.map((id) => h.prompt(tessera, nodes[id].port, 'Once upon a time', sampling)));
  h.check(seeded.every((r) => r.tokens.length > 0 && JSON.stringify(r.tokens) === JSON.stringify(seeded[0].tokens)),
          `a seeded sampling run gives the same ${seeded[0].tokens.length} tokens at a, b and c`);

  // 3. A follower that serves a stage is SIGKILLed mid-generation (with its workers).
  const victim = stageNodes(settled[0]).find((n) => n !== 'a');
  h.check(victim !== undefined, `a follower serves a stage (${victim})`);
  const survivors = ids.filter((id) => id !== victim);
  const ms = await underFault(tessera, nodes, survivors, prompts, MAX, refs, `node ${victim} SIGKILLed`, kill(victim));
  console.log(`# ${ms} ms from killing ${victim} to the end of the runs`);
  const after = await poolSettled(nodes, survivors, 'a', 4, [victim], `a re-plan without node ${victim}`);
  console.log(`# plan after the loss: ${planText(after[0])}; replans: ${after[0].replans.slice(-2).join(' | ')}`);
  const again = await h.prompt(tessera, nodes[survivors[1]].port, 'Once upon a time', sampling);
  h.check(JSON.stringify(again.tokens) === JSON.stringify(seeded[0].tokens),
          `the seeded run at ${survivors[1]} after the loss repeats the tokens of before`);

  // 4. The follower comes back and rejoins the pool as a follower.
  nodes[victim] = await cluster.start(victim);
  const back = await poolSettled(nodes, ids, 'a', 6, [], `node ${victim} rejoining the pool`);
  h.check(Object.keys(pool(back[0]).workers).includes(victim), `node ${victim}'s workers are in the pool again`);
  const epochBefore = pool(back[0]).epoch;

  // 5. The leader is SIGKILLed mid-generation: b leads at a higher epoch over b's and c's workers.
  const msLeader = await underFault(tessera, nodes, ['b', 'c'], prompts, MAX, refs, 'the leader a SIGKILLed', kill('a'));
  console.log(`# ${msLeader} ms from killing the leader to the end of the runs`);
  const led = await poolSettled(nodes, ['b', 'c'], 'b', 4, ['a'], 'b leading after a died');
  h.check(pool(led[0]).epoch > epochBefore, `the new leader's epoch ${pool(led[0]).epoch} is above ${epochBefore}`);
  console.log(`# plan of the new leader: ${planText(led[0])}`);

  // 6. c dies too: b alone has no majority, so no leader; its client is told why it waits.
  kill('c')();
  const queued = await queuedReason(tessera, ['prompt', '--json', '--url', `ws://127.0.0.1:${nodes.b.port}/ws/generate`,
                                              '--max-tokens', '4', 'anyone there?']);
  h.check(queued === 'no federation leader reachable', `a prompt at b (alone) is queued: "${queued}"`);
  const alone = await h.waitStatus(nodes.b.port, 'b without a leader', 30000,
                                   (s) => !s.ready && s.reason === 'no federation leader reachable');
  h.check(alone.federation.pool === null && alone.federation.leader === null, 'b shows no leader and no pool');

  const stopped = await h.stopNode(nodes.b);
  h.check(stopped.code === 0, 'node b stops cleanly (SIGTERM)');
  nodes.b = null;
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_federation_pool');
} catch (e) {
  await h.fail(e, dir, { nodes: Object.values(nodes).filter(Boolean) });
}
process.exit(0);
