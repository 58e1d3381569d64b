// What a better plan on join costs the running streams: background
// migration (the new stages load while the old plan serves; requests park at a
// token boundary only for the switch) vs applying the plan at once
// (runtime.migration = "immediate": workers switch shards under running
// requests, which lose the step and recover through the error path).
// Scenario (tests/integration/migration_scenario.mjs): `small` on two slow
// workers (pinned 1 GFLOP/s), four streams of 224 tokens, a fast worker
// (1 TFLOP/s) joins after each stream's 4th token; the new plan moves one old
// worker's range, so both modes must switch a serving worker.
// Per mode and run it reports, over the four streams: the longest gap between
// two tokens (the switch), the median gap (steady state), tokens streamed while
// the new stages loaded, lost stages and KV rebuilds; and checks that every
// reply is the same in both modes. Prints medians over RUNS and the ratio.
//   node bench/runtime/migration_bench.mjs BUILD/tessera [RUNS=3]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as h from '../../tests/integration/harness.mjs';
import * as m from '../../tests/integration/migration_scenario.mjs';

const [tessera, runsArg = '3'] = process.argv.slice(2);
if (!tessera) {
  console.error('usage: node bench/runtime/migration_bench.mjs TESSERA [RUNS=3]');
  process.exit(2);
}
const RUNS = Number(runsArg);
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const dir = h.tmpDir('tessera-migbench-');
const modelDir = h.buildModel(tessera, 'small', path.join(dir, 'model'));
const rows = { background: [], immediate: [] };
let reference;
const ctx = {};
try {
  for (let run = 0; run < RUNS; ++run) {
    for (const mode of ['background', 'immediate']) {
      const runDir = path.join(dir, `${mode}-${run}`);
      h.removeDir(runDir);
      fs.mkdirSync(runDir, { recursive: true });
      const r = await m.runMigration(tessera, { dir: runDir, modelDir, config: { runtime: { migration: `"${mode}"` } } }, ctx);
      await m.stopAll(ctx);
      const tokens = r.results.map((x) => x.tokens);
      reference ??= JSON.stringify(tokens);
      if (JSON.stringify(tokens) !== reference) throw new Error(`${mode} run ${run + 1}: replies differ from the first run`);
      const gaps = m.tokenGaps(r.arrivals);
      const t = r.results.map((x) => x.done.timings);
      const row = {
        longest: median(gaps.map((g) => g.longest)), worst: Math.max(...gaps.map((g) => g.longest)),
        steady: median(gaps.map((g) => g.median)), loading_tokens: r.loading,
        lost: t.reduce((a, x) => a + x.lost_stages, 0), moved: t.reduce((a, x) => a + x.migrations, 0),
        rebuilds: t.reduce((a, x) => a + x.replays + x.input_replays, 0),
      };
      rows[mode].push(row);
      console.log(`# ${mode} run ${run + 1}: ${JSON.stringify(row, (k, v) => (typeof v === 'number' ? Math.round(v) : v))}; ` +
                  `phases ${r.phases.join(' -> ')}`);
      h.removeDir(runDir);
    }
  }
} catch (e) {
  await m.stopAll(ctx).catch(() => {});
  h.killAll();
  console.error(`FAIL: ${e.stack ?? e}`);
  process.exit(1);
}
h.killAll();
h.removeDir(dir);

const [load1] = os.loadavg();
console.log(`\n# ${os.cpus().length} CPUs, load average ${load1.toFixed(1)}; small, 4 streams x ${m.MAX} tokens, ` +
            `a fast worker joins after 4 tokens each; medians over ${RUNS} runs (the longest gap: median over the 4 streams)`);
console.log('| migration | longest gap between tokens ms (worst) | median gap ms | tokens while the new stages loaded | lost stages | moves between tokens | KV rebuilds |');
console.log('|---|---|---|---|---|---|---|');
for (const mode of ['background', 'immediate']) {
  const r = rows[mode];
  const p = (k) => Math.round(median(r.map((x) => x[k])));
  console.log(`| ${mode} | **${p('longest')}** (${Math.round(Math.max(...r.map((x) => x.worst)))}) | ${p('steady')} | ` +
              `${p('loading_tokens')} | ${p('lost')} | ${p('moved')} | ${p('rebuilds')} |`);
}
const ratio = median(rows.immediate.map((x) => x.longest)) / median(rows.background.map((x) => x.longest));
console.log(`immediate / background, longest gap a stream sees: ${ratio.toFixed(2)}`);
console.log('replies: identical in every run of both modes');
