#!/usr/bin/env node
// Greedy generation through the chained stages of a split and through the whole
// model, in onnxruntime-node; prints both texts, whether they match, and timings.
// Exit status: 0 match, 1 mismatch or error, 2 usage.
//
//   node webworker/tools/chain_demo.mjs --model DIR --split DIR [--prompt TEXT]
//        [--tokens N] [--threads N]
//   node webworker/tools/chain_demo.mjs MODEL_DIR SPLIT_DIR     (same, defaults)
import { parseArgs } from 'node:util';
import path from 'node:path';
import { loadPipeline, loadWholeModel } from '../node/ort_node.mjs';
import { argmaxRow } from '../core/pipeline.mjs';
import { encodeBytes, escapeTokens, BOS, EOS } from '../core/byte_text.mjs';

const usage = 'usage: chain_demo.mjs --model DIR --split DIR [--prompt TEXT] [--tokens N] [--threads N]';

function parse() {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        model: { type: 'string' }, split: { type: 'string' }, prompt: { type: 'string' },
        tokens: { type: 'string' }, threads: { type: 'string' }, help: { type: 'boolean' },
      },
    });
  } catch (e) {
    console.error(`${e.message}\n${usage}`);
    process.exit(2);
  }
  const { values: v, positionals: p } = parsed;
  if (v.help) { console.log(usage); process.exit(0); }
  const model = v.model ?? p[0];
  const split = v.split ?? p[1];
  if (!model || !split) { console.error(usage); process.exit(2); }
  const int = (name, s, dflt) => {
    if (s === undefined) return dflt;
    const n = Number(s);
    if (!Number.isInteger(n) || n <= 0) { console.error(`--${name} expects a positive integer, got '${s}'\n${usage}`); process.exit(2); }
    return n;
  };
  return {
    model, split, prompt: v.prompt ?? 'The quick brown fox', tokens: int('tokens', v.tokens, 32),
    threads: int('threads', v.threads, undefined),
  };
}

// Greedy decode; `pick` reads the next token from the last stage's outputs.
async function generate(pipeline, promptIds, n) {
  const out = [];
  let position = 0;
  let input = promptIds;
  const t0 = performance.now();
  let prefillMs = 0;
  for (let i = 0; i < n; ++i) {
    const { outputs } = await pipeline.step('demo', { position, tokenIds: input });
    const next = outputs.next_token ? Number(outputs.next_token.data[0]) : argmaxRow(outputs.logits);
    if (i === 0) prefillMs = performance.now() - t0;
    out.push(next);
    position += input.length;
    input = [next];
    if (next === EOS) break;
  }
  pipeline.release('demo');
  const totalMs = performance.now() - t0;
  const perToken = out.length > 1 ? (totalMs - prefillMs) / (out.length - 1) : 0;
  return { tokens: out, prefillMs, perToken };
}

async function main() {
  const a = parse();
  const promptIds = [BOS, ...encodeBytes(a.prompt)];
  const opts = { threads: a.threads };
  const { manifest, pipeline: chained } = await loadPipeline(path.resolve(a.split), opts);
  const { pipeline: whole } = await loadWholeModel(path.resolve(a.model), opts);
  const plan = manifest.stages.map((s) => `[${s.layers[0]},${s.layers[1]})`).join(' ');
  console.log(`model  ${manifest.model.name ?? a.model}: ${manifest.model.num_layers ?? '?'} layers, head=${manifest.head}`);
  console.log(`stages ${manifest.stages.length}: ${plan}`);
  console.log(`prompt "${a.prompt}" (${promptIds.length} tokens), generating ${a.tokens}`);
  // warm-up (first runs allocate and tune kernels), then time each
  for (const p of [chained, whole]) {
    await p.step('warm', { position: 0, tokenIds: promptIds });
    p.release('warm');
  }
  const c = await generate(chained, promptIds, a.tokens);
  const w = await generate(whole, promptIds, a.tokens);
  const same = c.tokens.length === w.tokens.length && c.tokens.every((t, i) => t === w.tokens[i]);
  console.log(`chained: "${escapeTokens(c.tokens)}"`);
  console.log(`whole:   "${escapeTokens(w.tokens)}"`);
  console.log(`ids chained: ${c.tokens.join(' ')}`);
  console.log(`timing chained: prefill ${c.prefillMs.toFixed(1)} ms, ${c.perToken.toFixed(2)} ms/token; ` +
              `whole: prefill ${w.prefillMs.toFixed(1)} ms, ${w.perToken.toFixed(2)} ms/token; ` +
              `ratio chained/whole ${(w.perToken > 0 ? c.perToken / w.perToken : 0).toFixed(2)}`);
  console.log(same ? `MATCH: ${c.tokens.length} tokens identical` : 'MISMATCH: chained tokens differ from the whole model');
  await chained.dispose();
  await whole.dispose();
  return same ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => {
  console.error(`chain_demo: ${e.message}`);
  process.exit(1);
});
