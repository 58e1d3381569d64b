// A serving worker that slows down mid-run loses layers (measured speeds and
// re-planning on change). Two headless workers serve `small` under the
// throughput objective, claims pinned equal (--flops); once the node has
// measured both (their compute per position and their links show in
// /api/status), worker b is throttled (--throttle-ms, TESSERA_TESTING=1: each
// Result held back after SIGUSR2) while a greedy request streams. Checks:
//  1. /api/status shows each worker's measured link (rtt, bandwidth) and compute;
//  2. a re-plan on a measured change follows (history "measured change: worker
//     N ..."; on a loaded machine the other worker's noise may be what crosses
//     the margin first, and that re-plan then sees b slow) and the plan that
//     serves afterwards gives b fewer layers; no worker joined or left, so only
//     the measurements can have moved it;
//  3. the streamed request and a request after the change equal the whole model.
//   node e2e_slowed_worker.mjs TESSERA_BINARY [PRESET]
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import * as h from './harness.mjs';

const [tessera, preset = 'small'] = process.argv.slice(2);
h.watchdog(600000, 'e2e_slowed_worker');
const dir = h.tmpDir('tessera-slowed-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const PROMPTS = ['The quick brown fox', 'Once upon a time'];
const MAX = 200;
const THROTTLE_MS = 150;  // well above a stage's compute even on a loaded machine
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const span = (w) => (w?.layers ? w.layers[1] - w.layers[0] : 0);

let node;
const workers = {};
process.on('exit', () => {  // the watchdog's exit too: the workers are not the harness's children
  for (const w of Object.values(workers)) try { process.kill(-w.pid, 'SIGKILL'); } catch {}
});
try {
  const refs = h.reference(modelDir, MAX, PROMPTS);
  const file = h.writeConfig(dir, { modelDir, workers: [], runtime: { settle_ms: 100 } });
  fs.appendFileSync(file, '[planner]\nlink_probe = true\nreplan_change = 0.25\nreplan_change_polls = 2\nlink_probe_interval_ms = 500\n');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('context = 256', 'context = 256\nobjective = "throughput"'));
  node = await h.startNode(tessera, file, dir, { waitReady: false });
  const { port } = node;
  const start = (name, memory, extra = []) => {
    workers[name] = spawn(process.execPath, [path.join(h.repoRoot, 'webworker', 'node', 'worker.mjs'),
                                             '--url', `ws://127.0.0.1:${port}/ws/worker`, '--memory', memory,
                                             '--threads', '1', '--name', name, '--flops', '1e12',
                                             '--cache', path.join(dir, `${name}-cache`), ...extra],
                          { stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, `${name}.log`), 'w')], detached: true,
                            env: { ...process.env, TESSERA_TESTING: '1' } });
  };
  start('a', '400000000');  // a can hold the whole model
  start('b', '170000000', ['--throttle-ms', String(THROTTLE_MS)]);
  await h.waitStatus(port, 'a plan on a and b', 120000, (s) => s.ready && s.workers.length === 2);

  // Warm up until both are measured and the plan is settled on the measurements.
  // A worker's compute is timed only from decode steps that had it to itself, so
  // on a busy machine one warm-up may time none of b's: ask again (at most 8 times).
  const timed = (s) => s.workers.length === 2 && s.workers.every((w) => w.link.measured && w.compute_ms_per_position > 0);
  let warmups = 0;
  do {
    const warm = await h.prompt(tessera, port, PROMPTS[0], { 'max-tokens': 60 });
    warmups += 1;
    h.check(same(warm.tokens, refs[PROMPTS[0]].slice(0, 60)), `warm-up request ${warmups} equals the whole model`);
  } while (warmups < 8 && !timed(await h.getJson(port, '/api/status')));
  const measured = await h.settle(port, 'both workers measured, the plan settled', 60000,
    (s) => s.ready && !s.migration && s.requests.active === 0 &&
           s.workers.every((w) => w.link.measured && w.compute_ms_per_position > 0 && w.layers),
    (s) => JSON.stringify(s.workers.map((w) => ({ name: w.name, link: w.link, c: w.compute_ms_per_position, layers: w.layers }))));
  for (const w of measured.workers)
    console.log(`# ${w.name}: layers [${w.layers}] rtt ${w.link.rtt_ms.toFixed(3)} ms, ` +
                `bandwidth ${(w.link.bytes_per_s / 1e6).toFixed(0)} MB/s, compute ${w.compute_ms_per_position.toFixed(2)} ms/position, ` +
                `planned ${(w.planned_flops_per_s / 1e9).toFixed(2)} GFLOP/s`);
  h.check(measured.workers.every((w) => w.link.rtt_ms > 0 && w.link.bytes_per_s > 0),
          '/api/status shows each worker\'s measured RTT and bandwidth');
  const before = measured.workers.find((w) => w.name === 'b');
  const version = measured.plan_version;
  h.check(span(before) >= 2, `b serves several layers before it slows: [${before.layers}]`);

  workers.b.kill('SIGUSR2');
  const streamed = h.promptStream(tessera, port, PROMPTS[1], { 'max-tokens': MAX }, () => {});
  const moved = await h.settle(port, 'a plan that gives the slowed worker fewer layers', 180000,
    (s) => s.ready && !s.migration && s.plan_version > version &&
           span(s.workers.find((w) => w.name === 'b')) < span(before),
    (s) => `plan v${s.plan_version}, b ${JSON.stringify(s.workers.find((w) => w.name === 'b')?.layers)}, ` +
           `migration ${s.migration?.phase ?? '-'}, replans: ${s.replans.slice(-3).join(' | ')}`);
  const after = moved.workers.find((w) => w.name === 'b');
  console.log(`# b: layers [${before.layers}] -> [${after.layers ?? '-'}], plan v${version} -> v${moved.plan_version}`);
  console.log(`# replans:\n${moved.replans.map((l) => `#   ${l}`).join('\n')}`);
  h.check(moved.replans.some((l) => /measured change: worker \d+ stage \[\d+,\d+\) [\d.]+ ms -> [\d.]+ ms per token/.test(l)),
          'the history says the measured change caused the re-plan');

  const r = await streamed;
  h.check(same(r.tokens, refs[PROMPTS[1]]), `the request streaming across the change equals the whole model (${r.tokens.length} tokens)`);
  const again = await h.prompt(tessera, port, PROMPTS[0], { 'max-tokens': MAX });
  h.check(same(again.tokens, refs[PROMPTS[0]]), `a request on the new plan equals the whole model (${again.tokens.length} tokens)`);
  await h.stopNode(node);
  for (const w of Object.values(workers)) w.kill('SIGKILL');
  h.removeDir(dir);
  console.log('ok');
} catch (e) {
  for (const w of Object.values(workers)) w.kill('SIGKILL');
  await h.fail(e, dir, { nodes: node ? [node] : [] });
}
