// What checking workers costs and catches, measured in one run on the `tiny`
// preset with external headless workers on 127.0.0.1:
//  1. honest steps: two honest workers serve prompts (4 at a time) with every
//     Result checked, until at least --steps pipeline steps (one per stage per
//     step) ran; counts evictions (false positives; must be 0) and replies that
//     differ from the whole model;
//  2. cost: tokens/s with Result checks on vs off ([verify] check_results),
//     alternating rounds on one machine, reported as a ratio;
//  3. detection: tests/integration/e2e_rogue_workers.mjs once per rogue kind
//     and repetition; a kind counts as caught when the rogue was evicted (or
//     refused) and the reply still equalled the whole model.
//   node bench/runtime/verify_bench.mjs TESSERA_BINARY [--steps 10000] [--repeat 3] [--rounds 2] [--skip-detection]
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import * as h from '../../tests/integration/harness.mjs';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: { steps: { type: 'string' }, repeat: { type: 'string' }, rounds: { type: 'string' },
             'skip-detection': { type: 'boolean' } },
});
const [tessera] = positionals;
if (!tessera) { console.error('usage: verify_bench.mjs TESSERA_BINARY [--steps N] [--repeat N] [--rounds N] [--skip-detection]'); process.exit(2); }
const STEPS = Number(opt.steps ?? 10000);
const REPEAT = Number(opt.repeat ?? 3);
const ROUNDS = Number(opt.rounds ?? 2);
const MAX = 96;
const PROMPTS = ['The quick brown fox', 'Hello, world', 'Tessera', 'zzz', 'Once upon a time', 'a b c d e f g'];
const dir = h.tmpDir('tessera-verify-bench-');
const modelDir = h.buildModel(tessera, 'tiny', path.join(dir, 'model'));

function configFile(roundDir, checks) {
  fs.mkdirSync(roundDir, { recursive: true });
  const file = h.writeConfig(roundDir, { modelDir, workers: [], heartbeatMs: 500, heartbeatTimeoutMs: 3000 });
  fs.appendFileSync(file, `[verify]\ncheck_results = ${checks}\n`);
  return file;
}

function worker(port, name) {
  return h.startWorker(port, name, '36000000', path.join(dir, `cache-${name}`));
}

// One node, two honest workers; runs `count` prompts 4 at a time. Returns
// { tokens, steps, ms, evictions, mismatches }.
let rounds = 0;
async function round(checks, count, refs) {
  const roundDir = path.join(dir, `round-${++rounds}`);  // its own port file, log and shards
  const node = await h.startNode(tessera, configFile(roundDir, checks), roundDir, { waitReady: false });
  const workers = [worker(node.port, 'a'), worker(node.port, 'b')];
  try {
    const ready = await h.waitStatus(node.port, 'a plan', 60000, (s) => s.ready);
    const stages = ready.plan.stages.length;
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
    const evictions = fs.readFileSync(node.logFile, 'utf8').split('\n').filter((l) => / evicted: | refused: /.test(l)).length;
    return { tokens, steps, ms, evictions, mismatches };
  } finally {
    await h.stopNode(node);
    for (const w of workers) try { process.kill(-w.pid, 'SIGKILL'); } catch {}
  }
}

try {
  const refs = h.reference(modelDir, MAX, PROMPTS);
  // 1 + 2: honest steps with checks on (until STEPS), alternating with rounds of checks off.
  const per = { true: { tokens: 0, ms: 0, steps: 0, evictions: 0, mismatches: 0 }, false: { tokens: 0, ms: 0, steps: 0, evictions: 0, mismatches: 0 } };
  const promptsPerRound = Math.max(8, Math.ceil(STEPS / ROUNDS / (2 * (MAX + 1))));
  for (let i = 0; i < ROUNDS || per.true.steps < STEPS; ++i) {
    for (const checks of [true, false]) {
      const r = await round(checks, promptsPerRound, refs);
      for (const k of Object.keys(r)) per[checks][k] += r[k];
      console.log(`# round ${i + 1} checks=${checks}: ${r.tokens} tokens in ${r.ms} ms (${(r.tokens / r.ms * 1000).toFixed(1)} tok/s), ${r.steps} steps, evictions ${r.evictions}, mismatches ${r.mismatches}`);
    }
  }
  const tps = (x) => x.tokens / x.ms * 1000;
  console.log(`honest steps checked: ${per.true.steps}; false evictions: ${per.true.evictions} (rate ${(per.true.evictions / per.true.steps).toExponential(1)}); replies differing from the whole model: ${per.true.mismatches}`);
  console.log(`tokens/s with Result checks: ${tps(per.true).toFixed(1)}; without: ${tps(per.false).toFixed(1)}; ratio ${(tps(per.true) / tps(per.false)).toFixed(3)}`);

  // 3: detection rate per rogue kind.
  if (!opt['skip-detection']) {
    const test = path.join(h.repoRoot, 'tests', 'integration', 'e2e_rogue_workers.mjs');
    const kinds = ['claims-huge', 'claims-inf', 'nan', 'zeros', 'shape', 'bloat', 'out-of-vocab', 'fake-load', 'silent', 'slow',
                   'random', 'scaled', 'pwned'];
    for (const kind of kinds) {
      let caught = 0, ms = [];
      for (let i = 0; i < REPEAT; ++i) {
        const r = spawnSync(process.execPath, [test, tessera, 'tiny', kind], { encoding: 'utf8', timeout: 300000 });
        const out = r.stdout ?? '';
        if (r.status === 0 && out.includes('PASS')) {
          caught++;
          const m = /\((\d+) tokens, (\d+) ms\)/.exec(out);
          if (m) ms.push(Number(m[2]));
        }
      }
      console.log(`detection ${kind}: ${caught}/${REPEAT}${ms.length ? ` (prompt incl. recovery: median ${ms.sort((a, b) => a - b)[ms.length >> 1]} ms)` : ''}`);
    }
  }
  h.killAll();
  h.removeDir(dir);
} catch (e) {
  console.error(`verify_bench failed: ${e.stack ?? e}`);
  h.killAll();
  process.exit(1);
}
