// wire.mjs against bytes produced by protoc from net/proto/worker.proto
// (test/golden/*.bin, made with `protoc --encode` from the .txt beside them):
// decoding gives the fields protoc wrote, and encoding the same objects gives the
// same bytes. Plus round trips and malformed frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as wire from '../core/wire.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const golden = (name) => new Uint8Array(readFileSync(path.join(here, 'golden', name)));
const protoDir = path.resolve(here, '../../net/proto');

const f32bytes = (arr) => new Uint8Array(new Float32Array(arr).buffer);

const forwardObj = {
  forward: {
    request_id: 18446744073709551615n, sequence_id: 42, step: 3, position: 17, seq_len: 2,
    token_ids: [72, -1, 258],
    tensors: [{ name: 'hidden', dtype: wire.DType.FLOAT32, shape: [1, 2, 2], data: f32bytes([1, 2, 3, -4]) }],
    sampling: { temperature: 0.7, top_k: 40, top_p: 0.9, random: 0.25 },
    shard_id: 'abc123',
  },
};
const assignObj = {
  assign: {
    shard_id: 'd41d8cd98f00b204', layer_begin: 2, layer_end: 5, head: 'greedy', plan_version: 7,
    files: [
      { name: 'stage_2_5.onnx', url: '/shards/d41d8cd98f00b204/stage_2_5.onnx',
        sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', bytes: 12345 },
      { name: 'stage_2_5.onnx.data', url: '/shards/d41d8cd98f00b204/stage_2_5.onnx.data', sha256: '00', bytes: 5000000000 },
    ],
  },
};
const helloObj = {
  hello: {
    protocol_version: 1, device_kind: 'node-cpu', memory_bytes: 2147483648, flops_per_s: 12345678901.5,
    cached_shards: ['a1', 'b2'], name: 'wörker-ü', threads: 2,
  },
};
const resultObj = {
  result: {
    request_id: 5, sequence_id: 6, step: 1, token_ids: [101], compute_ms: 1.25, shard_id: 's',
    logits: [{ name: 'logits', dtype: wire.DType.FLOAT32, shape: [1, 1, 1], data: f32bytes([1]) }],
  },
};

test('decodes a Forward that protoc encoded, including a uint64 above 2^53 and a negative int64', () => {
  const msg = wire.decodeToWorker(golden('to_worker_forward.bin'));
  assert.equal(msg.body, 'forward');
  const f = msg.forward;
  assert.equal(f.request_id, 18446744073709551615n);
  assert.equal(f.sequence_id, 42);
  assert.equal(f.step, 3);
  assert.equal(f.position, 17);
  assert.equal(f.seq_len, 2);
  assert.deepEqual(f.token_ids, [72, -1, 258]);
  assert.equal(f.shard_id, 'abc123');
  assert.equal(f.sampling.temperature, Math.fround(0.7));
  assert.equal(f.sampling.top_k, 40);
  assert.equal(f.sampling.top_p, Math.fround(0.9));
  assert.equal(f.sampling.random, 0.25);
  const t = wire.readWireTensor(f.tensors[0]);
  assert.equal(t.name, 'hidden');
  assert.deepEqual(t.dims, [1, 2, 2]);
  assert.deepEqual(Array.from(t.data), [1, 2, 3, -4]);
});

test('encodes the same bytes as protoc for every golden frame', () => {
  assert.deepEqual(wire.encodeToWorker(forwardObj), golden('to_worker_forward.bin'));
  assert.deepEqual(wire.encodeToWorker(assignObj), golden('to_worker_assign.bin'));
  assert.deepEqual(wire.encodeToWorker({ welcome: { protocol_version: 1, worker_id: 9, heartbeat_ms: 1000 } }),
    golden('to_worker_welcome.bin'));
  assert.deepEqual(wire.encodeToWorker({ release: { sequence_id: 0 } }), golden('to_worker_release.bin'));
  assert.deepEqual(wire.encodeFromWorker(helloObj), golden('from_worker_hello.bin'));
  assert.deepEqual(wire.encodeFromWorker(resultObj), golden('from_worker_result.bin'));
  assert.deepEqual(wire.encodeFromWorker({ error: { code: 3, message: 'kv too short', request_id: 1, sequence_id: 2 } }),
    golden('from_worker_error.bin'));
});

test('decodes Assign, Welcome, an empty Release, Hello and Result from protoc bytes', () => {
  const a = wire.decodeToWorker(golden('to_worker_assign.bin'));
  assert.equal(a.body, 'assign');
  assert.equal(a.assign.files.length, 2);
  assert.equal(a.assign.files[1].bytes, 5000000000);
  assert.equal(a.assign.plan_version, 7);
  const w = wire.decodeToWorker(golden('to_worker_welcome.bin'));
  assert.deepEqual({ ...w.welcome }, { protocol_version: 1, worker_id: 9, heartbeat_ms: 1000 });
  const r = wire.decodeToWorker(golden('to_worker_release.bin'));
  assert.equal(r.body, 'release');
  assert.equal(r.release.sequence_id, 0);
  const h = wire.decodeFromWorker(golden('from_worker_hello.bin'));
  assert.equal(h.hello.name, 'wörker-ü');
  assert.deepEqual(h.hello.cached_shards, ['a1', 'b2']);
  assert.equal(h.hello.flops_per_s, 12345678901.5);
  const res = wire.decodeFromWorker(golden('from_worker_result.bin'));
  assert.deepEqual(res.result.token_ids, [101]);
  assert.deepEqual(res.result.tensors, []);
  assert.equal(res.result.compute_ms, 1.25);
});

test('protoc decodes what wire.mjs encodes (when protoc is installed)', { skip: !existsSync('/usr/bin/protoc') }, () => {
  const bytes = wire.encodeToWorker(forwardObj);
  const text = execFileSync('protoc', ['-I', protoDir, '--decode=tessera.wire.ToWorker', 'worker.proto'], { input: bytes }).toString();
  assert.match(text, /request_id: 18446744073709551615/);
  assert.match(text, /token_ids: -1/);
  assert.match(text, /shard_id: "abc123"/);
});

test('round-trips every message type with defaults filled in', () => {
  const msgs = [
    { heartbeat: { unix_ms: Date.now() } }, { progress: { shard_id: 'x', bytes_done: 10, bytes_total: 20 } },
    { loaded: { shard_id: 'x', ok: true, error: '', download_ms: 3.5, load_ms: 0 } },
  ];
  for (const m of msgs) {
    const back = wire.decodeFromWorker(wire.encodeFromWorker(m));
    const key = Object.keys(m)[0];
    assert.equal(back.body, key);
    for (const [k, v] of Object.entries(m[key])) assert.deepEqual(back[key][k], v, `${key}.${k}`);
  }
  const empty = wire.decodeToWorker(wire.encodeToWorker({ forward: {} }));
  assert.equal(empty.forward.position, 0);
  assert.deepEqual(empty.forward.token_ids, []);
  assert.equal(empty.forward.sampling, null);
});

test('int64 tensors and float16 tensors decode to typed arrays', () => {
  const ids = new BigInt64Array([1n, -2n, 300n]);
  const t = wire.readWireTensor(wire.makeWireTensor('next_token', 'int64', [3], ids));
  assert.deepEqual(Array.from(t.data), [1n, -2n, 300n]);
  const half = new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001]);  // 1, -2, ~0.3333, smallest subnormal
  const h = wire.readWireTensor({ name: 'h', dtype: wire.DType.FLOAT16, shape: [4], data: new Uint8Array(half.buffer) });
  assert.equal(h.dtype, 'float32');
  assert.equal(h.data[0], 1);
  assert.equal(h.data[1], -2);
  assert.ok(Math.abs(h.data[2] - 1 / 3) < 1e-3);
  assert.equal(h.data[3], 2 ** -24);
});

test('a tensor whose byte count does not match its shape is rejected, naming the tensor', () => {
  assert.throws(() => wire.readWireTensor({ name: 'hidden', dtype: wire.DType.FLOAT32, shape: [1, 3], data: new Uint8Array(8) }),
    /hidden.*8 bytes/);
});

test('malformed frames throw ProtoError, never return garbage', () => {
  const good = golden('to_worker_forward.bin');
  assert.throws(() => wire.decodeToWorker(good.subarray(0, good.length - 3)), wire.ProtoError);
  assert.throws(() => wire.decodeToWorker(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), wire.ProtoError);
  assert.throws(() => wire.decodeToWorker(new Uint8Array([])), /no body/);
  assert.throws(() => wire.decodeToWorker(new Uint8Array([0x1f])), wire.ProtoError);  // wire type 7
  assert.throws(() => wire.encodeFromWorker({ hello: {}, heartbeat: {} }), /exactly one/);
});

test('unknown fields from a newer peer are skipped', () => {
  // field 99 (varint 5) and field 98 (length-delimited "zz") before a Welcome
  const extra = new Uint8Array([0x98, 0x06, 0x05, 0x92, 0x06, 0x02, 0x7a, 0x7a]);
  const frame = new Uint8Array([...extra, ...golden('to_worker_welcome.bin')]);
  assert.equal(wire.decodeToWorker(frame).welcome.worker_id, 9);
});

test('float32 -> float16 rounds to nearest even and round-trips through readWireTensor', () => {
  const cases = [[1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1 / 3, 0x3555], [2 ** -24, 0x0001],
    [1e-8, 0x0000], [-0, 0x8000], [Infinity, 0x7c00], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [2 ** -14, 0x0400]];
  for (const [f, h] of cases) assert.equal(wire.floatToHalf(f), h, `floatToHalf(${f})`);
  assert.ok(Number.isNaN(wire.halfToFloat(wire.floatToHalf(NaN))));
  const values = Float32Array.from([0.1, -3.25, 1001, 6e-5, 1234.5]);
  const t = wire.readWireTensor(wire.makeWireTensorF16('h', [1, 5], values));
  assert.deepEqual(t.dims, [1, 5]);
  values.forEach((v, i) => assert.ok(Math.abs(t.data[i] - v) <= Math.abs(v) * 2 ** -11 + 2 ** -24, `${v} -> ${t.data[i]}`));
});

const planNewsObj = {
  plan_news: {
    plan_version: 3, why: 'worker 4 (big) joined; better by 21% — moved',
    stages: [
      { worker_id: 4, worker_name: 'big', layer_begin: 0, layer_end: 6, had_previous: true, previous_begin: 0, previous_end: 4 },
      { worker_id: 7, worker_name: 'laptop', layer_begin: 6, layer_end: 12 },
      { worker_id: 9007199254740993n, worker_name: '', layer_begin: 12, layer_end: 16, had_previous: true, previous_begin: 4, previous_end: 16 },
    ],
    dropped: [2, 300],
  },
};

test('PlanNews and the Heartbeat counts encode to the bytes protoc writes and decode back', () => {
  assert.deepEqual(wire.encodeToWorker(planNewsObj), golden('to_worker_plan_news.bin'));
  assert.deepEqual(wire.encodeFromWorker({ heartbeat: { unix_ms: 1795000000123, sequences: 3, kv_tokens: 5000000000 } }),
    golden('from_worker_heartbeat.bin'));
  const n = wire.decodeToWorker(golden('to_worker_plan_news.bin'));
  assert.equal(n.body, 'plan_news');
  const p = n.plan_news;
  assert.equal(p.plan_version, 3);
  assert.equal(p.why, planNewsObj.plan_news.why);
  assert.equal(p.stages.length, 3);
  assert.deepEqual({ ...p.stages[0] }, planNewsObj.plan_news.stages[0]);
  assert.deepEqual({ ...p.stages[1] },
    { ...planNewsObj.plan_news.stages[1], had_previous: false, previous_begin: 0, previous_end: 0 });
  assert.equal(p.stages[2].worker_id, 9007199254740993n);  // above 2^53: BigInt
  assert.equal(p.stages[2].previous_begin, 4);
  assert.deepEqual(p.dropped, [2, 300]);
  const hb = wire.decodeFromWorker(golden('from_worker_heartbeat.bin')).heartbeat;
  assert.deepEqual({ ...hb }, {
    unix_ms: 1795000000123, sequences: 3, kv_tokens: 5000000000, kv_bytes: 0, cached_sequences: 0, cached_bytes: 0,
    evictions: 0, kv_budget: 0,
  });
  // a Heartbeat from an older worker (unix_ms only) decodes with zero counts
  const old = wire.decodeFromWorker(wire.encodeFromWorker({ heartbeat: { unix_ms: 5 } })).heartbeat;
  assert.equal(old.sequences, 0);
  assert.equal(old.kv_tokens, 0);
});

test('protoc decodes the PlanNews and Heartbeat that wire.mjs encodes (when protoc is installed)', { skip: !existsSync('/usr/bin/protoc') }, () => {
  const news = execFileSync('protoc', ['-I', protoDir, '--decode=tessera.wire.ToWorker', 'worker.proto'],
    { input: wire.encodeToWorker(planNewsObj) }).toString();
  assert.match(news, /plan_version: 3/);
  assert.match(news, /worker_name: "laptop"/);
  assert.match(news, /worker_id: 9007199254740993/);
  assert.match(news, /dropped: 300/);
  const hb = execFileSync('protoc', ['-I', protoDir, '--decode=tessera.wire.FromWorker', 'worker.proto'],
    { input: wire.encodeFromWorker({ heartbeat: { unix_ms: 1, sequences: 2, kv_tokens: 40 } }) }).toString();
  assert.match(hb, /sequences: 2/);
  assert.match(hb, /kv_tokens: 40/);
});

test('the prefix cache fields (Forward fork, Release keep, Evicted, Heartbeat cache counts) match protoc bytes', () => {
  const fork = {
    forward: {
      request_id: 12, sequence_id: 12, step: 1, position: 512, seq_len: 2, token_ids: [5, 6], shard_id: 's0',
      fork_from: 9007199254740993n, fork_length: 512,
    },
  };
  assert.deepEqual(wire.encodeToWorker(fork), golden('to_worker_forward_fork.bin'));
  const f = wire.decodeToWorker(golden('to_worker_forward_fork.bin')).forward;
  assert.equal(f.fork_from, 9007199254740993n);
  assert.equal(f.fork_length, 512);
  assert.equal(wire.decodeToWorker(golden('to_worker_forward.bin')).forward.fork_from, 0, 'no fork: 0');
  assert.deepEqual(wire.encodeToWorker({ release: { sequence_id: 12, keep: true } }), golden('to_worker_release_keep.bin'));
  assert.equal(wire.decodeToWorker(golden('to_worker_release.bin')).release.keep, false);
  assert.deepEqual(wire.encodeFromWorker({ evicted: { sequence_ids: [3, 300] } }), golden('from_worker_evicted.bin'));
  const beat = {
    unix_ms: 7, sequences: 4, kv_tokens: 900, kv_bytes: 5000000000, cached_sequences: 3, cached_bytes: 4000000,
    evictions: 17, kv_budget: 6000000000,
  };
  assert.deepEqual(wire.encodeFromWorker({ heartbeat: beat }), golden('from_worker_heartbeat_cache.bin'));
  assert.deepEqual({ ...wire.decodeFromWorker(golden('from_worker_heartbeat_cache.bin')).heartbeat }, beat);
});
