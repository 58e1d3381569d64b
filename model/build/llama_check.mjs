// Numerical self-check of a model directory written by `tessera model build`,
// in onnxruntime-node (from webworker/node_modules):
//   node model/build/llama_check.mjs DIR [--prompt-len N]
// 1. the model loads and runs; logits are finite and not constant;
// 2. one full pass over a prompt == token-by-token decode through the KV cache
//    (last-position logits, max abs diff reported, must be < 1e-4);
// 3. a two-chunk prefill matches as well;
// 4. left padding: a padded row (attention_mask 0, position_ids from the mask)
//    gives the same last logits as the unpadded prompt alone.
// Exit code 0 = all checks pass. Reusable: `import { runModel, emptyPast } from`.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(new URL('../../webworker/package.json', import.meta.url));
const ort = require('onnxruntime-node');

export function readConfig(dir) {
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
}

export function emptyPast(cfg, batch) {
  const past = {};
  for (let i = 0; i < cfg.num_hidden_layers; ++i) {
    for (const kv of ['key', 'value'])
      past[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0),
        [batch, cfg.num_key_value_heads, 0, cfg.head_dim]);
  }
  return past;
}

// Runs one step: ids [batch][seq] (arrays of numbers), mask [batch][total], positions [batch][seq].
export async function runModel(session, cfg, ids, mask, positions, past) {
  const batch = ids.length, seq = ids[0].length, total = mask[0].length;
  const i64 = (rows) => BigInt64Array.from(rows.flat().map((v) => BigInt(v)));
  const feeds = {
    input_ids: new ort.Tensor('int64', i64(ids), [batch, seq]),
    attention_mask: new ort.Tensor('int64', i64(mask), [batch, total]),
    position_ids: new ort.Tensor('int64', i64(positions), [batch, seq]),
    ...past,
  };
  const out = await session.run(feeds);
  const present = {};
  for (let i = 0; i < cfg.num_hidden_layers; ++i) {
    for (const kv of ['key', 'value']) present[`past_key_values.${i}.${kv}`] = out[`present.${i}.${kv}`];
  }
  return { logits: out.logits, present };
}

// Logits of row b at position s, as a Float32Array of vocab values.
export function logitsAt(logits, b, s) {
  const [, seq, vocab] = logits.dims;
  const off = (b * seq + s) * vocab;
  return logits.data.subarray(off, off + vocab);
}

export function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);

async function main() {
  const args = process.argv.slice(2);
  const dir = args[0];
  if (!dir) {
    console.error('usage: node model/build/llama_check.mjs MODEL_DIR [--prompt-len N]');
    process.exit(2);
  }
  const n = args.includes('--prompt-len') ? Number(args[args.indexOf('--prompt-len') + 1]) : 12;
  const cfg = readConfig(dir);
  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
  const prompt = range(0, n).map((i) => (i * 37 + 11) % Math.min(cfg.vocab_size, 256));
  let failed = false;
  const check = (what, diff, tol = 1e-4) => {
    const ok = diff < tol;
    if (!ok) failed = true;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}: max abs diff ${diff.toExponential(3)}`);
  };

  const full = await runModel(session, cfg, [prompt], [prompt.map(() => 1)], [range(0, n)], emptyPast(cfg, 1));
  const last = logitsAt(full.logits, 0, n - 1);
  let lo = Infinity, hi = -Infinity, finite = true;
  for (const v of full.logits.data) {
    if (!Number.isFinite(v)) finite = false;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  console.log(`${finite && hi > lo ? 'ok  ' : 'FAIL'} full pass: logits ${full.logits.dims} in [${lo.toFixed(3)}, ${hi.toFixed(3)}]`);
  if (!finite || !(hi > lo)) failed = true;

  // Token by token through the KV cache.
  let past = emptyPast(cfg, 1);
  let worst = 0;
  for (let t = 0; t < n; ++t) {
    const step = await runModel(session, cfg, [[prompt[t]]], [range(0, t + 1).map(() => 1)], [[t]], past);
    past = step.present;
    worst = Math.max(worst, maxAbsDiff(logitsAt(step.logits, 0, 0), logitsAt(full.logits, 0, t)));
  }
  check(`token-by-token KV decode vs full pass (all ${n} positions)`, worst);

  // Two chunks.
  const cut = Math.floor(n / 2);
  const a = await runModel(session, cfg, [prompt.slice(0, cut)], [range(0, cut).map(() => 1)], [range(0, cut)], emptyPast(cfg, 1));
  const b = await runModel(session, cfg, [prompt.slice(cut)], [prompt.map(() => 1)], [range(cut, n)], a.present);
  check(`prefill ${cut} + ${n - cut} vs full pass (last position)`, maxAbsDiff(logitsAt(b.logits, 0, n - 1 - cut), last));

  // Left padding in a batch of two: row 0 = 3 pads + prompt[3..], row 1 = prompt.
  const pad = 3;
  const short = prompt.slice(pad);
  const alone = await runModel(session, cfg, [short], [short.map(() => 1)], [range(0, short.length)], emptyPast(cfg, 1));
  const padId = cfg.pad_token_id ?? 0;
  const ids = [[...Array(pad).fill(padId), ...short], prompt];
  const mask = [[...Array(pad).fill(0), ...short.map(() => 1)], prompt.map(() => 1)];
  const pos = [[...Array(pad).fill(0), ...range(0, short.length)], range(0, n)];
  const batched = await runModel(session, cfg, ids, mask, pos, emptyPast(cfg, 2));
  check('left-padded row vs unpadded prompt (last position)',
    maxAbsDiff(logitsAt(batched.logits, 0, n - 1), logitsAt(alone.logits, 0, short.length - 1)));
  check('unpadded row of the batch vs single full pass', maxAbsDiff(logitsAt(batched.logits, 1, n - 1), last));
  // Padded decode step after the batch prefill.
  const next = [[5], [5]];
  const step = await runModel(session, cfg, next, mask.map((r) => [...r, 1]), [[short.length], [n]], batched.present);
  const alone2 = await runModel(session, cfg, [[5]], [[...short.map(() => 1), 1]], [[short.length]], alone.present);
  check('padded batch decode step vs unpadded', maxAbsDiff(logitsAt(step.logits, 0, 0), logitsAt(alone2.logits, 0, 0)));

  let argmax = 0;
  for (let i = 1; i < last.length; ++i) if (last[i] > last[argmax]) argmax = i;
  console.log(`last-position argmax ${argmax}, logit ${last[argmax].toFixed(4)}`);
  process.exit(failed ? 1 : 0);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
