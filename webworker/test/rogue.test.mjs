// The test-only rogue worker (node/rogue.mjs): refused without TESSERA_TESTING=1,
// and each kind rewrites the frames it is meant to, on a fake transport.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as wire from '../core/wire.mjs';
import { checkRogue, rogueConnect, ROGUE_KINDS } from '../node/rogue.mjs';

// A transport that records what the worker sends; deliver(msg) plays the node.
function fakeTransport() {
  const sent = [];
  const ws = {
    send: (bytes) => sent.push(wire.decodeFromWorker(bytes)),
    close() {}, onmessage: () => {}, onclose: () => {},
  };
  return { ws, sent, deliver: (msg) => ws.onmessage(wire.encodeToWorker(msg), true) };
}

async function rogue(kind) {
  const t = fakeTransport();
  const logs = [];
  const ws = await rogueConnect(kind, async () => t.ws, (level, msg) => logs.push(msg))('ws://x/ws/worker');
  return { ...t, ws, logs };
}

const hidden = () => wire.makeWireTensor('h', 'float32', [1, 2, 2], new Float32Array([0.5, -1, 2, 0.25]));
const result = (extra) => ({ result: { request_id: 1, sequence_id: 1, step: 1, compute_ms: 1, shard_id: 's', tensors: [], token_ids: [], logits: [], ...extra } });
const floats = (t) => Array.from(wire.readWireTensor(t).data);

test('a rogue needs TESSERA_TESTING=1 and a known kind', () => {
  assert.throws(() => checkRogue('nan', {}), /TESSERA_TESTING=1/);
  assert.throws(() => checkRogue('evil', { TESSERA_TESTING: '1' }), /unknown kind 'evil'/);
  for (const k of ROGUE_KINDS) checkRogue(k, { TESSERA_TESTING: '1' });
});

test('claim kinds rewrite the Hello', async () => {
  const huge = await rogue('claims-huge');
  huge.ws.send(wire.encodeFromWorker({ hello: { protocol_version: 1, memory_bytes: 1000, flops_per_s: 1e9, name: 'x' } }));
  assert.equal(huge.sent[0].hello.flops_per_s, 1e15);
  assert.equal(Number(huge.sent[0].hello.memory_bytes), 1e12);
  const inf = await rogue('claims-inf');
  inf.ws.send(wire.encodeFromWorker({ hello: { protocol_version: 1, flops_per_s: 1e9 } }));
  assert.equal(inf.sent[0].hello.flops_per_s, Infinity);
});

test('tensor kinds rewrite boundary tensors', async () => {
  const cases = {
    nan: (v) => v.every(Number.isNaN),
    zeros: (v) => v.every((x) => x === 0),
    scaled: (v) => v.every((x, i) => Math.abs(x - [0.5, -1, 2, 0.25][i] * 1.01) < 1e-6),
    random: (v) => v.every((x) => x >= -1 && x < 1) && new Set(v).size > 1,
  };
  for (const [kind, ok] of Object.entries(cases)) {
    const r = await rogue(kind);
    r.ws.send(wire.encodeFromWorker(result({ tensors: [hidden()] })));
    assert.ok(ok(floats(r.sent[0].result.tensors[0])), kind);
  }
  const shape = await rogue('shape');
  shape.ws.send(wire.encodeFromWorker(result({ tensors: [hidden()] })));
  assert.deepEqual(shape.sent[0].result.tensors[0].shape.map(Number), [1, 3, 2]);
  const bloat = await rogue('bloat');
  bloat.ws.send(wire.encodeFromWorker(result({ tensors: [hidden()] })));
  assert.equal(bloat.sent[0].result.tensors[0].data.length, 32 << 20);
});

test('token kinds send ids of their own', async () => {
  const pwned = await rogue('pwned');
  for (let i = 0; i < 6; ++i) pwned.ws.send(wire.encodeFromWorker(result({ token_ids: [65] })));
  assert.equal(String.fromCharCode(...pwned.sent.map((m) => Number(m.result.token_ids[0]))), 'PWNED!');
  const oov = await rogue('out-of-vocab');
  oov.ws.send(wire.encodeFromWorker(result({ token_ids: [65] })));
  assert.equal(Number(oov.sent[0].result.token_ids[0]), 2 ** 40);
});

test('silent drops Results; fake-load answers Loaded without passing the Assign on', async () => {
  const silent = await rogue('silent');
  silent.ws.send(wire.encodeFromWorker(result({ token_ids: [1] })));
  silent.ws.send(wire.encodeFromWorker({ heartbeat: { unix_ms: 1 } }));
  assert.deepEqual(silent.sent.map((m) => m.body), ['heartbeat']);
  const fake = await rogue('fake-load');
  const seen = [];
  fake.ws.onmessage = (data) => seen.push(wire.decodeToWorker(data).body);
  fake.deliver({ assign: { shard_id: 'abc', layer_begin: 0, layer_end: 2, files: [] } });
  fake.deliver({ release: { sequence_id: 3 } });
  assert.deepEqual(seen, ['release']);
  assert.equal(fake.sent[0].loaded.shard_id, 'abc');
  assert.equal(fake.sent[0].loaded.ok, true);
});
