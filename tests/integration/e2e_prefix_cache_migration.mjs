// The prefix cache across a background migration: the real `tessera node`
// with real Node workers on 127.0.0.1. Two slow workers (a, b: --flops 1e9)
// serve `small`; requests sharing a prefix fill the cache and hit it; then a
// fast worker c (--flops 1e12) joins and the planner migrates to a plan that
// gives c most layers. Once /api/status says the new plan serves, nothing is
// migrating and the rebuild queue is empty:
//  - every stage whose worker, layer range or shard changed holds no entry of
//    the old plan (at most the prefixes rebuilt onto it);
//  - the hottest prefixes were rebuilt on the new plan (rebuild counters moved);
//  - the next request with the shared prefix hits the cache on the new plan;
//  - every reply, before and after, equals the whole model (reference.mjs).
//   node e2e_prefix_cache_migration.mjs TESSERA_BINARY [PRESET]
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import * as h from './harness.mjs';
import { generate } from './generate_client.mjs';

const { encodeBytes, BOS, EOS } = await import(path.join(h.repoRoot, 'webworker', 'core', 'byte_text.mjs'));

const [tessera, preset = 'small'] = process.argv.slice(2);
h.watchdog(600000, 'e2e_prefix_cache_migration');
const dir = h.tmpDir('tessera-prefix-migration-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const BLOCK = 16;
const MAX = 12;
const REBUILD_TOP = 2;

const ids = (text) => [BOS, ...encodeBytes(text)];
const key = (a) => JSON.stringify(a);
const same = (a, b) => key(a) === key(b);
const shared = ids('Before the fast worker joined, the slow ones had already computed this shared preamble, ');
const suffixes = ['and kept it.', 'so the next request forked it.', 'then the plan changed under them.',
                  'and after the migration it came back.'];
const prompts = suffixes.map((s) => [...shared, ...encodeBytes(s)]);
const want = Math.floor(shared.length / BLOCK) * BLOCK;
// a stage as the index sees it: the worker, its layer range and the shard it loaded
const stageKey = (st, s) => {
  const w = st.workers.find((x) => String(x.id) === String(s.worker));
  return `worker ${s.worker} [${s.layers[0]},${s.layers[1]}) shard ${w?.shard}`;
};

const workers = [];
let node;
const startWorker = (name, memory, flops) => {
  workers.push(spawn(process.execPath, [path.join(h.repoRoot, 'webworker', 'node', 'worker.mjs'),
                                        '--url', `ws://127.0.0.1:${node.port}/ws/worker`, '--memory', memory,
                                        '--threads', '1', '--name', name, '--flops', flops,
                                        '--cache', path.join(dir, `${name}-cache`)],
                     { stdio: 'ignore', detached: true }));
};
const killWorkers = () => {
  for (const w of workers) try { process.kill(-w.pid, 'SIGKILL'); } catch { /* gone */ }
};
process.on('exit', killWorkers);  // also when the watchdog ends the run
const stopAll = async () => {
  if (node) await h.stopNode(node).catch(() => {});
  node = null;
  killWorkers();
};
const status = () => h.getJson(node.port, '/api/status');

try {
  // before the node starts: a long silence would let the gateway close the
  // keep-alive connection the readiness polls left in Node's HTTP agent
  const refs = h.reference(modelDir, MAX, Object.fromEntries(prompts.map((p) => [key(p), p])), EOS);

  const file = h.writeConfig(dir, { modelDir, workers: [] });
  const cache = ['[cache]', `block_tokens = ${BLOCK}`, `rebuild_top = ${REBUILD_TOP}`].join('\n');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('[workers]', `${cache}\n[workers]`));
  node = await h.startNode(tessera, file, dir, { waitReady: false });
  startWorker('a', '170000000', '1e9');
  startWorker('b', '170000000', '1e9');
  const v1 = await h.waitStatus(node.port, 'plan v1 on a and b', 120000,
                                (s) => s.ready && s.workers.length === 2 && s.plan.stages.length === 2);
  h.check(v1.prefix_cache?.enabled === true, `v1 serves on a and b with the prefix cache: ${v1.replans.at(-1)}`);

  // 1. fill the cache on v1: the first request computes the prefix, the others fork it
  for (const [i, p] of prompts.slice(0, 3).entries()) {
    const r = await generate(node.port, { prompt_ids: p, max_tokens: MAX });
    h.check(same(r.tokens, refs[key(p)]), `v1, prompt ${i}: equals the whole model (${r.tokens.length} tokens)`);
    if (i > 0)
      h.check(r.done.usage.cached_tokens >= want,
              `v1, prompt ${i}: the shared prefix comes from the cache (cached_tokens ${r.done.usage.cached_tokens} >= ${want})`);
  }
  const before = await h.waitStatus(node.port, 'v1 idle with its entries', 10000,
                                    (s) => s.requests.active === 0 && s.workers.every((w) => w.cache.entries >= 3));
  const oldStages = new Map(before.plan.stages.map((s) => [String(s.worker), stageKey(before, s)]));
  const oldEntries = Object.fromEntries(before.workers.map((w) => [w.name, w.cache.entries]));
  h.check(before.prefix_cache.rebuilds === 0 && before.workers.every((w) => w.cache.rebuilds === 0),
          `v1 holds entries on every stage (${JSON.stringify(oldEntries)}) and has rebuilt nothing yet`);

  // 2. the fast worker joins; the planner migrates in the background
  startWorker('c', '250000000', '1e12');
  const after = await h.settle(node.port, 'the new plan serving with c, nothing migrating, rebuilds done', 180000,
                               (s) => s.ready && s.plan_version > before.plan_version && !s.migration &&
                                 s.requests.active === 0 && s.workers.some((w) => w.name === 'c' && w.layers) &&
                                 s.prefix_cache.rebuilds + s.prefix_cache.rebuild_failures >= 1 &&
                                 s.prefix_cache.rebuild_queue === 0,
                               (s) => `v${s.plan_version} migration=${s.migration?.phase} active=${s.requests?.active} ` +
                                 `rebuilds=${s.prefix_cache?.rebuilds} failures=${s.prefix_cache?.rebuild_failures} ` +
                                 `queue=${s.prefix_cache?.rebuild_queue}`);
  console.log(`# replans:\n${after.replans.map((l) => `#   ${l}`).join('\n')}`);
  const c = after.workers.find((w) => w.name === 'c');
  h.check(after.plan.stages.some((s) => String(s.worker) === String(c.id)),
          `the new plan v${after.plan_version} serves on c (${after.plan.stages.map((s) => stageKey(after, s)).join(', ')})`);
  // three distinct sequences were lost (on a and b), so the top REBUILD_TOP of them are rebuilt;
  // rebuild_queue 0 means none waits and none is in flight
  h.check(after.prefix_cache.rebuild_failures === 0 && after.prefix_cache.rebuilds === REBUILD_TOP,
          `the ${REBUILD_TOP} hottest lost prefixes were rebuilt on the new plan before the queue read 0 ` +
          `(rebuilds ${after.prefix_cache.rebuilds}, failures ${after.prefix_cache.rebuild_failures})`);

  // 3. stages that changed hold nothing of v1: only what was rebuilt onto them
  const changed = [];
  for (const w of after.workers) {
    const stage = after.plan.stages.find((s) => String(s.worker) === String(w.id));
    if (stage && oldStages.get(String(w.id)) === stageKey(after, stage)) continue;
    changed.push(w.name);
    h.check(w.cache.entries <= w.cache.rebuilds,
            `${w.name} (${oldStages.get(String(w.id)) ?? 'not in v1'} -> ${stage ? stageKey(after, stage) : 'not serving'}): ` +
            `${w.cache.entries} entries, all rebuilt (${w.cache.rebuilds}); it held ${oldEntries[w.name] ?? 0} on v1`);
  }
  h.check(changed.includes('c') && changed.length >= 2, `the migration changed c and a slow worker's stage: ${changed.join(', ')}`);
  const rebuiltOn = after.workers.filter((w) => w.cache.rebuilds > 0);
  h.check(rebuiltOn.length > 0 && after.plan.stages.every((s) => rebuiltOn.some((w) => String(w.id) === String(s.worker))),
          `every stage of the new plan holds a rebuilt prefix (${rebuiltOn.map((w) => `${w.name}: ${w.cache.rebuilds}`).join(', ')})`);

  // 4. the next request with the shared prefix hits the cache on the new plan
  const hitsBefore = after.prefix_cache.hits;
  const next = await generate(node.port, { prompt_ids: prompts[3], max_tokens: MAX });
  h.check(same(next.tokens, refs[key(prompts[3])]), `new plan, a new suffix: equals the whole model (${next.tokens.length} tokens)`);
  h.check(next.done.usage.cached_tokens >= want,
          `new plan, a new suffix: the shared prefix comes from the rebuilt cache (cached_tokens ${next.done.usage.cached_tokens} >= ${want})`);
  for (const [i, p] of prompts.slice(0, 3).entries()) {
    const r = await generate(node.port, { prompt_ids: p, max_tokens: MAX });
    h.check(same(r.tokens, refs[key(p)]), `new plan, prompt ${i}: equals the whole model (cached_tokens ${r.done.usage.cached_tokens})`);
  }
  const end = await status();
  h.check(end.plan_version === after.plan_version, `the plan stayed v${end.plan_version} while the new plan was checked`);
  h.check(end.prefix_cache.hits > hitsBefore, `the index counted hits on the new plan (${hitsBefore} -> ${end.prefix_cache.hits})`);
  h.check(end.requests.failed === 0, `no request failed (done ${end.requests.done})`);

  await stopAll();
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_prefix_cache_migration');
} catch (e) {
  killWorkers();
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
