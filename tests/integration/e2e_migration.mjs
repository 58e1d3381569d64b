// A better plan on join migrates in the background (the scenario is
// in migration_scenario.mjs: two slow workers serve `small`, a fast one joins
// while four requests stream, and the better plan moves one slow worker's
// range). Checks:
//  1. c loads its stage in the background while v1 keeps serving (tokens keep
//     streaming while /api/status says migration phase "loading");
//  2. requests are parked at a token boundary before the slow worker switches
//     shards (the node logs "parked at token"), then the new plan serves;
//  3. every request completes with exactly the tokens of the whole model
//     (greedy) or of its fault-free run (sampling), moved to the new plan
//     without losing a stage (timings.lost_stages == 0, migrations >= 1);
//  4. the re-plan history says why and what moved; nothing failed.
//   node e2e_migration.mjs TESSERA_BINARY [PRESET]
import path from 'node:path';
import * as h from './harness.mjs';
import * as m from './migration_scenario.mjs';

const [tessera, preset = 'small'] = process.argv.slice(2);
h.watchdog(600000, 'e2e_migration');
const dir = h.tmpDir('tessera-migration-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

const ctx = {};
try {
  const refs = h.reference(modelDir, m.MAX, m.GREEDY);
  for (const p of m.GREEDY)
    h.check(refs[p].length >= 100, `the whole-model reference of "${p}" has ${refs[p].length} tokens`);
  const r = await m.runMigration(tessera, { dir, modelDir }, ctx);
  h.check(r.v1.plan.stages.length === 2, `v1 uses both slow workers: ${r.v1.replans.at(-1)}`);
  h.check(r.sampledRef.tokens.length >= 100, `fault-free seeded sampling run on v1: ${r.sampledRef.tokens.length} tokens`);
  const gaps = m.tokenGaps(r.arrivals);
  console.log(`# phases seen: ${r.phases.join(' -> ')}; tokens streamed while c loaded: ${r.loading}`);
  console.log(`# per request: median gap between tokens ${gaps.map((g) => g.median.toFixed(0)).join(' / ')} ms; ` +
              `longest (the switch) ${gaps.map((g) => g.longest.toFixed(0)).join(' / ')} ms`);
  h.check(r.joined, 'c joined while the requests streamed');
  h.check(r.phases.includes('loading'), `/api/status showed the migration loading in the background (phases: ${r.phases.join(' -> ')})`);
  h.check(r.loading > 0, `v1 kept serving while c loaded: ${r.loading} tokens streamed in that phase`);

  m.GREEDY.forEach((p, k) => h.check(same(r.results[k].tokens, refs[p]),
                                     `greedy "${p}" equals the whole-model run (${r.results[k].tokens.length} tokens)`));
  h.check(same(r.results[3].tokens, r.sampledRef.tokens),
          `seeded sampling equals its fault-free run (${r.results[3].tokens.length} tokens)`);
  const timings = r.results.map((x) => x.done.timings);
  h.check(timings.every((t) => t.lost_stages === 0),
          `no request lost a stage (lost_stages ${timings.map((t) => t.lost_stages).join(', ')})`);
  const moved = timings.filter((t) => t.migrations >= 1);
  h.check(moved.length >= 1, `requests moved to the new plan between tokens (migrations ${timings.map((t) => t.migrations).join(', ')})`);
  h.check(moved.every((t) => t.replays + t.input_replays >= 1),
          `each moved request rebuilt the KV of the changed stages (replays ${moved.map((t) => `${t.replays}+${t.input_replays}`).join(', ')})`);

  const history = r.end.replans.join('\n');
  console.log(`# replans:\n${r.end.replans.map((l) => `#   ${l}`).join('\n')}`);
  const migrating = history.split('\n').find((l) => /joined; new plan: .*better than the 10% margin\)\): migrating in the background while v1 serves:/.test(l)) ?? '';
  h.check(/\(after parking\)/.test(migrating) && /\(loading now\)/.test(migrating),
          'the history says why (c joined, better than the margin) and which stages load now and which after parking');
  h.check(/v\d+ serving after a background migration of \d+ ms/.test(history), 'the history says when the new plan started serving');
  // (a and b join at once, so either may be worker 1, the one that shrinks)
  const c = r.end.workers.find((w) => w.name === 'c');
  const slow = r.end.workers.find((w) => w.name !== 'c' && w.layers);
  h.check(c?.layers && slow && c.layers[1] - c.layers[0] > slow.layers[1] - slow.layers[0],
          `the fast worker holds most layers now: c ${JSON.stringify(c?.layers)}, ${slow?.name} ${JSON.stringify(slow?.layers)}`);
  const parked = (r.log.match(/parked at token \d+ for plan v\d+/g) ?? []).length;
  h.check(parked >= 1, `requests parked at a token boundary before a slow worker switched shards (${parked} parked)`);
  h.check(!/lost: /.test(r.log), 'no request went through the lost-stage path');
  h.check(r.end.requests.failed === 0, `no request failed (done ${r.end.requests.done})`);

  const stopped = await m.stopAll(ctx);
  h.check(stopped?.code === 0, 'the node stops cleanly');
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_migration');
} catch (e) {
  await m.stopAll(ctx).catch(() => {});
  await h.fail(e, dir, { nodes: [] });
}
process.exit(0);
