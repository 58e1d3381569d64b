// The Node worker (node/worker.mjs) against a fake node (testing/fake_node.mjs)
// serving a toy stage model: Hello, heartbeats, Assign with download + sha256 +
// disk cache, Forward with KV truncation, Release, errors that keep the worker
// serving, and exit on close.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { FakeNode } from '../testing/fake_node.mjs';
import { spawnWorker } from '../testing/spawn_worker.mjs';
import { toyStageModel, toyEmbedding } from '../testing/toy_stage.mjs';
import { readWireTensor, PROTOCOL_VERSION, DType } from '../core/wire.mjs';

let node;
let tmp;
let cache;
let modelFile;
let modelSha;
let modelBytes;
const workers = [];

before(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-worker-test-'));
  cache = path.join(tmp, 'cache');
  modelFile = path.join(tmp, 'toy.onnx');
  const bytes = toyStageModel();
  writeFileSync(modelFile, bytes);
  modelSha = createHash('sha256').update(bytes).digest('hex');
  modelBytes = bytes.length;
  node = await new FakeNode().start();
  node.serve('toy1', 'toy.onnx', modelFile);
  node.serve('toy2', 'toy.onnx', modelFile);
});

after(async () => {
  for (const w of workers) await w.stop();
  await node?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function start(extra = []) {
  const w = spawnWorker(['--url', node.wsUrl, '--cache', cache, ...extra]);
  workers.push(w);
  return w;
}

const assignMsg = (id, sha = modelSha) => ({
  assign: {
    shard_id: id, layer_begin: 0, layer_end: 1, head: '', plan_version: 1,
    files: [{ name: 'toy.onnx', url: `/shards/${id}/toy.onnx`, sha256: sha, bytes: modelBytes }],
  },
});

const forwardMsg = (f) => ({ forward: { request_id: 1, sequence_id: 7, step: 0, shard_id: 'toy1', ...f } });

// The first Heartbeat (within 5 s) that satisfies pred; other frames are unexpected here.
async function heartbeatWhere(conn, pred, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = await conn.next({ ignore: ['progress'], timeoutMs: Math.max(1, deadline - Date.now()) });
    assert.equal(m.body, 'heartbeat', `expected a Heartbeat, got ${m.body}`);
    if (pred(m.heartbeat)) return m.heartbeat;
  }
  return null;
}

function tensors(result) {
  return Object.fromEntries(result.tensors.map((t) => { const r = readWireTensor(t); return [r.name, r]; }));
}

test('a worker joins, loads a shard, serves forwards with KV per sequence, and exits when the node closes', async () => {
  const w = start(['--memory', '2GB', '--name', 'w-one', '--threads', '1']);
  const conn = await node.nextWorker();
  const hello = await conn.next();
  assert.equal(hello.body, 'hello', w.log);
  assert.equal(hello.hello.protocol_version, PROTOCOL_VERSION);
  assert.equal(hello.hello.device_kind, 'node-cpu');
  assert.equal(hello.hello.memory_bytes, 2e9);
  assert.equal(hello.hello.name, 'w-one');
  assert.equal(hello.hello.threads, 1);
  assert.ok(hello.hello.flops_per_s > 0, 'benchmark reported no speed');
  assert.deepEqual(hello.hello.cached_shards, []);

  conn.send({ welcome: { protocol_version: 1, worker_id: 3, heartbeat_ms: 100 } });
  const beat = await conn.next({ ignore: [], timeoutMs: 5000 });
  assert.equal(beat.body, 'heartbeat');
  assert.ok(Math.abs(beat.heartbeat.unix_ms - Date.now()) < 60000);

  conn.send(assignMsg('toy1'));
  const seen = await conn.until('loaded');
  const loaded = seen.at(-1).loaded;
  assert.equal(loaded.ok, true, loaded.error);
  assert.equal(loaded.shard_id, 'toy1');
  const progress = seen.filter((m) => m.body === 'progress').at(-1);
  assert.ok(progress, 'no Progress frame during the download');
  assert.equal(progress.progress.bytes_done, modelBytes);
  assert.equal(progress.progress.bytes_total, modelBytes);

  // prefill 3 tokens: hidden = E[id] + position
  conn.send(forwardMsg({ request_id: 2n ** 60n, step: 4, position: 0, seq_len: 3, token_ids: [1, 2, 3] }));
  let r = (await conn.next()).result;
  assert.ok(r, 'expected a Result');
  assert.equal(r.request_id, 2n ** 60n);
  assert.equal(r.sequence_id, 7);
  assert.equal(r.step, 4);
  assert.equal(r.shard_id, 'toy1');
  assert.ok(r.compute_ms >= 0);
  let t = tensors(r);
  assert.deepEqual(Array.from(t.hidden.data), [1, 1001, 3, 1003, 5, 1005]);
  assert.deepEqual(t.hidden.dims, [1, 3, 2]);
  assert.ok(!t['present.0.key'], 'present.* must stay on the worker');

  // replay from position 2: the KV is cut to 2 entries before the new token
  conn.send(forwardMsg({ position: 2, seq_len: 1, token_ids: [5] }));
  t = tensors((await conn.next()).result);
  const [e1, e2, e5] = [toyEmbedding(1), toyEmbedding(2), toyEmbedding(5)];
  assert.deepEqual(Array.from(t.kv_sum.data), [e1[0] + e2[0] + e5[0], e1[1] + e2[1] + e5[1]]);
  assert.deepEqual(Array.from(t.mask_len.data), [3n]);
  assert.deepEqual(Array.from(t.hidden.data), [5 + 2, 1005 + 2]);

  // another sequence is independent
  conn.send(forwardMsg({ sequence_id: 8, position: 0, seq_len: 1, token_ids: [9] }));
  t = tensors((await conn.next()).result);
  assert.deepEqual(Array.from(t.kv_sum.data), toyEmbedding(9));

  // heartbeats report what the worker holds: sequence 7 (3 positions) and 8 (1)
  const held = await heartbeatWhere(conn, (h) => h.sequences === 2 && h.kv_tokens === 4);
  assert.ok(held, 'no Heartbeat reported sequences=2 kv_tokens=4');

  // a position past the KV held is an error naming it, and the worker keeps serving
  conn.send(forwardMsg({ request_id: 11, position: 5, seq_len: 1, token_ids: [4] }));
  let err = (await conn.next()).error;
  assert.equal(err.code, 3);
  assert.equal(err.request_id, 11);
  assert.equal(err.sequence_id, 7);
  assert.match(err.message, /holds 3 positions/);

  // Release drops the KV
  conn.send({ release: { sequence_id: 7 } });
  assert.ok(await heartbeatWhere(conn, (h) => h.sequences === 1 && h.kv_tokens === 1),
    'no Heartbeat reported sequences=1 after Release');
  conn.send(forwardMsg({ position: 1, seq_len: 1, token_ids: [4] }));
  err = (await conn.next()).error;
  assert.match(err.message, /holds 0 positions/);

  // malformed frames and a forward for another shard are errors, not crashes
  conn.sendRaw(new Uint8Array([0x1a, 0x05, 0x01]));
  err = (await conn.next()).error;
  assert.equal(err.code, 1);
  conn.send(forwardMsg({ shard_id: 'other', position: 0, seq_len: 1, token_ids: [4] }));
  err = (await conn.next()).error;
  assert.equal(err.code, 2);
  assert.match(err.message, /serves shard toy1/);

  conn.send(forwardMsg({ sequence_id: 8, position: 1, seq_len: 1, token_ids: [10] }));
  t = tensors((await conn.next()).result);
  assert.deepEqual(Array.from(t.kv_sum.data), [9 + 10, 1009 + 1010]);

  conn.close(1000, 'test done');
  const { code } = await w.waitExit();
  assert.equal(code, 0, w.log);
});

test('a returning worker reports its cached shard and loads it without downloading', async () => {
  const w = start(['--no-benchmark']);
  const conn = await node.nextWorker();
  const hello = (await conn.next()).hello;
  assert.deepEqual(hello.cached_shards, ['toy1']);
  const before = node.requests.length;
  conn.send(assignMsg('toy1'));
  const loaded = (await conn.next()).loaded;
  assert.equal(loaded.ok, true, loaded.error);
  assert.equal(node.requests.length, before, 'the cached shard was downloaded again');
  conn.close(1000);
  assert.equal((await w.waitExit()).code, 0);
});

test('a standby Assign loads the shard ahead; serving the same shard later answers at once', async () => {
  const w = start(['--no-benchmark', '--name', 'w-standby']);
  const conn = await node.nextWorker();
  await conn.next();
  conn.send({ welcome: { protocol_version: 1, worker_id: 5, heartbeat_ms: 1000 } });
  conn.send({ assign: { ...assignMsg('toy1').assign, standby: true } });
  const first = (await conn.until('loaded')).at(-1).loaded;
  assert.equal(first.ok, true, first.error);
  assert.match(w.log, /loaded shard=toy1 layers=0-1 \(standing by\)/);
  const before = node.requests.length;
  conn.send(assignMsg('toy1'));  // the serving worker left: take over
  const second = (await conn.until('loaded')).at(-1).loaded;
  assert.equal(second.ok, true, second.error);
  assert.equal(node.requests.length, before, 'the standby shard was fetched again');
  conn.send(forwardMsg({ position: 0, seq_len: 1, token_ids: [1] }));
  const r = (await conn.next({ ignore: ['heartbeat'] })).result;
  assert.ok(r, 'the worker did not serve the shard it stood by for');
  assert.match(w.log, /serving shard=toy1 it stood by for/);
  conn.close(1000);
  assert.equal((await w.waitExit()).code, 0);
});

test('a shard whose sha256 does not match is refused with Loaded ok=false, and not cached', async () => {
  const w = start(['--no-benchmark']);
  const conn = await node.nextWorker();
  await conn.next();
  conn.send(assignMsg('toy2', '0'.repeat(64)));
  const loaded = (await conn.until('loaded')).at(-1).loaded;
  assert.equal(loaded.ok, false);
  assert.match(loaded.error, /sha256 mismatch for toy2\/toy.onnx/);
  conn.send(forwardMsg({ shard_id: '', position: 0, seq_len: 1, token_ids: [1] }));
  assert.equal((await conn.next()).error.code, 2);
  conn.close(1000);
  await w.waitExit();
  const again = start(['--no-benchmark']);
  const conn2 = await node.nextWorker();
  assert.deepEqual((await conn2.next()).hello.cached_shards, ['toy1']);
  conn2.close(1000);
  await again.waitExit();
});

test('a worker exits non-zero when the connection is lost, and on a protocol version mismatch closes', async () => {
  const w = start(['--no-benchmark']);
  const conn = await node.nextWorker();
  await conn.next();
  conn.send({ welcome: { protocol_version: 99, worker_id: 1, heartbeat_ms: 1000 } });
  const closed = await conn.waitClosed();
  assert.equal(closed.code, 1002);
  const w2 = start(['--no-benchmark']);
  const conn2 = await node.nextWorker();
  await conn2.next();
  conn2.socket.destroy();
  assert.equal((await w2.waitExit()).code, 1);
  await w.waitExit();
});

test('--hidden-dtype fp16 sends float boundary tensors as FLOAT16 (half the bytes), other dtypes unchanged', async () => {
  const w = start(['--no-benchmark', '--hidden-dtype', 'fp16']);
  const conn = await node.nextWorker();
  await conn.next();
  conn.send(assignMsg('toy1'));
  assert.equal((await conn.until('loaded')).at(-1).loaded.ok, true);
  conn.send(forwardMsg({ position: 0, seq_len: 2, token_ids: [1, 2] }));
  const r = (await conn.next()).result;
  const hidden = r.tensors.find((t) => t.name === 'hidden');
  assert.equal(hidden.dtype, DType.FLOAT16);
  assert.equal(hidden.data.length, 4 * 2);
  assert.deepEqual(Array.from(readWireTensor(hidden).data), [1, 1001, 3, 1003]);
  assert.equal(r.tensors.find((t) => t.name === 'mask_len').dtype, DType.INT64);
  conn.close(1000);
  assert.equal((await w.waitExit()).code, 0);
});

test('bad command lines exit with status 2 and name the problem', async () => {
  const url = ['--url', 'ws://127.0.0.1:1/ws/worker'];
  const cases = [
    [[...url, '--hidden-dtype', 'bf16'], /--hidden-dtype must be fp32 or fp16, got 'bf16'/],
    [[...url, '--memory', 'lots'], /--memory: 'lots' is not a size/],
    [[...url, '--threads', '0'], /--threads expects a positive integer, got '0'/],
    [['--url', 'http://x/'], /--url must start with ws:\/\/ or wss:\/\//],
    [['--bogus'], /bogus/],
    [[], /missing --url/],
  ];
  for (const [args, re] of cases) {
    const w = spawnWorker(args);
    workers.push(w);
    const { code } = await w.waitExit();
    assert.equal(code, 2, w.log);
    assert.match(w.log, re);
  }
});

test('each PlanNews is one readable line on stdout, naming this worker "you"', async () => {
  const w = start(['--no-benchmark', '--name', 'w-news']);
  let out = '';
  w.child.stdout.on('data', (d) => { out += d; });
  const conn = await node.nextWorker();
  await conn.next();
  conn.send({ welcome: { protocol_version: 1, worker_id: 4, heartbeat_ms: 1000 } });
  conn.send({
    plan_news: {
      plan_version: 3, why: 'worker 7 (laptop) joined',
      stages: [
        { worker_id: 4, worker_name: 'w-news', layer_begin: 0, layer_end: 6, had_previous: true, previous_begin: 0, previous_end: 4 },
        { worker_id: 7, worker_name: 'laptop', layer_begin: 6, layer_end: 12 },
      ],
      dropped: [2],
    },
  });
  conn.send({ plan_news: { plan_version: 4, why: 'worker 7 (laptop) left', stages: [{ worker_id: 9, layer_begin: 0, layer_end: 12 }], dropped: [4, 7] } });
  const deadline = Date.now() + 10000;
  while (out.split('\n').filter((l) => l.includes('replan:')).length < 2 && Date.now() < deadline)
    await new Promise((r) => {  // the next stdout chunk, or the deadline
      const t = setTimeout(r, Math.max(1, deadline - Date.now()));
      w.child.stdout.once('data', () => { clearTimeout(t); r(); });
    });
  const lines = out.split('\n').filter((l) => l.includes('replan:'));
  assert.equal(lines.length, 2, w.log);
  assert.equal(lines[0], 'tessera-worker[w-news] replan: plan v3 — worker 7 (laptop) joined · you: [0,4) → [0,6) · worker 7 (laptop): new [6,12) · dropped: worker 2');
  assert.equal(lines[1], 'tessera-worker[w-news] replan: plan v4 — worker 7 (laptop) left · worker 9: new [0,12) · dropped: you, worker 7 (laptop)');
  conn.close(1000);
  assert.equal((await w.waitExit()).code, 0);
});
