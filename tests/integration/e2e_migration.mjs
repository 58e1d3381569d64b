// Issue 6, a better plan on join migrates in the background. Two slow workers
// (a, b: 170 MB, 1 GFLOP/s claimed) serve `small` as [0,6) / [6,12). While
// greedy and seeded-sampling requests stream, a fast worker c (250 MB,
// 1 TFLOP/s claimed) joins. The planner finds a plan far beyond the stability
// margin in which c takes most layers and a keeps a smaller range, so:
//  1. c loads its stage in the background while v1 keeps serving (tokens keep
//     streaming while /api/status says migration phase "loading");
//  2. requests are parked at a token boundary before a switches shards (the
//     node logs "parked at token"), then v2 serves;
//  3. every request completes with exactly the tokens of the whole model
//     (greedy) or of its fault-free run (sampling), moved to v2 without losing
//     a stage (timings.lost_stages == 0, timings.migrations >= 1);
//  4. the re-plan history says why and what moved; nothing is left running.
// Worker speeds are pinned with --flops so the plans are the same on any
// machine.
//   node e2e_migration.mjs TESSERA_BINARY [PRESET]
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import * as h from './harness.mjs';

const [tessera, preset = 'small'] = process.argv.slice(2);
h.watchdog(600000, 'e2e_migration');
const dir = h.tmpDir('tessera-migration-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const config = h.writeConfig(dir, { modelDir, workers: [] });
const MAX = 224;  // prompt + reply within the default context of 256
const GREEDY = ['The quick brown fox', 'Once upon a time', 'Tessera serves'];
const SAMPLED = [{ 'max-tokens': MAX, temperature: 0.8, 'top-k': 20, seed: 7 }, 'Hello, world'];
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

const workers = [];
function startWorker(port, name, memory, flops) {
  const child = spawn(process.execPath, [path.join(h.repoRoot, 'webworker', 'node', 'worker.mjs'),
                                         '--url', `ws://127.0.0.1:${port}/ws/worker`, '--memory', memory,
                                         '--threads', '1', '--name', name, '--flops', flops,
                                         '--cache', path.join(dir, `${name}-cache`)],
                      { stdio: 'ignore', detached: true });
  workers.push(child);
  return child;
}
const killWorkers = () => { for (const w of workers) try { w.kill('SIGKILL'); } catch { /* gone */ } };

let node;
try {
  const refs = h.reference(modelDir, MAX, GREEDY);
  for (const p of GREEDY)
    h.check(refs[p].length >= 100, `the whole-model reference of "${p}" has ${refs[p].length} tokens`);
  node = await h.startNode(tessera, config, dir, { waitReady: false });
  startWorker(node.port, 'a', '170000000', '1e9');
  startWorker(node.port, 'b', '170000000', '1e9');
  const v1 = await h.waitStatus(node.port, 'plan v1 on a and b', 120000, (s) => s.ready && s.workers.length === 2);
  h.check(v1.plan.stages.length === 2, `v1 uses both slow workers: ${v1.replans.at(-1)}`);
  const sampledRef = await h.prompt(tessera, node.port, SAMPLED[1], SAMPLED[0]);
  h.check(sampledRef.tokens.length >= 100, `fault-free seeded sampling run on v1: ${sampledRef.tokens.length} tokens`);

  // Stream, and let c join once every request has produced a few tokens.
  const counts = [0, 0, 0, 0];
  const arrivals = [[], [], [], []];  // ms, per request (reported, never gated)
  let total = 0;
  let joined = false;
  const stream = (text, opts, k) => h.promptStream(tessera, node.port, text, opts, (m) => {
    if (!('token' in m)) return;
    arrivals[k].push(performance.now());
    counts[k] += 1;
    total += 1;
    if (!joined && counts.every((c) => c >= 4)) {
      joined = true;
      startWorker(node.port, 'c', '250000000', '1e12');
    }
  });
  const runs = Promise.all([...GREEDY.map((p, k) => stream(p, { 'max-tokens': MAX }, k)),
                            stream(SAMPLED[1], SAMPLED[0], 3)]);
  runs.catch(() => {});

  // Watch the migration: tokens must keep coming while c loads in the background.
  const phases = [];
  let loadingFirst;
  let loadingLast;
  let done = false;
  runs.finally(() => { done = true; });
  while (!done) {
    const s = await h.getJson(node.port, '/api/status').catch(() => null);
    const phase = s?.migration?.phase ?? (s?.plan_version > 1 ? 'v2' : 'v1');
    if (phases.at(-1) !== phase) phases.push(phase);
    if (phase === 'loading') {
      loadingFirst ??= total;
      loadingLast = total;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const results = await runs;
  console.log(`# phases seen: ${phases.join(' -> ')}; tokens streamed while c loaded: ${loadingLast - loadingFirst}`);
  const gaps = arrivals.map((a) => a.slice(1).map((t, i) => t - a[i]).sort((x, y) => x - y));
  const median = (g) => g[Math.floor(g.length / 2)];
  console.log(`# per request: median gap between tokens ${gaps.map((g) => median(g).toFixed(0)).join(' / ')} ms; ` +
              `longest (the switch) ${gaps.map((g) => g.at(-1).toFixed(0)).join(' / ')} ms`);
  h.check(joined, 'c joined while the requests streamed');
  h.check(phases.includes('loading'), `/api/status showed the migration loading in the background (phases: ${phases.join(' -> ')})`);
  h.check(loadingLast > loadingFirst, `v1 kept serving while c loaded: ${loadingLast - loadingFirst} tokens streamed in that phase`);

  GREEDY.forEach((p, k) => h.check(same(results[k].tokens, refs[p]),
                                   `greedy "${p}" equals the whole-model run (${results[k].tokens.length} tokens)`));
  h.check(same(results[3].tokens, sampledRef.tokens),
          `seeded sampling equals its fault-free run (${results[3].tokens.length} tokens)`);
  const timings = results.map((r) => r.done.timings);
  h.check(timings.every((t) => t.lost_stages === 0),
          `no request lost a stage (lost_stages ${timings.map((t) => t.lost_stages).join(', ')})`);
  const moved = timings.filter((t) => t.migrations >= 1);
  h.check(moved.length >= 1, `requests moved to the new plan between tokens (migrations ${timings.map((t) => t.migrations).join(', ')})`);
  h.check(moved.every((t) => t.replays + t.input_replays >= 1),
          `each moved request rebuilt the KV of the changed stages (replays ${moved.map((t) => `${t.replays}+${t.input_replays}`).join(', ')})`);

  const end = await h.waitStatus(node.port, 'v2 serving on c and a', 30000,
                                 (s) => s.ready && !s.migration && s.requests.active === 0);
  const history = end.replans.join('\n');
  console.log(`# replans:\n${end.replans.map((l) => `#   ${l}`).join('\n')}`);
  h.check(/joined; new plan: .*better than the 10% margin\)\): migrating in the background while v1 serves:.*\(after parking\).*\(loading now\)/.test(history),
          'the history says why (c joined, better than the margin) and which stages load now and which after parking');
  h.check(/v\d+ serving after a background migration of \d+ ms/.test(history), 'the history says when the new plan started serving');
  const c = end.workers.find((w) => w.name === 'c');
  const a = end.workers.find((w) => w.name === 'a');
  h.check(c?.layers && a?.layers && c.layers[1] - c.layers[0] > a.layers[1] - a.layers[0],
          `the fast worker holds most layers now: c ${JSON.stringify(c?.layers)}, a ${JSON.stringify(a?.layers)}`);
  const log = fs.readFileSync(node.logFile, 'utf8');
  const parked = (log.match(/parked at token \d+ for plan v\d+/g) ?? []).length;
  h.check(parked >= 1, `requests parked at a token boundary before a switched shards (${parked} parked)`);
  h.check(!/lost: /.test(log), 'no request went through the lost-stage path');
  h.check(end.requests.failed === 0, `no request failed (done ${end.requests.done})`);

  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, 'the node stops cleanly');
  node = null;
  killWorkers();
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_migration');
} catch (e) {
  killWorkers();
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
