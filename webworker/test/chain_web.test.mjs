// The same chaining in onnxruntime-web (WASM backend, under Node): the stages of
// the 3-uneven plan, loaded from bytes with their external data passed by name
// (as the browser does), give logits within 1e-4 of the whole model run in
// onnxruntime-node at every step, and the greedy head its argmax tokens.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import * as ortWeb from 'onnxruntime-web';
import { loadWholeModel, readManifest } from '../node/ort_node.mjs';
import { StageRunner } from '../core/stage_runner.mjs';
import { Pipeline, argmaxRow } from '../core/pipeline.mjs';
import { createWebSession } from '../core/web_session.mjs';
import { encodeBytes, BOS } from '../core/byte_text.mjs';
import { splitDir } from '../testing/plans.mjs';

const MODELS = process.env.TESSERA_MODELS;
const NAME = process.env.TESSERA_WEB_MODEL ?? 'tiny';
const DECODE = 32;
const TOL = 1e-4;
const PROMPT = [BOS, ...encodeBytes('Web workers run stages too. ')];
const skip = !MODELS ? 'TESSERA_MODELS not set (run through ctest, which builds the models)' : false;

ortWeb.env.wasm.numThreads = 1;

async function loadWebPipeline(dir) {
  const manifest = readManifest(dir);
  const runners = [];
  for (const s of manifest.stages) {
    const files = [{ name: s.file, bytes: readFileSync(path.join(dir, s.file)) }];
    if (s.data_file && existsSync(path.join(dir, s.data_file)))
      files.push({ name: s.data_file, bytes: readFileSync(path.join(dir, s.data_file)) });
    const session = await createWebSession(ortWeb, files, { executionProviders: ['wasm'] });
    runners.push(new StageRunner(ortWeb, session, s, { config: manifest.model.config ?? {} }));
  }
  return new Pipeline(ortWeb, runners);
}

describe(`onnxruntime-web (WASM) chaining of '${NAME}', plan three_uneven`, { skip }, () => {
  let whole;
  const ref = { tokens: [], logits: [] };

  before(async () => {
    whole = (await loadWholeModel(path.join(MODELS, NAME))).pipeline;
    let position = 0;
    let input = PROMPT;
    for (let step = 0; step <= DECODE; ++step) {
      const { outputs } = await whole.step(0, { position, tokenIds: input });
      ref.logits.push(outputs.logits);
      const next = argmaxRow(outputs.logits);
      ref.tokens.push(next);
      position += input.length;
      input = [next];
    }
  });
  after(async () => { await whole?.dispose(); });

  test('logits within 1e-4 of the whole model (onnxruntime-node) at every step', async () => {
    const p = await loadWebPipeline(splitDir(MODELS, NAME, 'three_uneven', 'logits'));
    let worst = 0;
    let position = 0;
    let input = PROMPT;
    for (let step = 0; step <= DECODE; ++step) {
      const { outputs } = await p.step(0, { position, tokenIds: input });
      const a = outputs.logits;
      const b = ref.logits[step];
      assert.deepEqual(a.dims, b.dims);
      let d = 0;
      for (let i = 0; i < a.data.length; ++i) d = Math.max(d, Math.abs(a.data[i] - b.data[i]));
      assert.ok(d <= TOL, `step ${step}: max |logit diff| ${d}`);
      worst = Math.max(worst, d);
      position += input.length;
      input = [ref.tokens[step]];
    }
    console.log(`# web three_uneven logits max diff ${worst.toExponential(2)}`);
    await p.dispose();
  });

  test('greedy head tokens equal the whole model argmax over a 32-token decode', async () => {
    const p = await loadWebPipeline(splitDir(MODELS, NAME, 'three_uneven', 'greedy'));
    const tokens = [];
    let position = 0;
    let input = PROMPT;
    for (let step = 0; step <= DECODE; ++step) {
      const { outputs } = await p.step(0, { position, tokenIds: input });
      const next = Number(outputs.next_token.data[0]);
      tokens.push(next);
      position += input.length;
      input = [next];
    }
    assert.deepEqual(tokens, ref.tokens);
    await p.dispose();
  });
});
