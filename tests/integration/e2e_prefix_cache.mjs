// The prefix cache end to end: the real `tessera node` with three local node
// workers on 127.0.0.1, requests over /ws/generate with prompt_ids.
//  - replies with the cache equal the whole model (onnxruntime-node) and the
//    same requests with "cache": false, greedy and seeded sampling, and usage
//    reports the cached tokens;
//  - a multi-turn chat forks the previous turn's KV on every turn;
//  - concurrent requests sharing a new prefix: the prefix is computed once,
//    the others wait for the first's prefill (prefix_cache.waits) or fork it;
//  - the worker serving the most layers is SIGKILLed: its entries go, the new
//    plan serves, the hottest lost prefix is rebuilt in the background, and the
//    next turn hits the cache with the reference reply; a worker that lost its
//    cache (the restarted one) gives misses, never a wrong answer;
//  - a second node with a tight [cache] kv_budget: workers evict (never over
//    budget) and every reply still equals the reference.
//   node e2e_prefix_cache.mjs TESSERA_BINARY [PRESET]
import path from 'node:path';
import fs from 'node:fs';
import * as h from './harness.mjs';
import { generate } from './generate_client.mjs';

const { encodeBytes, BOS, EOS } = await import(path.join(h.repoRoot, 'webworker', 'core', 'byte_text.mjs'));

const [tessera, preset = 'small'] = process.argv.slice(2);
h.watchdog(840000, 'e2e_prefix_cache');
const dir = h.tmpDir('tessera-prefix-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const BLOCK = 16;
const MAX = 12;
// four workers: any three still hold the model (274 MB with KV and scratch) after one is killed
const workers = [{ name: 'big', memory: '200MB' }, { name: 'mid', memory: '160MB' }, { name: 'mid2', memory: '160MB' },
                 { name: 'small', memory: '120MB' }];

const ids = (text) => [BOS, ...encodeBytes(text)];
const key = (a) => JSON.stringify(a);
const same = (a, b) => key(a) === key(b);
const shared = ids('In the beginning the workers kept what they had computed, and the later requests ');
const prompts = ['asked for more.', 'forked it.', 'came back again and again'].map((s) => [...shared, ...encodeBytes(s)]);

function writeCacheConfig(sub, cache, restart) {
  const d = path.join(dir, sub);
  fs.mkdirSync(d, { recursive: true });
  const file = h.writeConfig(d, { modelDir, workers, context: 256, restart });
  const lines = ['[cache]', `block_tokens = ${BLOCK}`, ...Object.entries(cache).map(([k, v]) => `${k} = ${v}`)];
  const text = fs.readFileSync(file, 'utf8').replace('[workers]', `${lines.join('\n')}\n[workers]`);
  fs.writeFileSync(file, text);
  return { file, dir: d };
}

const status = (node) => h.getJson(node.port, '/api/status');

let node;
let tight;
try {
  // The multi-turn chat's turns are only known as they are generated: the
  // reference runs per turn (refsFor), the other prompts in one go here.
  const refs = h.reference(modelDir, MAX, Object.fromEntries(prompts.map((p) => [key(p), p])), EOS);
  const refsFor = (p) => h.reference(modelDir, MAX, { [key(p)]: p }, EOS)[key(p)];
  // no restart: the plan after the kill stays put while the rebuild is checked
  const cfg = writeCacheConfig('main', { rebuild_top: 16 }, 'never');
  node = await h.startNode(tessera, cfg.file, cfg.dir);
  h.check(node.status.prefix_cache?.enabled === true && node.status.prefix_cache.block_tokens === BLOCK,
          '/api/status shows the prefix cache (enabled, 16-token blocks)');

  // 1. identical with and without the cache, greedy and sampled
  for (const [i, p] of prompts.entries()) {
    const off = await generate(node.port, { prompt_ids: p, max_tokens: MAX, cache: false });
    const on = await generate(node.port, { prompt_ids: p, max_tokens: MAX });
    h.check(same(off.tokens, refs[key(p)]) && same(on.tokens, refs[key(p)]),
            `prompt ${i}: greedy with and without the cache equals the whole model (${on.tokens.length} tokens)`);
    h.check(off.done.usage.cached_tokens === 0, `prompt ${i}: "cache": false forks nothing`);
    if (i > 0) {
      const want = Math.floor(shared.length / BLOCK) * BLOCK;
      h.check(on.done.usage.cached_tokens >= want,
              `prompt ${i}: the shared prefix comes from the cache (cached_tokens ${on.done.usage.cached_tokens} >= ${want})`);
    }
  }
  const sampling = { max_tokens: MAX, temperature: 0.9, top_k: 40, top_p: 0.95, seed: 77 };
  const sOff = await generate(node.port, { prompt_ids: prompts[1], ...sampling, cache: false });
  const sOn = await generate(node.port, { prompt_ids: prompts[1], ...sampling });
  h.check(sOn.done.usage.cached_tokens > 0 && same(sOn.tokens, sOff.tokens),
          `seeded sampling from a cached prefix equals the uncached run (${sOn.tokens.length} tokens)`);

  // 2. multi-turn chat: every turn forks the previous turn's KV
  let convo = ids('User: Tell me about the workers.\nAssistant:');
  let prevLen = 0;
  for (let turn = 0; turn < 4; ++turn) {
    const r = await generate(node.port, { prompt_ids: convo, max_tokens: MAX });
    h.check(same(r.tokens, refsFor(convo)), `turn ${turn}: the reply equals the whole model`);
    if (turn > 0) {
      const want = Math.floor(prevLen / BLOCK) * BLOCK;
      h.check(r.done.usage.cached_tokens >= want,
              `turn ${turn}: hits the cache (cached_tokens ${r.done.usage.cached_tokens} >= ${want} of ${convo.length})`);
    }
    prevLen = convo.length;
    convo = [...convo, ...r.tokens, ...encodeBytes(`\nUser: and turn ${turn + 1}?\nAssistant:`)];
  }

  // 3. concurrent requests sharing a new prefix: one prefill, the others wait and fork
  const fresh = ids('Four requests arrive together and share this fresh prefix of well over two blocks, ');
  const together = ['one', 'two', 'three', 'four'].map((s) => [...fresh, ...encodeBytes(s)]);
  const waitsBefore = (await status(node)).prefix_cache.waits;
  const sequential = [];
  for (const p of together) sequential.push((await generate(node.port, { prompt_ids: p, max_tokens: MAX, cache: false })).tokens);
  const parallel = await Promise.all(together.map((p) => generate(node.port, { prompt_ids: p, max_tokens: MAX })));
  parallel.forEach((r, i) => h.check(same(r.tokens, sequential[i]), `concurrent request ${i} equals its uncached reply`));
  const forked = parallel.filter((r) => r.done.usage.cached_tokens >= Math.floor(fresh.length / BLOCK) * BLOCK).length;
  const waits = (await status(node)).prefix_cache.waits - waitsBefore;
  // the ones that arrived while the first's prefill ran waited for it (prefix_cache.waits); any later forked it
  h.check(forked >= 3, `the shared prefix was computed once: ${forked} of 4 forked it, ${waits} waited for its prefill`);

  // 4. the worker serving the most layers is killed: its entries go, the hottest prefix is rebuilt
  let s = await status(node);
  const biggest = s.plan.stages.reduce((a, b) => (b.layers[1] - b.layers[0] > a.layers[1] - a.layers[0] ? b : a));
  const victim = s.workers.find((w) => String(w.id) === String(biggest.worker));
  h.check(victim.cache.entries > 0 && victim.cache.cached_sequences > 0,
          `worker ${victim.name} holds ${victim.cache.entries} index entries, ${victim.cache.cached_sequences} cached sequences (${victim.cache.cached_bytes} bytes)`);
  const pid = h.workerPid(node.child.pid, victim.name);
  process.kill(pid, 'SIGKILL');
  s = await h.settle(node.port, 'a new plan without the killed worker and a rebuilt prefix', 120000,
                     (st) => st.ready && !st.plan.stages.some((x) => String(x.worker) === String(victim.id)) &&
                       st.prefix_cache.rebuilds >= 1 && st.prefix_cache.rebuild_queue === 0,
                     (st) => `ready=${st.ready} rebuilds=${st.prefix_cache?.rebuilds} failures=${st.prefix_cache?.rebuild_failures} queue=${st.prefix_cache?.rebuild_queue}`);
  h.check(!s.workers.some((w) => String(w.id) === String(victim.id) && w.cache.entries > 0), 'the killed worker has no entries left');
  const rebuiltOn = s.workers.filter((w) => w.cache.rebuilds > 0).map((w) => w.name);
  h.check(rebuiltOn.length > 0, `a lost prefix was rebuilt on the new plan (on ${rebuiltOn.join(', ')})`);
  const r = await generate(node.port, { prompt_ids: convo, max_tokens: MAX });
  h.check(same(r.tokens, refsFor(convo)), 'after the kill the next turn equals the whole model');
  h.check(r.done.usage.cached_tokens >= Math.floor(prevLen / BLOCK) * BLOCK,
          `after the kill the next turn hits the rebuilt cache (cached_tokens ${r.done.usage.cached_tokens})`);
  // prompts whose entries lived on the killed worker: misses or forks, never a wrong reply
  for (const [i, p] of prompts.entries()) {
    const again = await generate(node.port, { prompt_ids: p, max_tokens: MAX });
    h.check(same(again.tokens, refs[key(p)]), `after the kill prompt ${i} equals the whole model (cached_tokens ${again.done.usage.cached_tokens})`);
  }
  await h.stopNode(node);
  node = null;

  // 5. a tight budget: evictions, never over budget, never a wrong reply; a worker
  // killed and restarted (its cache lost) gives misses, never a wrong reply
  const small = writeCacheConfig('tight', { kv_budget: '"4MB"' }, 'always');
  const many = [...prompts, ...together, ids('A last prompt that again needs room of its own in the cache.')];
  const tightRefs = { ...refs };
  // before the node starts: a long silence would let the gateway close the
  // keep-alive connection the readiness polls left in Node's HTTP agent
  for (const p of many) if (!tightRefs[key(p)]) tightRefs[key(p)] = refsFor(p);
  tight = await h.startNode(tessera, small.file, small.dir);
  let maxOver = 0;
  const sample = async () => {
    for (const w of (await status(tight)).workers)
      if (w.cache.kv_budget > 0) maxOver = Math.max(maxOver, w.cache.kv_bytes - w.cache.kv_budget);
  };
  for (let round = 0; round < 3; ++round) {
    if (round === 2) {
      const st = await status(tight);
      const w = st.workers.find((x) => st.plan.stages.some((y) => String(y.worker) === String(x.id)));
      process.kill(h.workerPid(tight.child.pid, w.name), 'SIGKILL');
      console.log(`# killed ${w.name}; the node restarts it without its cache`);
    }
    for (const [i, p] of many.entries()) {
      const out = await generate(tight.port, { prompt_ids: p, max_tokens: MAX });
      h.check(same(out.tokens, tightRefs[key(p)]), `tight budget, round ${round}, prompt ${i}: equals the whole model`);
      await sample();
    }
  }
  s = await h.settle(tight.port, 'heartbeats report the evictions', 10000,
                     (st) => st.workers.some((w) => w.cache.evictions > 0), (st) => JSON.stringify(st.workers.map((w) => w.cache)));
  const evictions = s.workers.reduce((a, w) => a + w.cache.evictions, 0);
  h.check(evictions > 0, `workers evicted ${evictions} cached sequences to stay within 4 MB`);
  h.check(maxOver <= 0, `no worker ever reported more KV than its budget (max excess ${maxOver} bytes)`);
  await h.stopNode(tight);
  tight = null;
  h.removeDir(dir);
  console.log('PASS e2e_prefix_cache');
} catch (e) {
  await h.fail(e, dir, { nodes: [node, tight] });
}
process.exit(0);
