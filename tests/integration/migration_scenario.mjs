// The scenario of "a better plan on join" (tests/integration/
// e2e_migration.mjs checks it, bench/runtime/migration_bench.mjs times it):
// two slow workers (a, b: 170 MB, 1 GFLOP/s claimed) serve `small` as two
// stages; three greedy requests and one seeded-sampling request stream; once
// each has a few tokens, a fast worker c (250 MB, 1 TFLOP/s claimed) joins.
// The better plan gives c most layers and one slow worker a smaller range, so
// that worker must switch shards. Worker speeds are pinned with --flops so the
// plans are the same on any machine.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import * as h from './harness.mjs';

export const MAX = 224;  // prompt + reply within the default context of 256
export const GREEDY = ['The quick brown fox', 'Once upon a time', 'Tessera serves'];
export const SAMPLED = [{ 'max-tokens': MAX, temperature: 0.8, 'top-k': 20, seed: 7 }, 'Hello, world'];

// Runs the scenario on a fresh node in `dir` (config: extra writeConfig
// options, e.g. { migration: 'immediate' }). ctx.node / ctx.workers are filled
// as they start so the caller can clean up on failure (stopAll). Resolves with
//   v1          the first serving /api/status
//   sampledRef  the fault-free seeded-sampling run on v1
//   results     the four replies (3 greedy, then sampled)
//   arrivals    per request, performance.now() of each token
//   phases      migration phases seen in /api/status (polled every 50 ms)
//   loading     tokens streamed while the status said phase "loading"
//   end         /api/status once the new plan serves and no request is active
//   log         the node's log
export async function runMigration(tessera, { dir, modelDir, config = {} }, ctx) {
  ctx.workers = [];
  const start = (name, memory, flops) => {
    ctx.workers.push(spawn(process.execPath, [path.join(h.repoRoot, 'webworker', 'node', 'worker.mjs'),
                                              '--url', `ws://127.0.0.1:${ctx.node.port}/ws/worker`, '--memory', memory,
                                              '--threads', '1', '--name', name, '--flops', flops,
                                              '--cache', path.join(dir, `${name}-cache`)],
                           { stdio: 'ignore', detached: true }));
  };
  fs.rmSync(path.join(dir, 'node.port'), { force: true });
  const file = h.writeConfig(dir, { modelDir, workers: [], ...config });
  ctx.node = await h.startNode(tessera, file, dir, { waitReady: false });
  const { port } = ctx.node;
  start('a', '170000000', '1e9');
  start('b', '170000000', '1e9');
  const v1 = await h.waitStatus(port, 'plan v1 on a and b', 120000, (s) => s.ready && s.workers.length === 2);
  const sampledRef = await h.prompt(tessera, port, SAMPLED[1], SAMPLED[0]);

  const counts = [0, 0, 0, 0];
  const arrivals = [[], [], [], []];
  let total = 0;
  let joined = false;
  const stream = (text, opts, k) => h.promptStream(tessera, port, text, opts, (m) => {
    if (!('token' in m)) return;
    arrivals[k].push(performance.now());
    counts[k] += 1;
    total += 1;
    if (!joined && counts.every((c) => c >= 4)) {
      joined = true;
      start('c', '250000000', '1e12');
    }
  });
  const runs = Promise.all([...GREEDY.map((p, k) => stream(p, { 'max-tokens': MAX }, k)),
                            stream(SAMPLED[1], SAMPLED[0], 3)]);
  let done = false;
  runs.then(() => { done = true; }, () => { done = true; });
  const phases = [];
  let loadingFirst;
  let loadingLast;
  while (!done) {
    const s = await h.getJson(port, '/api/status').catch(() => null);
    const phase = s?.migration?.phase ?? (s?.plan_version > 1 ? 'new plan' : 'v1');
    if (phases.at(-1) !== phase) phases.push(phase);
    if (phase === 'loading') {
      loadingFirst ??= total;
      loadingLast = total;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const results = await runs;
  const end = await h.waitStatus(port, 'the new plan serving, no request active', 60000,
                                 (s) => s.ready && !s.migration && s.requests.active === 0 &&
                                        s.workers.some((w) => w.name === 'c' && w.layers));
  return {
    v1, sampledRef, results, arrivals, phases, joined, end,
    loading: loadingFirst === undefined ? 0 : loadingLast - loadingFirst,
    log: fs.readFileSync(ctx.node.logFile, 'utf8'),
  };
}

// Per request: the median gap between tokens and the longest one (the switch).
export function tokenGaps(arrivals) {
  return arrivals.map((a) => {
    const g = a.slice(1).map((t, i) => t - a[i]).sort((x, y) => x - y);
    return { median: g[Math.floor(g.length / 2)], longest: g.at(-1) };
  });
}

// Stops the node (bounded) and every worker the scenario started.
export async function stopAll(ctx) {
  let stopped;
  if (ctx.node) stopped = await h.stopNode(ctx.node).catch(() => undefined);
  ctx.node = null;
  for (const w of ctx.workers ?? []) try { w.kill('SIGKILL'); } catch { /* gone */ }
  return stopped;
}
