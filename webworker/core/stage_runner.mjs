// One pipeline stage on ONNX Runtime (node or web: the `ort` module is passed in)
// with the KV cache of every sequence it serves kept inside, between steps.
//
//   const r = new StageRunner(ort, session, stage, { config });
//   const { outputs } = await r.step(seq, { position, inputs: { input_ids }, sampling });
//
// A step first cuts the sequence's KV to `position` entries (an error if it
// holds fewer), so replaying a step is idempotent; then runs seq_len new
// positions with attention_mask = ones [1, position + seq_len] and position_ids
// = position .. position + seq_len - 1, and keeps the present.* as the new KV.
import { kvSlots, dataInputs, dataOutputs, hasSampleInputs } from './manifest.mjs';

export class StageError extends Error {
  constructor(message, code = 4) {
    super(message);
    this.code = code;
  }
}

// Error codes carried in wire Error frames (see webworker/README.md).
export const ErrorCode = Object.freeze({
  BAD_FRAME: 1, NOT_LOADED: 2, KV_POSITION: 3, RUN_FAILED: 4, LOAD_FAILED: 5, BAD_INPUT: 6,
  CACHE_MISS: 7, KV_BUDGET: 8,
});

// Creates a session with a time limit: ORT-web can hang forever without COEP.
export async function createSession(ort, source, options = {}, timeoutMs = 120000) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new StageError(`session creation timed out after ${timeoutMs} ms`, ErrorCode.LOAD_FAILED)), timeoutMs);
  });
  try {
    return await Promise.race([ort.InferenceSession.create(source, options), limit]);
  } finally {
    clearTimeout(timer);
  }
}

export class StageRunner {
  constructor(ort, session, stage, { config = {} } = {}) {
    this.ort = ort;
    this.session = session;
    this.stage = stage;
    this.slots = kvSlots(stage, config);
    this.dataInputNames = dataInputs(stage);
    this.dataOutputNames = dataOutputs(stage);
    this.sample = hasSampleInputs(stage);
    this.sessionInputs = new Set(session.inputNames);
    this.kv = new Map();  // sequence id -> { length, tensors: Map(past name -> ort.Tensor) }
    for (const n of [...this.dataInputNames, ...this.slots.map((s) => s.past)])
      if (!this.sessionInputs.has(n))
        throw new StageError(`stage ${stage.file}: manifest input '${n}' is not an input of the ONNX graph`, ErrorCode.LOAD_FAILED);
  }

  get layers() { return this.stage.layers; }
  sequences() { return [...this.kv.keys()]; }
  kvLength(seq) { return this.kv.get(seq)?.length ?? 0; }

  // Cuts the sequence's KV to `position` entries. Throws if it holds fewer.
  truncate(seq, position) {
    const entry = this.kv.get(seq);
    const have = entry?.length ?? 0;
    if (position > have)
      throw new StageError(`sequence ${seq}: KV holds ${have} positions, step starts at ${position}`, ErrorCode.KV_POSITION);
    if (position === have) return;
    if (position === 0) {
      this.kv.delete(seq);
      return;
    }
    for (const [name, t] of entry.tensors) entry.tensors.set(name, this.#sliceKv(t, position));
    entry.length = position;
  }

  // Gives `dst` a copy of the first `position` KV entries of `src` (a cached
  // prefix shared by a new sequence). Throws if src holds fewer.
  fork(src, dst, position) {
    const entry = this.kv.get(src);
    const have = entry?.length ?? 0;
    if (position > have)
      throw new StageError(`sequence ${src}: KV holds ${have} positions, fork asks for ${position}`, ErrorCode.KV_POSITION);
    if (position === 0) {
      this.kv.delete(dst);
      return;
    }
    const tensors = new Map();
    for (const [name, t] of entry.tensors) tensors.set(name, this.#sliceKv(t, position));
    this.kv.set(dst, { length: position, tensors });
  }

  release(seq) { return this.kv.delete(seq); }
  releaseAll() { this.kv.clear(); }

  // Bytes of KV held for all sequences (for the memory budget).
  kvBytes() {
    let total = 0;
    for (const q of this.kv.keys()) total += this.kvBytesOf(q);
    return total;
  }

  kvBytesOf(seq) {
    let total = 0;
    for (const t of this.kv.get(seq)?.tensors.values() ?? []) total += t.data.byteLength;
    return total;
  }

  // Bytes one position of one sequence adds to the KV (all of the stage's layers).
  kvBytesPerPosition() {
    let total = 0;
    for (const s of this.slots) total += s.emptyDims.reduce((a, d, i) => a * (i === 2 ? 1 : d), 1) * DTYPE_BYTES[s.dtype];
    return total;
  }

  // inputs: { name: ort.Tensor } for the data inputs (input_ids or boundary tensors);
  // sampling: { temperature, top_k, top_p, random } for a sample head.
  // Returns { outputs: { name: ort.Tensor } (present.* excluded), seqLen, computeMs }.
  async step(seq, { position = 0, inputs, sampling } = {}) {
    const { ort } = this;
    this.truncate(seq, position);
    const feeds = {};
    let seqLen;
    for (const name of this.dataInputNames) {
      const t = inputs?.[name];
      if (!t) throw new StageError(`stage ${this.stage.file}: missing input '${name}'`, ErrorCode.BAD_INPUT);
      if (t.dims.length < 2 || t.dims[0] !== 1)
        throw new StageError(`stage ${this.stage.file}: input '${name}' has dims [${t.dims}], want [1, seq, ...]`, ErrorCode.BAD_INPUT);
      if (seqLen === undefined) seqLen = t.dims[1];
      else if (t.dims[1] !== seqLen)
        throw new StageError(`stage ${this.stage.file}: input '${name}' has ${t.dims[1]} positions, others ${seqLen}`, ErrorCode.BAD_INPUT);
      feeds[name] = t;
    }
    if (!(seqLen > 0)) throw new StageError(`stage ${this.stage.file}: a step needs at least one position`, ErrorCode.BAD_INPUT);
    const total = position + seqLen;
    if (this.sessionInputs.has('attention_mask'))
      feeds.attention_mask = new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]);
    if (this.sessionInputs.has('position_ids')) {
      const pos = new BigInt64Array(seqLen);
      for (let i = 0; i < seqLen; ++i) pos[i] = BigInt(position + i);
      feeds.position_ids = new ort.Tensor('int64', pos, [1, seqLen]);
    }
    const entry = this.kv.get(seq);
    for (const s of this.slots)
      feeds[s.past] = entry?.tensors.get(s.past) ?? new ort.Tensor(s.dtype, emptyArray(s.dtype), s.emptyDims);
    if (this.sample) {
      if (!sampling) throw new StageError(`stage ${this.stage.file} has a sample head: Forward needs sampling`, ErrorCode.BAD_INPUT);
      feeds.temperature = new ort.Tensor('float32', Float32Array.of(sampling.temperature ?? 1), [1]);
      feeds.top_k = new ort.Tensor('int64', BigInt64Array.of(BigInt(sampling.top_k ?? 0)), [1]);
      feeds.top_p = new ort.Tensor('float32', Float32Array.of(sampling.top_p ?? 1), [1]);
      feeds.random = new ort.Tensor('float32', Float32Array.of(sampling.random ?? 0), [1]);
    }
    const t0 = now();
    let result;
    try {
      result = await this.session.run(feeds);
    } catch (e) {
      throw new StageError(`stage ${this.stage.file}: run failed at position ${position}: ${e.message}`, ErrorCode.RUN_FAILED);
    }
    const computeMs = now() - t0;
    const tensors = new Map();
    for (const s of this.slots) {
      const t = result[s.present];
      if (!t) throw new StageError(`stage ${this.stage.file}: output '${s.present}' missing`, ErrorCode.RUN_FAILED);
      if (t.dims[2] !== total)
        throw new StageError(`stage ${this.stage.file}: ${s.present} has ${t.dims[2]} positions, expected ${total}`, ErrorCode.RUN_FAILED);
      tensors.set(s.past, t);
    }
    if (this.slots.length) this.kv.set(seq, { length: total, tensors });
    const outputs = {};
    for (const n of this.dataOutputNames) outputs[n] = result[n];
    return { outputs, seqLen, computeMs };
  }

  async dispose() {
    this.kv.clear();
    await this.session.release?.();
  }

  // [1, H, L, D] -> [1, H, keep, D]
  #sliceKv(t, keep) {
    const [b, h, len, d] = t.dims;
    const src = t.data;
    const out = new src.constructor(b * h * keep * d);
    for (let i = 0; i < b * h; ++i) out.set(src.subarray(i * len * d, i * len * d + keep * d), i * keep * d);
    return new this.ort.Tensor(t.type, out, [b, h, keep, d]);
  }
}

const DTYPE_BYTES = { float32: 4, float16: 2, int64: 8 };

function emptyArray(dtype) {
  switch (dtype) {
    case 'float32': return new Float32Array(0);
    case 'float16': return new Uint16Array(0);
    case 'int64': return new BigInt64Array(0);
    default: throw new StageError(`KV dtype '${dtype}' unsupported`, ErrorCode.LOAD_FAILED);
  }
}

const now = () => (globalThis.performance ?? Date).now();
