// The prefix cache, on vs off, in one run of the real node with three local
// node workers (`small` preset, context 640, uneven plan):
//  1. TTFT of a 512-token shared prefix + 32-token suffix: the prefix is
//     prefilled once, then REPS requests with new suffixes run with the cache
//     and REPS with "cache": false (interleaved); medians and the ratio.
//  2. Multi-turn chat: 8 conversations x 6 turns (24-token user turns, 16-token
//     replies), the 8 conversations concurrent, turns in order; tokens/s and
//     mean TTFT, first with "cache": false, then with the cache (same tokens:
//     greedy, checked).
//  3. Memory the caches hold vs each worker's KV budget (/api/status).
//   node bench/runtime/prefix_bench.mjs BUILD/tessera [REPS=5]
import path from 'node:path';
import fs from 'node:fs';
import * as h from '../../tests/integration/harness.mjs';
import { generate } from '../../tests/integration/generate_client.mjs';

const [tessera, repsArg = '5'] = process.argv.slice(2);
if (!tessera) {
  console.error('usage: node bench/runtime/prefix_bench.mjs TESSERA [REPS=5]');
  process.exit(2);
}
const REPS = Number(repsArg);
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
const dir = h.tmpDir('tessera-prefixbench-');
const modelDir = h.buildModel(tessera, 'small', path.join(dir, 'model'));
// deterministic printable "text" in the presets' byte vocabulary (ids 0..255 are bytes, 256 is BOS)
const BOS = 256;
const tokens = (n, seed) => Array.from({ length: n }, (_, i) => 32 + ((i * 7 + seed * 13) % 90));
const config = h.writeConfig(dir, {
  modelDir, context: 640,
  workers: [{ name: 'big', memory: '200MB' }, { name: 'mid', memory: '160MB' }, { name: 'small', memory: '120MB' }],
});
fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('[workers]', '[planner]\nconcurrent_sequences = 4\n[workers]'));

let node;
try {
  node = await h.startNode(tessera, config, dir);
  const plan = node.status.plan.stages.map((s) => `${s.worker}:[${s.layers[0]},${s.layers[1]})`).join(' ');

  // 1. TTFT, 512 + 32
  const prefix = [BOS, ...tokens(511, 1)];
  await generate(node.port, { prompt_ids: [...prefix, ...tokens(32, 99)], max_tokens: 1 });  // fills the cache
  const ttft = { on: [], off: [] };
  for (let i = 0; i < REPS; ++i)
    for (const mode of ['off', 'on']) {
      const r = await generate(node.port, { prompt_ids: [...prefix, ...tokens(32, 100 + i)], max_tokens: 1, cache: mode === 'on' });
      if (mode === 'on' && r.done.usage.cached_tokens < 512) throw new Error(`cache on forked only ${r.done.usage.cached_tokens} positions`);
      ttft[mode].push(r.done.timings.ttft_ms);
    }
  const ttftOn = median(ttft.on);
  const ttftOff = median(ttft.off);

  // 2. multi-turn chat, 8 conversations x 6 turns
  const chat = async (cache) => {
    const t0 = performance.now();
    const ttfts = [];
    let generated = 0;
    let hits = 0;
    const replies = [];
    await Promise.all(Array.from({ length: 8 }, async (_, c) => {
      let convo = [BOS, ...tokens(24, 1000 + c)];
      for (let turn = 0; turn < 6; ++turn) {
        const r = await generate(node.port, { prompt_ids: convo, max_tokens: 16, cache });
        ttfts.push(r.done.timings.ttft_ms);
        generated += r.tokens.length;
        hits += r.done.usage.cached_tokens > 0 ? 1 : 0;
        replies[c * 6 + turn] = r.tokens;
        convo = [...convo, ...r.tokens, ...tokens(24, 2000 + c * 6 + turn)];
      }
    }));
    const s = (performance.now() - t0) / 1000;
    return { tokens_per_s: generated / s, mean_ttft_ms: mean(ttfts), hits, replies, seconds: s };
  };
  const off = await chat(false);
  const on = await chat(true);
  if (JSON.stringify(on.replies) !== JSON.stringify(off.replies)) throw new Error('chat replies differ with and without the cache');

  // 3. memory, once every worker's Heartbeat says no live sequence is left
  const st = await h.settle(node.port, 'the workers to report no live sequence', 30000,
                            (x) => x.workers.every((w) => (w.worker_kv_sequences ?? 0) === 0),
                            (x) => JSON.stringify(x.workers.map((w) => w.worker_kv_sequences)));
  const mem = st.workers.filter((w) => w.layers).map((w) => ({
    worker: w.name, layers: w.layers, kv_budget: w.cache.kv_budget, kv_bytes: w.cache.kv_bytes,
    cached_bytes: w.cache.cached_bytes, cached_sequences: w.cache.cached_sequences, evictions: w.cache.evictions,
  }));
  const result = {
    plan,
    ttft_512_plus_32: { reps: REPS, on_ms: ttftOn, off_ms: ttftOff, ratio_off_over_on: ttftOff / ttftOn },
    chat_8x6: {
      off: { tokens_per_s: off.tokens_per_s, mean_ttft_ms: off.mean_ttft_ms, seconds: off.seconds },
      on: { tokens_per_s: on.tokens_per_s, mean_ttft_ms: on.mean_ttft_ms, seconds: on.seconds, turns_hit: `${on.hits}/48` },
      tokens_per_s_ratio: on.tokens_per_s / off.tokens_per_s, mean_ttft_ratio_off_over_on: off.mean_ttft_ms / on.mean_ttft_ms,
    },
    memory: mem,
    prefix_cache: st.prefix_cache,
  };
  console.log(JSON.stringify(result, (k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(2)) : v), 2));
  await h.stopNode(node);
  node = null;
  h.removeDir(dir);
} catch (e) {
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
