// Link probes (Probe -> Echo) and the throttled test worker (node/throttle.mjs),
// with the Node worker against a fake node serving a toy stage model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { FakeNode } from '../testing/fake_node.mjs';
import { spawnWorker } from '../testing/spawn_worker.mjs';
import { toyStageModel } from '../testing/toy_stage.mjs';
import { OP, encodeFrame } from '../node/ws_frames.mjs';
import * as wire from '../core/wire.mjs';

let node;
let tmp;
let modelSha;
let modelBytes;
const workers = [];

before(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-probe-test-'));
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

const testing = { ...process.env, TESSERA_TESTING: '1' };

// A worker that joined and loaded the toy stage; resolves its connection.
async function joined(args, env = process.env) {
  const w = spawnWorker(['--url', node.wsUrl, '--cache', path.join(tmp, `cache-${workers.length}`), '--no-benchmark',
                         ...args], env);
  workers.push(w);
  const conn = await node.nextWorker();
  assert.equal((await conn.next()).body, 'hello', w.log);
  conn.send({ welcome: { protocol_version: 1, worker_id: 1, heartbeat_ms: 60000 } });
  conn.send({ assign: { shard_id: 'toy1', layer_begin: 0, layer_end: 1, head: '', plan_version: 1,
                        files: [{ name: 'toy.onnx', url: '/shards/toy1/toy.onnx', sha256: modelSha, bytes: modelBytes }] } });
  const loaded = (await conn.until('loaded')).at(-1).loaded;
  assert.equal(loaded.ok, true, loaded.error);
  return { w, conn };
}

const forward = (step) => ({ forward: { request_id: 1, sequence_id: 7, step, position: step, seq_len: 1,
                                        token_ids: [1 + step], shard_id: 'toy1' } });

test('a Probe is echoed with its bytes, ahead of a Forward queued before it', async () => {
  const { conn } = await joined(['--name', 'w-probe']);
  for (const size of [1, 64, 65536, 1 << 20]) {
    const payload = new Uint8Array(randomBytes(size));
    conn.send({ probe: { seq: size, payload } });
    const m = await conn.next();
    assert.equal(m.body, 'echo');
    assert.equal(m.echo.seq, size);
    assert.deepEqual(new Uint8Array(m.echo.payload), payload, `the ${size}-byte echo differs from its probe`);
  }
  // One write holding a Forward then a Probe: the Forward is queued (ORT runs
  // it asynchronously), the Probe is answered as soon as it is read.
  const bytes = Buffer.concat([...encodeFrame(OP.BINARY, wire.encodeToWorker(forward(0)), false),
                               ...encodeFrame(OP.BINARY, wire.encodeToWorker({ probe: { seq: 99, payload: new Uint8Array(8) } }), false)]);
  conn.socket.write(bytes);
  const first = await conn.next();
  const second = await conn.next();
  assert.deepEqual([first.body, second.body], ['echo', 'result']);
  assert.equal(first.echo.seq, 99);
});

test('--throttle-ms holds Results back once the worker gets SIGUSR2, and echoes stay prompt', async () => {
  const { w, conn } = await joined(['--name', 'w-slow', '--throttle-ms', '400'], testing);
  conn.send(forward(0));
  assert.equal((await conn.next()).body, 'result');
  w.child.kill('SIGUSR2');
  // The signal is handled asynchronously: wait for the worker to say so.
  const deadline = Date.now() + 10000;
  while (!/THROTTLED/.test(w.log) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.match(w.log, /THROTTLED: every Result from now on is sent 400 ms late/);
  const sent = performance.now();
  conn.send(forward(1));
  conn.send({ probe: { seq: 5, payload: new Uint8Array(16) } });
  const echo = await conn.next();
  assert.equal(echo.body, 'echo', 'the echo did not overtake the held-back Result');
  const result = await conn.next();
  assert.equal(result.body, 'result');
  assert.ok(performance.now() - sent >= 400, `the Result came ${performance.now() - sent} ms after its Forward`);
});

test('--throttle-ms is a test mode and wants a positive number', async () => {
  const url = ['--url', 'ws://127.0.0.1:1/ws/worker'];
  const { TESSERA_TESTING, ...plain } = process.env;
  const cases = [
    [[...url, '--throttle-ms', '50'], plain, /--throttle-ms 50 is a test mode: set TESSERA_TESTING=1/],
    [[...url, '--throttle-ms', 'soon'], testing, /--throttle-ms expects a positive number of ms, got 'soon'/],
  ];
  for (const [args, env, re] of cases) {
    const w = spawnWorker(args, env);
    workers.push(w);
    const { code } = await w.waitExit();
    assert.equal(code, 2, w.log);
    assert.match(w.log, re);
  }
});
