// The worker protocol codec: a hand-written mirror of net/proto/worker.proto
// (package tessera.wire, version 1). One message per binary WebSocket frame: the
// node sends ToWorker, the worker sends FromWorker.
//
//   encodeFromWorker({ hello: {...} })   -> Uint8Array
//   decodeToWorker(bytes)                -> { body: 'forward', forward: {...} }
//
// Decoded messages carry every known field (proto3 defaults when absent); bytes
// fields are views into the frame (no copy). 64-bit integers are Numbers when
// they fit in 2^53, else BigInt. Unknown fields are skipped (additive changes).
import { defineMessage, encodeMessage, decodeMessage, ProtoError } from './protobuf.mjs';

export { ProtoError };
export const PROTOCOL_VERSION = 1;

export const DType = Object.freeze({ DTYPE_UNSPECIFIED: 0, FLOAT32: 1, FLOAT16: 2, INT64: 3 });

const m = (type, no, extra = {}) => ({ type, no, ...extra });

export const Tensor = defineMessage('Tensor', {
  name: m('string', 1), dtype: m('enum', 2), shape: m('int64', 3, { repeated: true }), data: m('bytes', 4),
});

export const Hello = defineMessage('Hello', {
  protocol_version: m('uint32', 1), device_kind: m('string', 2), memory_bytes: m('uint64', 3),
  flops_per_s: m('double', 4), cached_shards: m('string', 5, { repeated: true }), name: m('string', 6),
  threads: m('uint32', 7),
});

export const Loaded = defineMessage('Loaded', {
  shard_id: m('string', 1), ok: m('bool', 2), error: m('string', 3), download_ms: m('double', 4),
  load_ms: m('double', 5),
});

export const Result = defineMessage('Result', {
  request_id: m('uint64', 1), sequence_id: m('uint64', 2), step: m('uint32', 3),
  tensors: m('message', 4, { repeated: true, message: Tensor }), token_ids: m('int64', 5, { repeated: true }),
  logits: m('message', 6, { repeated: true, message: Tensor }), compute_ms: m('double', 7),
  shard_id: m('string', 8),
});

export const Progress = defineMessage('Progress', {
  shard_id: m('string', 1), bytes_done: m('uint64', 2), bytes_total: m('uint64', 3),
});

export const Welcome = defineMessage('Welcome', {
  protocol_version: m('uint32', 1), worker_id: m('uint64', 2), heartbeat_ms: m('uint32', 3),
});

export const ShardFile = defineMessage('ShardFile', {
  name: m('string', 1), url: m('string', 2), sha256: m('string', 3), bytes: m('uint64', 4),
});

export const Assign = defineMessage('Assign', {
  shard_id: m('string', 1), layer_begin: m('uint32', 2), layer_end: m('uint32', 3), head: m('string', 4),
  files: m('message', 5, { repeated: true, message: ShardFile }), plan_version: m('uint32', 6),
  standby: m('bool', 7), kv_budget: m('uint64', 8),
});

export const Sampling = defineMessage('Sampling', {
  temperature: m('float', 1), top_k: m('int64', 2), top_p: m('float', 3), random: m('float', 4),
});

export const Forward = defineMessage('Forward', {
  request_id: m('uint64', 1), sequence_id: m('uint64', 2), step: m('uint32', 3), position: m('uint32', 4),
  seq_len: m('uint32', 5), token_ids: m('int64', 6, { repeated: true }),
  tensors: m('message', 7, { repeated: true, message: Tensor }), sampling: m('message', 8, { message: Sampling }),
  shard_id: m('string', 9), fork_from: m('uint64', 10), fork_length: m('uint32', 11),
});

export const Release = defineMessage('Release', { sequence_id: m('uint64', 1), keep: m('bool', 2) });
export const Evicted = defineMessage('Evicted', { sequence_ids: m('uint64', 1, { repeated: true }) });
// sequences .. kv_budget: what the worker holds (worker -> node; 0 from the node).
export const Heartbeat = defineMessage('Heartbeat', {
  unix_ms: m('uint64', 1), sequences: m('uint32', 2), kv_tokens: m('uint64', 3), kv_bytes: m('uint64', 4),
  cached_sequences: m('uint32', 5), cached_bytes: m('uint64', 6), evictions: m('uint64', 7), kv_budget: m('uint64', 8),
});
export const ErrorMsg = defineMessage('Error', {
  code: m('uint32', 1), message: m('string', 2), request_id: m('uint64', 3), sequence_id: m('uint64', 4),
});

export const StageNews = defineMessage('StageNews', {
  worker_id: m('uint64', 1), worker_name: m('string', 2), layer_begin: m('uint32', 3), layer_end: m('uint32', 4),
  had_previous: m('bool', 5), previous_begin: m('uint32', 6), previous_end: m('uint32', 7),
});

export const PlanNews = defineMessage('PlanNews', {
  plan_version: m('uint32', 1), why: m('string', 2), stages: m('message', 3, { repeated: true, message: StageNews }),
  dropped: m('uint64', 4, { repeated: true }),
});

// Probe (node -> worker) and its Echo (worker -> node): a link probe.
export const Probe = defineMessage('Probe', { seq: m('uint64', 1), payload: m('bytes', 2) });
export const Echo = defineMessage('Echo', { seq: m('uint64', 1), payload: m('bytes', 2) });

const body = (message, no) => ({ type: 'message', no, message, oneof: 'body' });

export const FromWorker = defineMessage('FromWorker', {
  hello: body(Hello, 1), loaded: body(Loaded, 2), result: body(Result, 3), heartbeat: body(Heartbeat, 4),
  error: body(ErrorMsg, 5), progress: body(Progress, 6), evicted: body(Evicted, 7), echo: body(Echo, 8),
});

export const ToWorker = defineMessage('ToWorker', {
  welcome: body(Welcome, 1), assign: body(Assign, 2), forward: body(Forward, 3), release: body(Release, 4),
  heartbeat: body(Heartbeat, 5), error: body(ErrorMsg, 6), plan_news: body(PlanNews, 7), probe: body(Probe, 8),
});

function encodeEnvelope(schema, msg) {
  const set = Object.keys(schema.fields).filter((k) => msg[k] !== undefined && msg[k] !== null);
  if (set.length !== 1)
    throw new ProtoError(`${schema.name} needs exactly one body field, got [${set.join(', ')}]`);
  return encodeMessage(schema, msg).finish();
}

function decodeEnvelope(schema, bytes) {
  const out = decodeMessage(schema, bytes);
  if (!out.body) throw new ProtoError(`${schema.name} frame of ${bytes.length} bytes has no body`);
  return out;
}

export const encodeFromWorker = (msg) => encodeEnvelope(FromWorker, msg);
export const encodeToWorker = (msg) => encodeEnvelope(ToWorker, msg);
export const decodeFromWorker = (bytes) => decodeEnvelope(FromWorker, toU8(bytes));
export const decodeToWorker = (bytes) => decodeEnvelope(ToWorker, toU8(bytes));

function toU8(b) {
  if (b instanceof Uint8Array) return b;
  if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return new Uint8Array(b);
}

// ---- tensors: wire <-> typed arrays ----

const WIRE_DTYPE = { float32: DType.FLOAT32, float16: DType.FLOAT16, int64: DType.INT64 };
const ELEM_BYTES = { [DType.FLOAT32]: 4, [DType.FLOAT16]: 2, [DType.INT64]: 8 };

export function dtypeToWire(name) {
  const d = WIRE_DTYPE[name];
  if (d === undefined) throw new ProtoError(`tensor dtype '${name}' has no wire encoding`);
  return d;
}

// A wire Tensor from a name, an ORT-style dtype string, dims and a typed array.
export function makeWireTensor(name, dtype, dims, data) {
  return {
    name, dtype: dtypeToWire(dtype), shape: dims.map(Number),
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

// Decodes a wire Tensor into { name, dtype, dims, data } with a typed array
// (float16 arrives as float32, converted). Checks the byte count against the shape.
export function readWireTensor(t) {
  const count = t.shape.reduce((a, b) => a * Number(b), 1);
  const elem = ELEM_BYTES[t.dtype];
  if (!elem) throw new ProtoError(`tensor '${t.name}': unknown dtype ${t.dtype}`);
  if (t.data.length !== count * elem)
    throw new ProtoError(`tensor '${t.name}': ${t.data.length} bytes for shape [${t.shape}] of dtype ${t.dtype} (want ${count * elem})`);
  const dims = t.shape.map(Number);
  const aligned = t.data.byteOffset % elem === 0 ? t.data : t.data.slice();
  switch (t.dtype) {
    case DType.FLOAT32:
      return { name: t.name, dtype: 'float32', dims, data: new Float32Array(aligned.buffer, aligned.byteOffset, count) };
    case DType.INT64:
      return { name: t.name, dtype: 'int64', dims, data: new BigInt64Array(aligned.buffer, aligned.byteOffset, count) };
    case DType.FLOAT16: {
      const half = new Uint16Array(aligned.buffer, aligned.byteOffset, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; ++i) out[i] = halfToFloat(half[i]);
      return { name: t.name, dtype: 'float32', dims, data: out };
    }
    default:
      throw new ProtoError(`tensor '${t.name}': unsupported dtype ${t.dtype}`);
  }
}

export function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

// float32 -> IEEE half bits, round to nearest even (overflow -> infinity).
export function floatToHalf(value) {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1))) half++;
    return sign | half;
  }
  let half = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return half;
}

// A FLOAT16 wire tensor from float32 data (halves the bytes of hidden states).
export function makeWireTensorF16(name, dims, data) {
  const half = new Uint16Array(data.length);
  for (let i = 0; i < data.length; ++i) half[i] = floatToHalf(data[i]);
  return { name, dtype: DType.FLOAT16, shape: dims.map(Number), data: new Uint8Array(half.buffer) };
}
