// The worker-thread ORT facade (node/ort_thread.mjs): same results as
// onnxruntime-node on the main thread, errors carried back, and the main event
// loop keeps running timers while a session is created or runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as direct from 'onnxruntime-node';
import { threadedOrt } from '../node/ort_thread.mjs';
import { matmulChainModel } from '../core/benchmark.mjs';

const ones = (ort, m, k) => new ort.Tensor('float32', new Float32Array(m * k).fill(1), [m, k]);

// Counts how many times a 1 ms interval fired while `work` was pending.
async function ticksDuring(work) {
  let ticks = 0;
  const timer = setInterval(() => { ++ticks; }, 1);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return ticks;
}

test('a threaded session gives the same outputs and metadata as onnxruntime-node', async () => {
  const bytes = matmulChainModel(4, 8, 2);
  const a = await direct.InferenceSession.create(bytes);
  const b = await threadedOrt.InferenceSession.create(bytes);
  try {
    assert.deepEqual(b.inputNames, a.inputNames);
    assert.deepEqual(b.outputNames, a.outputNames);
    assert.deepEqual(b.outputMetadata, a.outputMetadata);
    const x = new direct.Tensor('float32', Float32Array.from({ length: 32 }, (_, i) => i / 7), [4, 8]);
    const ra = await a.run({ X: x });
    const rb = await b.run({ X: x });
    assert.deepEqual(rb.Y.dims, ra.Y.dims);
    assert.equal(rb.Y.type, 'float32');
    assert.deepEqual(Array.from(rb.Y.data), Array.from(ra.Y.data));
    assert.ok(rb.Y instanceof direct.Tensor);
  } finally {
    await a.release();
    await b.release();
  }
});

test('a failing run and a bad model reject with ORT\'s message, and the session stays usable', async () => {
  const s = await threadedOrt.InferenceSession.create(matmulChainModel(2, 4, 1));
  try {
    await assert.rejects(s.run({ nope: ones(direct, 2, 4) }), /nope|input/i);
    const r = await s.run({ X: ones(direct, 2, 4) });
    assert.deepEqual(r.Y.dims, [2, 4]);
  } finally {
    await s.release();
  }
  await assert.rejects(threadedOrt.InferenceSession.create(new Uint8Array([1, 2, 3, 4])), /./);
  await s.release();  // idempotent after the thread is gone
});

test('timers keep firing on the main thread while a threaded session is created and runs', async () => {
  const bytes = matmulChainModel(64, 768, 8);
  const x = ones(direct, 64, 768);
  // Baseline: onnxruntime-node on the main thread holds the event loop for the whole run.
  const a = await direct.InferenceSession.create(bytes);
  const blocked = await ticksDuring(() => a.run({ X: x }));
  await a.release();
  assert.ok(blocked <= 1, `a main-thread run let a timer fire ${blocked} times (at most once, around it)`);
  let s;
  const duringCreate = await ticksDuring(async () => { s = await threadedOrt.InferenceSession.create(bytes); });
  try {
    const duringRuns = await ticksDuring(async () => { for (let i = 0; i < 3; ++i) await s.run({ X: x }); });
    assert.ok(duringCreate > 1, `timers fired ${duringCreate} times while the session was created`);
    assert.ok(duringRuns > 3, `timers fired ${duringRuns} times while 3 runs ran`);
    console.log(`# ticks: main-thread run ${blocked}, threaded create ${duringCreate}, 3 threaded runs ${duringRuns}`);
  } finally {
    await s.release();
  }
});
