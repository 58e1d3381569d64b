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
import { spawn } from 'node:child_process';
import path from 'node:path';
import * as h from './harness.mjs';
import { makeCluster } from './federation_cluster.mjs';

const [tessera, preset = 'small'] = process.argv.slice(2);
h.watchdog(900000, 'e2e_federation_pool');
const dir = h.tmpDir('tessera-fedpool-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const ids = ['a', 'b', 'c'];
const MAX = 16;
const prompts = ['The quick brown fox', 'Hello, world', 'zzz'];
const nodes = {};
const live = () => Object.values(nodes).filter(Boolean);
const pool = (s) => s.federation && s.federation.pool;
const stageNodes = (s) => (pool(s) ? pool(s).stages.map((st) => st.node) : []);
const describe = (s) => (pool(s) ? `${s.federation.id}: leader ${pool(s).leader} epoch ${pool(s).epoch} ready ${s.ready} ` +
  `workers ${JSON.stringify(pool(s).workers)} stages ${JSON.stringify(pool(s).stages)} reason ${s.reason}` : `${s.federation?.id}: no pool (${s.reason})`);

// Resolves when every node in `which` shows the same ready cross-node plan led by `leader`
// over `workers` workers, none of them on a node in `gone`.
async function poolSettled(which, leader, workers, gone, what) {
  const deadline = Date.now() + 240000;
  for (;;) {
    const all = await Promise.all(which.map((id) => h.getJson(nodes[id].port, '/api/status').catch(() => undefined)));
    const ok = all.every((s) => s && s.ready && pool(s) && pool(s).leader === leader &&
      Object.values(pool(s).workers).flat().length === workers && new Set(stageNodes(s)).size >= 2 &&
      stageNodes(s).every((n) => !gone.includes(n)) &&
      JSON.stringify(pool(s).stages) === JSON.stringify(pool(all[0]).stages));
    if (ok) return all;
    if (Date.now() > deadline)
      throw new Error(`${what}: not reached (${all.map((s) => (s ? describe(s) : 'no status')).join('; ')})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Runs every prompt at each node of `at`; once 3 tokens have streamed in,
// SIGKILLs node `victim` (with its workers). Every run must equal the fault-free tokens.
async function killUnderLoad(victim, at, refs) {
  let streamed = 0;
  let killedAt = 0;
  const runs = await Promise.all(at.flatMap((id) => prompts.map((p) =>
    h.promptStream(tessera, nodes[id].port, p, { 'max-tokens': MAX }, (m) => {
      if ('token' in m && ++streamed === 3) {
        killedAt = Date.now();
        process.kill(-nodes[victim].child.pid, 'SIGKILL');
      }
    }).then((r) => ({ id, p, r })))));
  h.check(killedAt > 0, `node ${victim} was killed while requests were generating`);
  for (const { id, p, r } of runs)
    h.check(JSON.stringify(r.tokens) === JSON.stringify(refs[p]),
            `after node ${victim} died: "${p}" at node ${id} equals the fault-free run (rebuilt ${r.done.timings.replays})`);
  console.log(`# ${Date.now() - killedAt} ms from killing ${victim} to the end of the runs`);
  nodes[victim] = null;
}

// Sends a prompt to `port` and resolves with the reason of the first "queued"
// status it is told (then stops the client); bounded.
function queuedReason(port) {
  return new Promise((resolve, reject) => {
    const child = spawn(tessera, ['prompt', '--json', '--url', `ws://127.0.0.1:${port}/ws/generate`,
                                  '--timeout-ms', '60000', '--max-tokens', '4', 'anyone there?'],
                        { stdio: ['ignore', 'pipe', 'ignore'] });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('no queued status within 30 s')); }, 30000);
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      for (let nl; (nl = buf.indexOf('\n')) >= 0; buf = buf.slice(nl + 1)) {
        const m = JSON.parse(buf.slice(0, nl));
        if (m.status === 'queued') {
          clearTimeout(timer);
          child.kill('SIGKILL');
          resolve(m.reason);
        } else if ('token' in m) {
          clearTimeout(timer);
          child.kill('SIGKILL');
          reject(new Error(`b served a token without a leader: ${JSON.stringify(m)}`));
        }
      }
    });
  });
}

try {
  const refs = h.reference(modelDir, MAX, prompts);
  const cluster = await makeCluster(tessera, dir, modelDir, ids, {
    secret: 'pool-test-secret-0123456789', heartbeatMs: 300, timeoutMs: 1500, pool: true,
    workers: (id) => [{ name: `${id}1`, memory: '100MB' }, { name: `${id}2`, memory: '100MB' }],
  });
  for (const id of ids) cluster.configFor(id, ids.filter((p) => p !== id));
  for (const id of ids) nodes[id] = await cluster.start(id);

  // 1. One pool: a leads, plans over six workers, the plan crosses nodes.
  const settled = await poolSettled(ids, 'a', 6, [], 'a cross-node plan over all six workers');
  for (const s of settled) {
    h.check(JSON.stringify(Object.keys(pool(s).workers).sort()) === '["a","b","c"]',
            `node ${s.federation.id} shows two workers per node: ${JSON.stringify(pool(s).workers)}`);
    h.check(s.plan.stages.every((st) => typeof st.node === 'string'), `node ${s.federation.id} shows each stage's node`);
  }
  console.log(`# plan: ${pool(settled[0]).stages.map((s) => `${s.node}/${s.worker} [${s.layers}]`).join(' -> ')}`);

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
  const seededBy = seeded[0].tokens;

  // 3. A follower that serves a stage is SIGKILLed mid-generation (with its workers).
  const victim = stageNodes(settled[0]).find((n) => n !== 'a');
  h.check(victim !== undefined, `a follower serves a stage (${victim})`);
  const survivors = ids.filter((id) => id !== victim);
  await killUnderLoad(victim, survivors, refs);
  const after = await poolSettled(survivors, 'a', 4, [victim], `a re-plan without node ${victim}`);
  console.log(`# plan after the loss: ${pool(after[0]).stages.map((s) => `${s.node}/${s.worker} [${s.layers}]`).join(' -> ')}; ` +
              `replans: ${after[0].replans.slice(-2).join(' | ')}`);
  const again = await h.prompt(tessera, nodes[survivors[1]].port, 'Once upon a time', sampling);
  h.check(JSON.stringify(again.tokens) === JSON.stringify(seededBy),
          `the seeded run at ${survivors[1]} after the loss repeats the tokens of before`);

  // 4. The follower comes back and rejoins the pool as a follower.
  nodes[victim] = await cluster.start(victim);
  const back = await poolSettled(ids, 'a', 6, [], `node ${victim} rejoining the pool`);
  h.check(Object.keys(pool(back[0]).workers).includes(victim), `node ${victim}'s workers are in the pool again`);
  const epochBefore = pool(back[0]).epoch;

  // 5. The leader is SIGKILLed mid-generation: b leads at a higher epoch over b's and c's workers.
  await killUnderLoad('a', ['b', 'c'], refs);
  const led = await poolSettled(['b', 'c'], 'b', 4, ['a'], 'b leading after a died');
  h.check(pool(led[0]).epoch > epochBefore, `the new leader's epoch ${pool(led[0]).epoch} is above ${epochBefore}`);
  console.log(`# plan of the new leader: ${pool(led[0]).stages.map((s) => `${s.node}/${s.worker} [${s.layers}]`).join(' -> ')}`);

  // 6. c dies too: b alone has no majority, so no leader; its client is told why it waits.
  process.kill(-nodes.c.child.pid, 'SIGKILL');
  nodes.c = null;
  const queued = await queuedReason(nodes.b.port);
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
  await h.fail(e, dir, { nodes: live() });
}
process.exit(0);
