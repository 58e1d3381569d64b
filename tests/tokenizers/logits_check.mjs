// Runs two Tessera model directories on the same prompt in onnxruntime-node (from
// webworker/node_modules) and checks that their logits agree within 1e-5.
// Usage: node logits_check.mjs SEEDED_DIR IMPORTED_DIR ID,ID,...
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';

const here = dirname(fileURLToPath(import.meta.url));
const ort = createRequire(join(here, '..', '..', 'webworker', 'package.json'))('onnxruntime-node');
const [a, b, idsText] = process.argv.slice(2);
if (!idsText) throw new Error('usage: node logits_check.mjs SEEDED_DIR IMPORTED_DIR ID,ID,...');
const ids = idsText.split(',').map((s) => BigInt(s));

async function logits(dir) {
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
  const n = ids.length;
  const headDim = config.head_dim ?? config.hidden_size / config.num_attention_heads;
  const feeds = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids), [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((_, i) => BigInt(i))), [1, n]),
  };
  for (let l = 0; l < config.num_hidden_layers; ++l)
    for (const kv of ['key', 'value'])
      feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, config.num_key_value_heads, 0, headDim]);
  const out = await session.run(feeds);
  return out.logits;
}

const la = await logits(a);
const lb = await logits(b);
if (la.dims.join() !== lb.dims.join()) throw new Error(`logits shapes differ: ${la.dims} vs ${lb.dims}`);
let maxDiff = 0;
let spread = 0;
for (let i = 0; i < la.data.length; ++i) {
  maxDiff = Math.max(maxDiff, Math.abs(la.data[i] - lb.data[i]));
  spread = Math.max(spread, Math.abs(la.data[i]));
}
console.log(`logits [${la.dims}] max |seeded - imported| = ${maxDiff} (max |logit| ${spread.toFixed(3)})`);
const ok = maxDiff <= 1e-5 && spread > 0;
console.log(ok ? '1 passed, 0 failed' : '0 passed, 1 failed');
process.exit(ok ? 0 : 1);
