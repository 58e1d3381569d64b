// The worker's prefix cache against a fake node serving the toy stage
// (testing/toy_stage.mjs: kv_sum exposes the KV a step saw): Release{keep}
// keeps a sequence, a Forward forks from its first positions, a fork of a
// sequence the worker does not hold is a cache miss (error 7), cached KV is
// evicted least recently used first to stay within the Assign's kv_budget
// (Evicted frames, never over budget), and a live sequence that cannot fit
// even without cache is refused (error 8). Heartbeats report all of it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { FakeNode } from '../testing/fake_node.mjs';
import { spawnWorker } from '../testing/spawn_worker.mjs';
import { toyStageModel, toyEmbedding } from '../testing/toy_stage.mjs';
import { readWireTensor } from '../core/wire.mjs';
import { kvBudgetOf } from '../core/worker_core.mjs';

let node;
let tmp;
let modelSha;
let modelBytes;
const workers = [];
// The toy stage keeps key and value [1, 1, L, 2] float32: 16 bytes per position.
const PER_POSITION = 16;

before(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-prefix-keep-'));
  const file = path.join(tmp, 'toy.onnx');
  const bytes = toyStageModel();
  writeFileSync(file, bytes);
  modelSha = createHash('sha256').update(bytes).digest('hex');
  modelBytes = bytes.length;
  node = await new FakeNode().start();
  node.serve('toy1', 'toy.onnx', file);
});

after(async () => {
  for (const w of workers) await w.stop();
  await node?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function joinedWorker(kvBudget) {
  const w = spawnWorker(['--url', node.wsUrl, '--cache', path.join(tmp, 'cache'), '--no-benchmark']);
  workers.push(w);
  const conn = await node.nextWorker();
  assert.equal((await conn.next()).body, 'hello', w.log);
  conn.send({ welcome: { protocol_version: 1, worker_id: 9, heartbeat_ms: 100 } });
  conn.send({
    assign: {
      shard_id: 'toy1', layer_begin: 0, layer_end: 1, head: '', plan_version: 1, kv_budget: kvBudget,
      files: [{ name: 'toy.onnx', url: '/shards/toy1/toy.onnx', sha256: modelSha, bytes: modelBytes }],
    },
  });
  const loaded = (await conn.until('loaded')).at(-1).loaded;
  assert.equal(loaded.ok, true, loaded.error);
  return { w, conn };
}

const forward = (f) => ({ forward: { request_id: f.sequence_id, step: 1, shard_id: 'toy1', ...f } });

// The next frame that is not a Heartbeat (Progress too is skipped).
const nextFrame = (conn) => conn.next({ ignore: ['heartbeat', 'progress'] });

function kvSum(result) {
  const t = result.tensors.map(readWireTensor).find((x) => x.name === 'kv_sum');
  return Array.from(t.data);
}

const sumOf = (ids) => ids.map(toyEmbedding).reduce((a, e) => [a[0] + e[0], a[1] + e[1]], [0, 0]);

async function heartbeatWhere(conn, pred, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const m = await conn.next({ ignore: ['progress'], timeoutMs: Math.max(1, deadline - Date.now()) });
    if (m.body === 'heartbeat' && pred(m.heartbeat)) return m.heartbeat;
  }
  return null;
}

test('a kept sequence is forked from: the new sequence sees exactly its first positions, then its own tokens', async () => {
  const { w, conn } = await joinedWorker(1 << 20);
  conn.send(forward({ sequence_id: 1, position: 0, seq_len: 4, token_ids: [1, 2, 3, 4] }));
  assert.deepEqual(kvSum((await nextFrame(conn)).result), sumOf([1, 2, 3, 4]));
  conn.send({ release: { sequence_id: 1, keep: true } });
  const hb = await heartbeatWhere(conn, (h) => h.cached_sequences === 1);
  assert.ok(hb, 'no Heartbeat reported the kept sequence');
  assert.equal(Number(hb.cached_bytes), 4 * PER_POSITION);
  assert.equal(Number(hb.kv_bytes), 4 * PER_POSITION);
  assert.equal(Number(hb.kv_budget), 1 << 20);

  // fork 3 positions of sequence 1 into 2, then run token 7 at position 3
  conn.send(forward({ sequence_id: 2, position: 3, seq_len: 1, token_ids: [7], fork_from: 1, fork_length: 3 }));
  assert.deepEqual(kvSum((await nextFrame(conn)).result), sumOf([1, 2, 3, 7]));
  // the source is untouched by the fork's own step
  conn.send(forward({ sequence_id: 3, position: 4, seq_len: 1, token_ids: [5], fork_from: 1, fork_length: 4 }));
  assert.deepEqual(kvSum((await nextFrame(conn)).result), sumOf([1, 2, 3, 4, 5]));

  // a fork past what the source holds, or of a sequence never kept, is a cache miss
  conn.send(forward({ sequence_id: 4, position: 5, seq_len: 1, token_ids: [5], fork_from: 1, fork_length: 5 }));
  let err = (await nextFrame(conn)).error;
  assert.equal(err.code, 7, JSON.stringify(err));
  assert.match(err.message, /sequence 1 holds 4 KV positions, fork asks for 5/);
  conn.send(forward({ sequence_id: 4, position: 2, seq_len: 1, token_ids: [5], fork_from: 99, fork_length: 2 }));
  err = (await nextFrame(conn)).error;
  assert.equal(err.code, 7);
  conn.close(1000);
  assert.equal((await w.waitExit()).code, 0, w.log);
});

test('under a tight budget cached KV is evicted least recently used first, reported, and never exceeded', async () => {
  const budget = 10 * PER_POSITION;
  const { w, conn } = await joinedWorker(budget);
  for (const seq of [1, 2]) {  // two kept sequences of 4 positions: 8 of 10 positions used
    conn.send(forward({ sequence_id: seq, position: 0, seq_len: 4, token_ids: [seq, seq, seq, seq] }));
    assert.ok((await nextFrame(conn)).result);
    conn.send({ release: { sequence_id: seq, keep: true } });
  }
  // a fork reads sequence 1: now sequence 2 is the least recently used
  conn.send(forward({ sequence_id: 3, position: 2, seq_len: 1, token_ids: [9], fork_from: 1, fork_length: 2 }));
  let m = await nextFrame(conn);
  assert.equal(m.body, 'evicted', `3 + 8 positions exceed 10: expected an eviction, got ${m.body}`);
  assert.deepEqual(m.evicted.sequence_ids, [2]);
  assert.deepEqual(kvSum((await nextFrame(conn)).result), sumOf([1, 1, 9]));
  const hb = await heartbeatWhere(conn, (h) => Number(h.evictions) === 1);
  assert.ok(hb, 'no Heartbeat counted the eviction');
  assert.ok(Number(hb.kv_bytes) <= budget, `KV ${hb.kv_bytes} bytes over the budget ${budget}`);
  assert.equal(hb.cached_sequences, 1);

  // a live sequence that alone needs more than the budget is refused; cached KV went first
  conn.send(forward({ sequence_id: 4, position: 0, seq_len: 8, token_ids: [1, 2, 3, 4, 5, 6, 7, 8] }));
  m = await nextFrame(conn);
  assert.equal(m.body, 'evicted');
  assert.deepEqual(m.evicted.sequence_ids, [1]);
  const err = (await nextFrame(conn)).error;
  assert.equal(err.code, 8, JSON.stringify(err));
  assert.match(err.message, /needs 176 bytes of KV in all, budget 160/);
  const after = await heartbeatWhere(conn, (h) => Number(h.evictions) === 2);
  assert.ok(after && Number(after.kv_bytes) <= budget, 'over budget after the refusal');
  conn.close(1000);
  assert.equal((await w.waitExit()).code, 0, w.log);
});

test('the KV budget is the Assign kv_budget, else the memory left beside the shard files', () => {
  const files = [{ bytes: 300 }, { bytes: 200 }];
  assert.equal(kvBudgetOf({ kv_budget: 1234, files }, 1e6), 1234);
  assert.equal(kvBudgetOf({ kv_budget: 0, files }, 1000), 500);
  assert.equal(kvBudgetOf({ kv_budget: 0, files }, 100), 0);
});
