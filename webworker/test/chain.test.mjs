// Chaining the cutter's stages in onnxruntime-node reproduces the whole model:
// for every plan (1 stage, 2 equal, 3 uneven, one stage per layer) on each model
// in TESSERA_CHAIN_MODELS (built and split by the ctest fixtures into
// TESSERA_MODELS, see tests/js/CMakeLists.txt):
//  - logits within 1e-4 of model.onnx at every step (prompt prefill + 32 decode steps),
//  - the greedy head gives the whole model's argmax tokens over a 32-token decode,
//  - the sample head with a fixed random stream gives the same tokens chained as
//    unsplit, and the same as a JavaScript sampler on the whole model's logits,
//  - truncating the KV to a position and replaying (or forking the prefix into
//    a new sequence) gives the same tokens.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadPipeline, loadWholeModel, readConfig } from '../node/ort_node.mjs';
import { argmaxRow } from '../core/pipeline.mjs';
import { encodeBytes, escapeTokens, BOS } from '../core/byte_text.mjs';
import { sampleToken, randomStream } from '../core/sampler.mjs';
import { plansFor, splitDir } from '../testing/plans.mjs';

const MODELS = process.env.TESSERA_MODELS;
const NAMES = (process.env.TESSERA_CHAIN_MODELS ?? 'tiny').split(',').filter(Boolean);
const DECODE = 32;
const TOL = 1e-4;
const PROMPT = [BOS, ...encodeBytes('Tessera cuts models into stages. ')];
const SAMPLING = { temperature: 0.8, top_k: 40, top_p: 0.95 };

const skip = !MODELS ? 'TESSERA_MODELS not set (run through ctest, which builds the models)' : false;

function maxAbsDiff(a, b) {
  assert.deepEqual(a.dims, b.dims, 'logits shapes differ');
  let m = 0;
  for (let i = 0; i < a.data.length; ++i) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}

// Greedy decode with teacher-forced tokens (when `forced` is given) on a logits
// pipeline: returns { tokens, logits: [per step tensor] }.
async function runLogits(pipeline, seq, forced) {
  const tokens = [];
  const logits = [];
  let position = 0;
  let input = PROMPT;
  for (let step = 0; step <= DECODE; ++step) {
    const { outputs } = await pipeline.step(seq, { position, tokenIds: input });
    logits.push(outputs.logits);
    const next = forced ? forced[step] : argmaxRow(outputs.logits);
    tokens.push(next);
    position += input.length;
    input = [next];
  }
  return { tokens: tokens.slice(0, DECODE + 1), logits };
}

// Token-head decode: the last stage returns next_token.
async function runTokens(pipeline, seq, { randoms, from = 0, prefix = [] } = {}) {
  const tokens = [...prefix];
  let position = from === 0 ? 0 : PROMPT.length + from - 1;
  let input = from === 0 ? PROMPT : [tokens[from - 1]];
  for (let step = from; step <= DECODE; ++step) {
    const sampling = randoms ? { ...SAMPLING, random: randoms[step] } : undefined;
    const { outputs } = await pipeline.step(seq, { position, tokenIds: input, sampling });
    const next = Number(outputs.next_token.data[0]);
    tokens.push(next);
    position += input.length;
    input = [next];
  }
  return tokens;
}

for (const name of NAMES) {
  describe(`chained stages of '${name}' match the whole model`, { skip }, () => {
    const modelDir = MODELS ? path.join(MODELS, name) : '';
    let whole;
    let reference;  // { tokens, logits } from the whole model, greedy
    let plans = {};
    const report = [];

    before(async () => {
      if (!existsSync(path.join(modelDir, 'model.onnx'))) throw new Error(`${modelDir}/model.onnx missing (fixture did not run?)`);
      plans = plansFor(readConfig(modelDir).num_hidden_layers);
      whole = (await loadWholeModel(modelDir)).pipeline;
      reference = await runLogits(whole, 'ref');
    });
    after(async () => {
      await whole?.dispose();
      if (report.length) console.log(`# ${name}: ${report.join('; ')}`);
    });

    test('the reference decode is not degenerate (several distinct tokens)', () => {
      assert.ok(new Set(reference.tokens).size >= 3, `reference tokens: ${escapeTokens(reference.tokens)}`);
    });

    for (const plan of ['one', 'two_equal', 'three_uneven', 'per_layer']) {
      test(`${plan}: logits within ${TOL} at every step`, async (t) => {
        if (!plans[plan]) return t.skip(`model has too few layers for ${plan}`);
        const { pipeline, manifest } = await loadPipeline(splitDir(MODELS, name, plan, 'logits'));
        try {
          assert.equal(manifest.stages.length, plans[plan].split(',').length);
          const got = await runLogits(pipeline, 1, reference.tokens);
          let worst = 0;
          got.logits.forEach((l, step) => {
            const d = maxAbsDiff(l, reference.logits[step]);
            worst = Math.max(worst, d);
            assert.ok(d <= TOL, `step ${step}: max |logit diff| ${d} > ${TOL}`);
          });
          report.push(`${plan} logits max diff ${worst.toExponential(2)}`);
        } finally {
          await pipeline.dispose();
        }
      });

      test(`${plan}: greedy head gives the whole model's argmax tokens`, async (t) => {
        if (!plans[plan]) return t.skip(`model has too few layers for ${plan}`);
        const { pipeline } = await loadPipeline(splitDir(MODELS, name, plan, 'greedy'));
        try {
          const tokens = await runTokens(pipeline, 7);
          assert.equal(escapeTokens(tokens), escapeTokens(reference.tokens));
          assert.deepEqual(tokens, reference.tokens);
        } finally {
          await pipeline.dispose();
        }
      });
    }

    test('three_uneven: truncating the KV and replaying, or forking a prefix, gives the same tokens', async () => {
      const { pipeline } = await loadPipeline(splitDir(MODELS, name, 'three_uneven', 'greedy'));
      try {
        const first = await runTokens(pipeline, 'a');
        const cut = 10;
        pipeline.truncate('a', PROMPT.length + cut - 1);
        const again = await runTokens(pipeline, 'a', { from: cut, prefix: first.slice(0, cut) });
        assert.deepEqual(again, first);
        assert.throws(() => pipeline.truncate('never-seen', 3), /holds 0 positions/);
        // a forked prefix (KV copied up to a position) continues like the original
        pipeline.fork('a', 'b', PROMPT.length + cut - 1);
        pipeline.release('a');
        const forked = await runTokens(pipeline, 'b', { from: cut, prefix: first.slice(0, cut) });
        assert.deepEqual(forked, first);
      } finally {
        await pipeline.dispose();
      }
    });

    test('sample head: chained equals unsplit equals the JS sampler on whole-model logits', async () => {
      const next = randomStream(1234);
      const randoms = Array.from({ length: DECODE + 1 }, next);
      const one = await loadPipeline(splitDir(MODELS, name, 'one', 'sample'));
      const three = await loadPipeline(splitDir(MODELS, name, 'three_uneven', 'sample'));
      try {
        const unsplit = await runTokens(one.pipeline, 's', { randoms });
        const chained = await runTokens(three.pipeline, 's', { randoms });
        assert.deepEqual(chained, unsplit);
        // JS reference sampler over the whole model's logits
        const js = [];
        let position = 0;
        let input = PROMPT;
        for (let step = 0; step <= DECODE; ++step) {
          const { outputs } = await whole.step('js', { position, tokenIds: input });
          const l = outputs.logits;
          const vocab = l.dims[2];
          const row = l.data.subarray((l.dims[1] - 1) * vocab, l.dims[1] * vocab);
          const tok = sampleToken(row, { ...SAMPLING, random: randoms[step] });
          js.push(tok);
          position += input.length;
          input = [tok];
        }
        whole.release('js');
        assert.deepEqual(unsplit, js);
        assert.ok(new Set(unsplit).size >= 3, 'sampled tokens are degenerate');
        report.push(`sampled ${escapeTokens(unsplit).slice(0, 40)}`);
      } finally {
        await one.pipeline.dispose();
        await three.pipeline.dispose();
      }
    });
  });
}
