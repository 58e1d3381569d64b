// A chain of stage runners in one process: feeds each stage's outputs to the next
// by tensor name (boundary tensors keep one name on both sides). Used by tests,
// tools/chain_demo.mjs and as the reference for the distributed pipeline.
import { StageRunner, StageError, ErrorCode } from './stage_runner.mjs';
import { stageFromSession } from './manifest.mjs';

export class Pipeline {
  constructor(ort, runners) {
    this.ort = ort;
    this.runners = runners;
  }

  // Runs one step of `seq` through every stage. tokenIds: array of numbers/BigInts.
  // Returns { outputs (of the last stage), stageMs: [...] }.
  async step(seq, { position, tokenIds, sampling }) {
    const ids = BigInt64Array.from(tokenIds, (t) => BigInt(t));
    let carry = { input_ids: new this.ort.Tensor('int64', ids, [1, ids.length]) };
    const stageMs = [];
    for (const r of this.runners) {
      const { outputs, computeMs } = await r.step(seq, { position, inputs: carry, sampling });
      stageMs.push(computeMs);
      carry = outputs;
    }
    return { outputs: carry, stageMs };
  }

  truncate(seq, position) { for (const r of this.runners) r.truncate(seq, position); }
  release(seq) { for (const r of this.runners) r.release(seq); }
  fork(src, dst, position) { for (const r of this.runners) r.fork(src, dst, position); }
  async dispose() { for (const r of this.runners) await r.dispose(); }
}

// A stage description for an unsplit model.onnx: the whole model is one stage
// covering every layer, described by the session's own metadata.
export function wholeModelStage(session, config, file = 'model.onnx') {
  return stageFromSession(session, { file, layers: [0, config.num_hidden_layers] }, config);
}

export function wholeModelRunner(ort, session, config) {
  return new StageRunner(ort, session, wholeModelStage(session, config), { config });
}

// Index of the largest value in row `row` of a [1, seq, vocab] logits tensor
// (first index on ties, as ONNX ArgMax does).
export function argmaxRow(logits, row = logits.dims[1] - 1) {
  const vocab = logits.dims[2];
  const data = logits.data;
  let best = 0;
  let bestVal = -Infinity;
  for (let i = 0; i < vocab; ++i) {
    const v = data[row * vocab + i];
    if (v > bestVal) { bestVal = v; best = i; }
  }
  return best;
}

export { StageError, ErrorCode };
