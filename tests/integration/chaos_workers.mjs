// Chaos: 4 node workers, 16 concurrent requests of 64 tokens (half
// greedy, half seeded sampling); every ~2 s a random serving worker is killed
// with SIGKILL and a new one joins. Every request must complete with exactly
// the tokens of the fault-free run. Nothing leaks: once the clients are gone and
// 4 workers serve again, the node's running actors return to the baseline taken
// before any client connected, and no worker holds a sequence's KV.
//   node chaos_workers.mjs TESSERA_BINARY [PRESET]
import path from 'node:path';
import * as h from './harness.mjs';

const [tessera, preset = 'small'] = process.argv.slice(2);
h.watchdog(900000, 'chaos_workers');
const dir = h.tmpDir('tessera-chaos-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const config = h.writeConfig(dir, {
  modelDir, heartbeatMs: 300, heartbeatTimeoutMs: 1500, restart: 'never',  // replacements join from outside
  workers: [{ name: 'w1', memory: '160MB' }, { name: 'w2', memory: '120MB' }, { name: 'w3', memory: '90MB' }, { name: 'w4', memory: '90MB' }],
});
const MAX = 64;
const KILLS = 5;
const requests = [];
for (let i = 0; i < 16; ++i) {
  const prompt = `request ${i}: ${'abcdefghij'.slice(0, 1 + (i % 10))}`;
  const opts = i % 2 ? { 'max-tokens': MAX, temperature: 0.8, 'top-k': 20, seed: 100 + i } : { 'max-tokens': MAX };
  requests.push({ prompt, opts });
}

// What /api/status says about leaks, for failure messages.
const leakView = (s) => `actors running ${s.actors?.running} (baseline ${baseline}), ` +
  `requests ${JSON.stringify(s.requests)}, workers ${s.workers.length}: ` +
  s.workers.map((w) => `${w.name} kv_sequences=${w.kv_sequences}` +
                       ('worker_kv_sequences' in w ? ` worker_kv_sequences=${w.worker_kv_sequences}` : '')).join(', ');
// Settled: 4 workers under a serving plan, no request, the baseline actor count,
// no KV on any worker (the node's ledger, and the worker's own count where reported).
const noLeak = (s) => s.ready && s.workers.length === 4 && s.requests?.active === 0 &&
  s.actors?.running === baseline &&
  s.workers.every((w) => w.kv_sequences === 0 && (w.worker_kv_sequences ?? 0) === 0);

let node;
let baseline;
const spares = new Map();
try {
  node = await h.startNode(tessera, config, dir);
  // Baseline before any client socket: node + planner + one worker actor per worker.
  const s0 = await h.settle(node.port, 'the 4 workers to join a serving plan', 60000,
                            (s) => s.ready && s.workers.length === 4 && s.actors,
                            (s) => `ready ${s.ready}, ${s.workers.length} workers, actors ${JSON.stringify(s.actors)}`);
  baseline = s0.actors.running;
  h.check(baseline >= 2 + 4 && s0.workers.every((w) => w.kv_sequences === 0),
          `baseline: ${baseline} actors running, no KV on the ${s0.workers.length} workers`);
  // The fault-free run, one request at a time.
  const expected = [];
  for (const r of requests) expected.push((await h.prompt(tessera, node.port, r.prompt, r.opts)).tokens);
  const quiet = await h.settle(node.port, 'the fault-free run to leave nothing behind', 30000, noLeak, leakView);
  h.check(quiet.actors.running === baseline, `after the fault-free run: ${leakView(quiet)}`);

  let kills = 0;
  let spareNo = 0;
  let killing = true;
  const killer = setInterval(async () => {
    if (kills >= KILLS) return;
    try {
      const s = await h.getJson(node.port, '/api/status');
      if (!killing) return;
      const serving = s.workers.filter((w) => w.layers);
      if (!serving.length) return;
      const victim = serving[Math.floor(Math.random() * serving.length)];
      const pid = spares.get(victim.name) ?? h.workerPid(node.child.pid, victim.name);
      if (!pid) return;
      process.kill(pid, 'SIGKILL');
      ++kills;
      const name = `spare-${++spareNo}`;
      spares.set(name, h.startWorker(node.port, name, '160MB', path.join(dir, `${name}-cache`)).pid);
      console.log(`# kill ${kills}: ${victim.name} (layers ${victim.layers}), ${name} joins`);
    } catch (e) {
      console.log(`# killer: ${e.message}`);
    }
  }, 2000);
  const results = await Promise.all(requests.map((r) => h.prompt(tessera, node.port, r.prompt, r.opts)));
  clearInterval(killer);
  killing = false;
  h.check(kills >= 1, `${kills} workers were killed during the run`);
  let rebuilds = 0;
  results.forEach((r, i) => {
    rebuilds += r.done.timings.replays + (r.done.timings.input_replays ?? 0);
    h.check(JSON.stringify(r.tokens) === JSON.stringify(expected[i]),
            `request ${i} (${requests[i].opts.seed ? 'seeded sampling' : 'greedy'}) equals its fault-free run`);
  });
  console.log(`# ${rebuilds} KV rebuilds in total`);
  const after = await h.waitStatus(node.port, 'no request to be active', 10000, (st) => st.requests?.active === 0);
  h.check(after.requests && after.requests.active === 0 && after.requests.failed === 0,
          `no request is left running or failed (${JSON.stringify(after.requests)})`);
  // Nothing leaked: every client socket is closed (the prompt processes exited), so
  // once the replacements have joined, the actor count is the baseline's and every
  // request released its KV (the ledgers are polled each second).
  const drained = await h.settle(node.port, 'the node to return to its baseline after the chaos', 30000, noLeak, leakView);
  h.check(drained.actors.running === baseline, `after the chaos: ${leakView(drained)}`);
  if (!drained.workers.some((w) => 'worker_kv_sequences' in w))
    console.log('# the workers do not report their own sequence count (worker_kv_sequences) yet: checked the node\'s ledger only');
  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, 'the node stops cleanly');
  node = null;
  h.killAll();
  h.removeDir(dir);
  console.log('PASS chaos_workers');
} catch (e) {
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
