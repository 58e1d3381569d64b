// Greedy reference tokens from the whole model.onnx in onnxruntime-node (the
// same runtime the workers use), for prompts given as JSON on argv:
//   node reference.mjs MODEL_DIR MAX_TOKENS '["prompt 1", "prompt 2"]'
// prints {"prompt 1": [ids...], ...}; stops at EOS like the node does (EOS not included).
// Text prompts use the byte vocabulary of the presets; for a model with its own
// tokenizer give token ids and its EOS id instead:
//   node reference.mjs MODEL_DIR MAX_TOKENS '{"prompt 1": [ids...], ...}' EOS_ID
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const web = path.join(here, '..', '..', 'webworker');
const { loadWholeModel } = await import(path.join(web, 'node', 'ort_node.mjs'));
const { argmaxRow } = await import(path.join(web, 'core', 'pipeline.mjs'));
const { encodeBytes, BOS, EOS } = await import(path.join(web, 'core', 'byte_text.mjs'));

const [modelDir, maxTokens, promptsJson, eosArg] = process.argv.slice(2);
const parsed = JSON.parse(promptsJson);
const prompts = Array.isArray(parsed) ? parsed : Object.keys(parsed);
const promptIds = (p) => (Array.isArray(parsed) ? [BOS, ...encodeBytes(p)] : parsed[p]);
const eos = eosArg === undefined ? EOS : Number(eosArg);
const { pipeline } = await loadWholeModel(path.resolve(modelDir), { threads: 1 });
const result = {};
let seq = 0;
for (const prompt of prompts) {
  const id = `ref-${seq++}`;
  const ids = promptIds(prompt);
  const out = [];
  let position = 0;
  let input = ids;
  for (let i = 0; i < Number(maxTokens); ++i) {
    const { outputs } = await pipeline.step(id, { position, tokenIds: input });
    const next = outputs.next_token ? Number(outputs.next_token.data[0]) : argmaxRow(outputs.logits);
    if (next === eos) break;
    out.push(next);
    position += input.length;
    input = [next];
  }
  pipeline.release(id);
  result[prompt] = out;
}
await pipeline.dispose();
process.stdout.write(JSON.stringify(result) + '\n');
