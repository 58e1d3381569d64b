// Unit tests of the small pure pieces of the core: manifest checks, KV slot
// shapes, sizes, the reference sampler, byte-token display.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateManifest, kvSlots, dataInputs, dataOutputs, hasSampleInputs, ManifestError } from '../core/manifest.mjs';
import { parseBytes } from '../core/worker_core.mjs';
import { sampleToken, randomStream } from '../core/sampler.mjs';
import { escapeTokens, encodeBytes } from '../core/byte_text.mjs';

const stage = (layers, extra = {}) => ({
  file: `stage_${layers[0]}_${layers[1]}.onnx`, layers,
  inputs: [
    { name: 'hidden', dtype: 'float32', shape: ['batch', 'sequence', 64] },
    { name: 'attention_mask', dtype: 'int64', shape: ['batch', 'total'] },
    { name: 'position_ids', dtype: 'int64', shape: ['batch', 'sequence'] },
    { name: `past_key_values.${layers[0]}.key`, dtype: 'float32', shape: ['batch', 2, 'past_sequence', 16] },
    { name: `past_key_values.${layers[0]}.value`, dtype: 'float32', shape: ['batch', 'kv_heads', 'past_sequence', 'head_dim'] },
  ],
  outputs: [{ name: 'out', dtype: 'float32', shape: [] }, { name: `present.${layers[0]}.key`, dtype: 'float32', shape: [] }],
  ...extra,
});

test('a manifest whose stages leave a gap, overlap or miss layers is refused, naming the stage', () => {
  const ok = { model: { num_layers: 4 }, stages: [stage([0, 2]), stage([2, 4])] };
  assert.equal(validateManifest(ok), ok);
  assert.throws(() => validateManifest({ model: { num_layers: 4 }, stages: [stage([0, 2]), stage([3, 4])] }), /stages\[1\].layers \[3,4\] does not start at 2/);
  assert.throws(() => validateManifest({ model: { num_layers: 5 }, stages: [stage([0, 2]), stage([2, 4])] }), /cover \[0, 4\) but the model has 5/);
  assert.throws(() => validateManifest({ model: {}, stages: [] }), ManifestError);
  assert.throws(() => validateManifest({ model: {}, stages: [{ ...stage([0, 1]), file: '' }] }), /stages\[0\].file/);
});

test('KV slots get batch 1, past 0, and symbolic dims from the config', () => {
  const slots = kvSlots(stage([2, 4]), { num_attention_heads: 4, num_key_value_heads: 2, hidden_size: 64 });
  assert.deepEqual(slots.map((s) => [s.past, s.present, s.emptyDims]), [
    ['past_key_values.2.key', 'present.2.key', [1, 2, 0, 16]],
    ['past_key_values.2.value', 'present.2.value', [1, 2, 0, 16]],
  ]);
  assert.throws(() => kvSlots(stage([2, 4]), {}), /past_key_values.2.value dim 1 is symbolic/);
  assert.deepEqual(dataInputs(stage([0, 1])), ['hidden']);
  assert.deepEqual(dataOutputs(stage([0, 1])), ['out']);
  assert.equal(hasSampleInputs(stage([0, 1])), false);
});

test('memory sizes parse with the node config units and bad ones are named', () => {
  assert.equal(parseBytes('2GB'), 2e9);
  assert.equal(parseBytes('512MiB'), 512 * 2 ** 20);
  assert.equal(parseBytes('1.5G'), 1.5e9);
  assert.equal(parseBytes('1.5GiB'), 1.5 * 2 ** 30);
  assert.equal(parseBytes('36MB'), 36e6);  // the node config's units (actors/node_config.cpp)
  assert.equal(parseBytes('1000000'), 1000000);
  assert.equal(parseBytes('64k'), 64000);
  assert.equal(parseBytes('64KiB'), 65536);
  assert.throws(() => parseBytes('64Ki'), /not a size/);
  assert.throws(() => parseBytes('lots'), /'lots' is not a size/);
  assert.throws(() => parseBytes('-1GB'), /not a size/);
});

test('the sampler: greedy at temperature 0, top_k 1 and tiny top_p pick the argmax, random walks the CDF', () => {
  const logits = Float32Array.from([0, 2, 1, 2, -1]);  // tie between 1 and 3: lower index first
  assert.equal(sampleToken(logits, { temperature: 0 }), 1);
  assert.equal(sampleToken(logits, { temperature: 1, top_k: 1, random: 0.99 }), 1);
  assert.equal(sampleToken(logits, { temperature: 1, top_p: 0.01, random: 0.99 }), 1);
  // top_k 2 keeps tokens 1 and 3 with equal mass: random < 0.5 -> 1, else 3
  assert.equal(sampleToken(logits, { temperature: 1, top_k: 2, random: 0.49 }), 1);
  assert.equal(sampleToken(logits, { temperature: 1, top_k: 2, random: 0.51 }), 3);
  // untruncated: random 0 is the most likely token, random near 1 the least likely
  assert.equal(sampleToken(logits, { temperature: 1, random: 0 }), 1);
  assert.equal(sampleToken(logits, { temperature: 1, random: 0.99999 }), 4);
  // frequencies follow softmax(l / T)
  const next = randomStream(7);
  const counts = new Array(5).fill(0);
  for (let i = 0; i < 20000; ++i) counts[sampleToken(logits, { temperature: 2, random: next() })]++;
  const z = [0, 2, 1, 2, -1].map((l) => Math.exp(l / 2));
  const sum = z.reduce((a, b) => a + b);
  z.forEach((p, i) => assert.ok(Math.abs(counts[i] / 20000 - p / sum) < 0.02, `token ${i}: ${counts[i] / 20000} vs ${p / sum}`));
});

test('the random stream is reproducible, in [0, 1) and float32-exact', () => {
  const a = randomStream(42);
  const b = randomStream(42);
  for (let i = 0; i < 1000; ++i) {
    const x = a();
    assert.equal(x, b());
    assert.ok(x >= 0 && x < 1);
    assert.equal(x, Math.fround(x));
  }
});

test('byte tokens display printable ASCII and escape the rest', () => {
  assert.equal(escapeTokens([256, ...encodeBytes('a\\b\n'), 0x00, 0xff, 257, 300]), '<bos>a\\\\b\\n\\x00\\xff<eos><300>');
  assert.deepEqual(encodeBytes('é'), [0xc3, 0xa9]);
});

test('re-plan lines name what moved, say "you" for this worker, and the history keeps the newest 20', async () => {
  const { describePlanNews, ReplanHistory } = await import('../core/plan_news.mjs');
  const news = {
    plan_version: 5, why: 'worker 2 (old) left; lost stages given to idle workers',
    stages: [
      { worker_id: 1, worker_name: 'a', layer_begin: 0, layer_end: 4, had_previous: true, previous_begin: 0, previous_end: 4 },
      { worker_id: 3, worker_name: 'b', layer_begin: 4, layer_end: 8, had_previous: false },
    ],
    dropped: [2],
  };
  assert.equal(describePlanNews(news, 3),
    'plan v5 — worker 2 (old) left; lost stages given to idle workers · worker 1 (a): kept [0,4) · you: new [4,8) · dropped: worker 2');
  assert.equal(describePlanNews(news, 9, new Map([['2', 'old']])).endsWith('dropped: worker 2 (old) · you: idle'), true);
  assert.equal(describePlanNews({ ...news, plan_version: 6 }, 2).split(' · ').at(-1), 'dropped: you');
  const h = new ReplanHistory();
  h.add({ plan_version: 1, why: 'first plan', stages: [{ worker_id: 2, worker_name: 'old', layer_begin: 0, layer_end: 8 }], dropped: [] }, 1);
  assert.match(h.add(news, 1).text, /dropped: worker 2 \(old\)/);  // named from the earlier plan
  for (let v = 6; v < 40; ++v) h.add({ plan_version: v, why: `v${v}`, stages: [], dropped: [] }, 1);
  const list = h.list();
  assert.equal(list.length, 20);
  assert.equal(list[0].version, 39);
  assert.equal(list.at(-1).version, 20);
});
