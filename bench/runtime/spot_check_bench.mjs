// What spot checks cost and catch, measured in one run on the `tiny` preset
// with external headless workers (onnxruntime-node, CPU) on 127.0.0.1:
//  1. cost: tokens/s at [verify] rate 0 (spot checks off), 1 % and 10 %
//     (first_steps 4 with both), in rounds on one machine (the order turns
//     each round); each
//     round is a fresh node, two serving workers and two standbys (one per
//     stage, the verifiers), prompts 4 at a time. Reported as ratios to rate 0.
//  2. false positives: the same rounds plus rounds at rate 1 (every step of
//     every hop re-run) until at least --steps honest pipeline steps ran with
//     spot checks on; counts evictions and the checks that agreed, and the
//     largest relative difference two honest holders showed.
//  3. detection: tests/integration/e2e_rogue_workers.mjs once per rogue kind
//     and repetition (caught = evicted or refused with its reason, and the
//     reply equal to the whole model).
// --wasm-standbys: the two standbys (the verifiers) run onnxruntime-web's
// WASM build (worker.mjs --backend wasm): every check compares CPU with WASM.
//   node bench/runtime/spot_check_bench.mjs TESSERA_BINARY [--steps 10000] [--rounds 2] [--repeat 2] [--skip-detection]
//        [--wasm-standbys]
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import * as h from '../../tests/integration/harness.mjs';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: { steps: { type: 'string' }, rounds: { type: 'string' }, repeat: { type: 'string' },
             'skip-detection': { type: 'boolean' }, 'wasm-standbys': { type: 'boolean' } },
});
const [tessera] = positionals;
if (!tessera) { console.error('usage: spot_check_bench.mjs TESSERA_BINARY [--steps N] [--rounds N] [--repeat N] [--skip-detection]'); process.exit(2); }
const STEPS = Number(opt.steps ?? 10000);
const ROUNDS = Number(opt.rounds ?? 2);
const REPEAT = Number(opt.repeat ?? 2);
const MAX = 64;
const PROMPTS_PER_ROUND = 12;
const PROMPTS = ['The quick brown fox', 'Hello, world', 'Tessera', 'zzz', 'Once upon a time', 'a b c d e f g'];
const dir = h.tmpDir('tessera-spot-bench-');
const modelDir = h.buildModel(tessera, 'tiny', path.join(dir, 'model'));

function configFile(roundDir, rate) {
  fs.mkdirSync(roundDir, { recursive: true });
  // A WASM worker runs ONNX on its main thread: no heartbeat while a run
  // lasts, and its first runs after a load are slow on a busy machine.
  const wasm = opt['wasm-standbys'];
  const file = h.writeConfig(roundDir, { modelDir, workers: [], heartbeatMs: 500, heartbeatTimeoutMs: wasm ? 10000 : 3000 });
  const first = rate > 0 ? 4 : 0;
  fs.appendFileSync(file, `[verify]\nrate = ${rate}\nfirst_steps = ${first}\n${wasm ? 'step_deadline_ms = 10000\n' : ''}`);
  return file;
}

const worker = (port, name, extra) => h.startWorker(port, name, '36000000', path.join(dir, `cache-${name}`), extra);
const STANDBY_ARGS = opt['wasm-standbys'] ? ['--backend', 'wasm'] : [];

// One node, two workers serving and two standing by; `count` prompts 4 at a time.
let rounds = 0;
async function round(rate, count, refs) {
  const roundDir = path.join(dir, `round-${++rounds}`);
  const node = await h.startNode(tessera, configFile(roundDir, rate), roundDir, { waitReady: false });
  const workers = [worker(node.port, 'a'), worker(node.port, 'b')];
  try {
    const ready = await h.waitStatus(node.port, 'a plan', 60000, (s) => s.ready);
    const stages = ready.plan.stages.length;
    workers.push(worker(node.port, 'c', STANDBY_ARGS), worker(node.port, 'd', STANDBY_ARGS));
    await h.waitStatus(node.port, 'a loaded standby for every stage', 60000, (s) =>
      s.workers.filter((w) => w.standby_for && w.loaded).length >= stages);
    let tokens = 0, steps = 0, mismatches = 0, next = 0;
    const t0 = Date.now();
    const lane = async () => {
      while (next < count) {
        const p = PROMPTS[next++ % PROMPTS.length];
        const r = await h.prompt(tessera, node.port, p, { 'max-tokens': MAX });
        tokens += r.tokens.length;
        steps += stages * (r.done.timings.decode_steps + 1 + r.done.timings.replays);
        if (JSON.stringify(r.tokens) !== JSON.stringify(refs[p])) mismatches++;
      }
    };
    await Promise.all([lane(), lane(), lane(), lane()]);
    const ms = Date.now() - t0;
    const log = fs.readFileSync(node.logFile, 'utf8').split('\n');
    const evictions = log.filter((l) => / evicted: | refused: /.test(l)).length;
    let checks = 0, inconclusive = 0, maxDiff = 0;
    for (const l of log) {
      const m = /spot_checks=(\d+) inconclusive=(\d+) max_difference=([0-9.e+-]+)/.exec(l);
      if (!m) continue;
      checks += Number(m[1]);
      inconclusive += Number(m[2]);
      maxDiff = Math.max(maxDiff, Number(m[3]));
    }
    return { tokens, steps, ms, evictions, mismatches, checks, inconclusive, maxDiff };
  } finally {
    await h.stopNode(node);
    for (const w of workers) try { process.kill(-w.pid, 'SIGKILL'); } catch {}
  }
}

const add = (a, r) => {
  for (const k of Object.keys(r)) a[k] = k === 'maxDiff' ? Math.max(a[k] ?? 0, r[k]) : (a[k] ?? 0) + r[k];
};

try {
  const refs = h.reference(modelDir, MAX, PROMPTS);
  const rates = [0, 0.01, 0.1];
  const per = Object.fromEntries([...rates, 1].map((r) => [r, {}]));
  const report = (rate, i, r) => console.log(`# round ${i} rate=${rate}: ${r.tokens} tokens in ${r.ms} ms (${(r.tokens / r.ms * 1000).toFixed(1)} tok/s), ${r.steps} steps, checks ${r.checks} (inconclusive ${r.inconclusive}, max difference ${r.maxDiff.toExponential(2)}), evictions ${r.evictions}, replies differing ${r.mismatches}`);
  // The order of the rates turns each round (a machine's drift hits each rate alike).
  for (let i = 1; i <= ROUNDS; ++i)
    for (const rate of rates.map((_, j) => rates[(i + j) % rates.length])) {
      const r = await round(rate, PROMPTS_PER_ROUND, refs);
      add(per[rate], r);
      report(rate, i, r);
    }
  const checkedSteps = () => (per[0.01].steps ?? 0) + (per[0.1].steps ?? 0) + (per[1].steps ?? 0);
  for (let i = 1; checkedSteps() < STEPS; ++i) {
    const r = await round(1, PROMPTS_PER_ROUND, refs);
    add(per[1], r);
    report(1, i, r);
  }
  const tps = (x) => x.tokens / x.ms * 1000;
  for (const rate of rates.filter((r) => per[r].ms))
    console.log(`rate ${rate}: ${tps(per[rate]).toFixed(1)} tok/s, ratio to rate 0: ${(tps(per[rate]) / tps(per[0])).toFixed(3)}`);
  const on = [per[0.01], per[0.1], per[1]];
  const sum = (k) => on.reduce((a, x) => a + (x[k] ?? 0), 0);
  console.log(`honest steps with spot checks on: ${sum('steps')}; hop checks that agreed: ${sum('checks')}; inconclusive: ${sum('inconclusive')}; false evictions: ${sum('evictions') + (per[0].evictions ?? 0)}; replies differing from the whole model: ${sum('mismatches') + (per[0].mismatches ?? 0)}; largest honest difference: ${Math.max(...on.map((x) => x.maxDiff ?? 0)).toExponential(2)}`);

  if (!opt['skip-detection']) {
    const test = path.join(h.repoRoot, 'tests', 'integration', 'e2e_rogue_workers.mjs');
    const kinds = ['claims-huge', 'claims-inf', 'nan', 'zeros', 'shape', 'bloat', 'out-of-vocab', 'fake-load', 'silent', 'slow',
                   'random', 'scaled', 'pwned'];
    for (const kind of kinds) {
      let caught = 0;
      for (let i = 0; i < REPEAT; ++i) {
        const r = spawnSync(process.execPath, [test, tessera, 'tiny', kind], { encoding: 'utf8', timeout: 300000 });
        if (r.status === 0 && (r.stdout ?? '').includes('PASS')) caught++;
      }
      console.log(`detection ${kind}: ${caught}/${REPEAT}`);
    }
  }
  h.killAll();
  h.removeDir(dir);
} catch (e) {
  console.error(`spot_check_bench failed: ${e.stack ?? e}`);
  h.killAll();
  process.exit(1);
}
