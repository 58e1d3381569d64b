// Whole model in one onnxruntime-node process: per-token decode time (ms) for a
// greedy run, the baseline of the distributed pipeline.
//   node whole_model.mjs MODEL_DIR TOKENS PROMPT   -> {"per_token_ms": x, "tokens": n}
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const web = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'webworker');
const { loadWholeModel } = await import(path.join(web, 'node', 'ort_node.mjs'));
const { argmaxRow } = await import(path.join(web, 'core', 'pipeline.mjs'));
const { encodeBytes, BOS } = await import(path.join(web, 'core', 'byte_text.mjs'));

const [modelDir, tokens, prompt] = process.argv.slice(2);
const { pipeline } = await loadWholeModel(path.resolve(modelDir), { threads: 1 });
let input = [BOS, ...encodeBytes(prompt)];
let position = 0;
let first = 0;
let computeMs = 0;
const t0 = performance.now();
for (let i = 0; i < Number(tokens); ++i) {
  const { outputs, stageMs } = await pipeline.step('bench', { position, tokenIds: input });
  const next = outputs.next_token ? Number(outputs.next_token.data[0]) : argmaxRow(outputs.logits);
  if (i === 0) first = performance.now();
  else computeMs += stageMs.reduce((a, b) => a + b, 0);
  position += input.length;
  input = [next];
}
const perToken = (performance.now() - first) / (Number(tokens) - 1);
process.stdout.write(JSON.stringify({ per_token_ms: perToken, compute_ms_per_token: computeMs / (Number(tokens) - 1),
                                      tokens: Number(tokens), total_ms: performance.now() - t0 }) + '\n');
await pipeline.dispose();
