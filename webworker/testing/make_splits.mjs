// ctest fixture step: builds a preset model (or imports a Hugging Face
// checkpoint) with the tessera tool and splits it into every plan/head the JS
// tests use (see plans.mjs).
//   node testing/make_splits.mjs TESSERA_BIN MODELS_DIR PRESET
//   node testing/make_splits.mjs TESSERA_BIN MODELS_DIR NAME --from-hf CHECKPOINT_DIR
// Writes MODELS_DIR/NAME/ (model.onnx, config.json, ...) and
// MODELS_DIR/NAME-split/<plan>-<head>/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { splitsFor, splitDir } from './plans.mjs';

const [bin, models, preset, fromFlag, checkpoint] = process.argv.slice(2);
if (!bin || !models || !preset || (fromFlag !== undefined && (fromFlag !== '--from-hf' || !checkpoint))) {
  console.error('usage: make_splits.mjs TESSERA_BIN MODELS_DIR PRESET | NAME --from-hf CHECKPOINT_DIR');
  process.exit(2);
}
const modelDir = path.join(models, preset);
function run(args) {
  try {
    execFileSync(bin, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (e) {
    console.error(`make_splits: '${bin} ${args.join(' ')}' failed (${e.status ?? e.signal ?? e.message})`);
    process.exit(1);
  }
}

let t0 = Date.now();
rmSync(modelDir, { recursive: true, force: true });
rmSync(path.join(models, `${preset}-split`), { recursive: true, force: true });
mkdirSync(path.join(models, `${preset}-split`), { recursive: true });
run(['model', 'build', ...(checkpoint ? ['--from-hf', checkpoint] : ['--preset', preset]), '--out', modelDir]);
console.log(`built ${preset} -> ${modelDir} in ${Date.now() - t0} ms`);
const config = JSON.parse(readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
for (const { plan, head, stages } of splitsFor(config.num_hidden_layers)) {
  const out = splitDir(models, preset, plan, head);
  t0 = Date.now();
  run(['model', 'split', path.join(modelDir, 'model.onnx'), '--stages', stages, '--head', head, '--out', out]);
  console.log(`split ${preset} ${plan} (${stages}) head=${head} -> ${out} in ${Date.now() - t0} ms`);
}
