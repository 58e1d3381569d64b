// The shipped default model (models/kjv-bierce-19m) imported with
// `tessera model build --from-hf` computes what PyTorch computes: the tokenizer
// gives the Python tokenizer's ids for the reference prompts, the imported
// model.onnx in onnxruntime-node gives PyTorch's logits (within 1e-3, for the
// first two decode positions of each prompt) and PyTorch's greedy tokens.
// The expectations come from scripts/train/train.py (PyTorch fp32 on the saved
// fp16 checkpoint), stored in tests/fixtures/kjv-bierce-19m/.
//   node default_model_pytorch.mjs TESSERA_BINARY [fp32|fp16]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';

const [tessera, dtype = 'fp32'] = process.argv.slice(2);
const TOL = 1e-3;
h.watchdog(300000, 'default_model_pytorch');
const checkpoint = path.join(h.repoRoot, 'models', 'kjv-bierce-19m');
const fixtures = path.join(h.repoRoot, 'tests', 'fixtures', 'kjv-bierce-19m');
const ref = JSON.parse(fs.readFileSync(path.join(fixtures, 'reference.json'), 'utf8'));
const blob = fs.readFileSync(path.join(fixtures, 'reference_logits.f32'));
const expected = new Float32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4);
const vocab = ref.vocab_size;
const perPrompt = ref.logit_steps_per_prompt;
h.check(expected.length === ref.prompts.length * perPrompt * vocab,
        `reference_logits.f32 holds ${ref.prompts.length} x ${perPrompt} x ${vocab} floats`);

const dir = h.tmpDir('tessera-default-model-');
const { loadWholeModel } = await import(path.join(h.repoRoot, 'webworker', 'node', 'ort_node.mjs'));
const { argmaxRow } = await import(path.join(h.repoRoot, 'webworker', 'core', 'pipeline.mjs'));
let whole;
try {
  const modelDir = path.join(dir, 'model');
  execFileSync(tessera, ['model', 'build', '--from-hf', checkpoint, '--out', modelDir, '--dtype', dtype],
               { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120000 });
  whole = (await loadWholeModel(modelDir, { threads: 1 })).pipeline;
  let worst = 0;
  for (const [i, p] of ref.prompts.entries()) {
    const tok = JSON.parse(execFileSync(tessera, ['model', 'tokenize', modelDir, p.prompt]).toString());
    h.check(JSON.stringify(tok.ids) === JSON.stringify(p.ids), `"${p.prompt}" tokenizes as in Python (${tok.ids.join(',')})`);
    // Teacher-forced with PyTorch's greedy tokens, so one wrong argmax cannot hide later steps.
    const got = [];
    let position = 0;
    let input = p.ids;
    for (let step = 0; step < p.greedy.length; ++step) {
      const { outputs } = await whole.step(`p${i}`, { position, tokenIds: input });
      const l = outputs.logits;
      if (step < perPrompt) {
        const row = l.data.subarray((l.dims[1] - 1) * vocab, l.dims[1] * vocab);
        const want = expected.subarray((i * perPrompt + step) * vocab, (i * perPrompt + step + 1) * vocab);
        let d = 0;
        for (let v = 0; v < vocab; ++v) d = Math.max(d, Math.abs(row[v] - want[v]));
        worst = Math.max(worst, d);
        h.check(d <= TOL, `"${p.prompt}" step ${step}: max |logit - PyTorch| = ${d.toExponential(2)} <= ${TOL}`);
      }
      got.push(argmaxRow(l));
      position += input.length;
      input = [p.greedy[step]];
    }
    whole.release(`p${i}`);
    h.check(JSON.stringify(got) === JSON.stringify(p.greedy),
            `"${p.prompt}" greedy tokens equal PyTorch's (${got.length}): ${JSON.stringify(p.text)}`);
  }
  console.log(`# ${dtype} import: worst |logit - PyTorch| over ${ref.prompts.length * perPrompt} positions = ${worst.toExponential(3)}`);
  await whole.dispose();
  whole = undefined;
  h.removeDir(dir);
  console.log('ok');
  process.exit(0);
} catch (e) {
  await whole?.dispose();
  await h.fail(e, dir);
}
