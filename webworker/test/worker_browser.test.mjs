// The browser worker page (browser/index.html + main.mjs) in headless Chromium
// against a fake node that serves the page with COOP/COEP/CORP: it joins with
// device kind wasm and more than one thread (cross-origin isolated), downloads and
// loads a shard, serves forwards with the same results as the Node worker, shows
// its state in #status #layers #served, and after a reload reports the shard as
// cached in Cache Storage and loads it without downloading.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { FakeNode } from '../testing/fake_node.mjs';
import { launchBrowser, haveChromium } from '../testing/chromium.mjs';
import { toyStageModel } from '../testing/toy_stage.mjs';
import { readWireTensor } from '../core/wire.mjs';

const skip = haveChromium() ? false : 'no Chromium at /usr/bin/chromium';
let node;
let browser;
let tmp;
let sha;
let size;

before(async () => {
  if (skip) return;
  tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-browser-test-'));
  const bytes = toyStageModel();
  writeFileSync(path.join(tmp, 'toy.onnx'), bytes);
  sha = createHash('sha256').update(bytes).digest('hex');
  size = bytes.length;
  node = await new FakeNode({ servePage: true }).start();
  node.serve('toyB', 'toy.onnx', path.join(tmp, 'toy.onnx'));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await node?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const assign = {
  assign: { shard_id: 'toyB', layer_begin: 2, layer_end: 5, head: '', files: [{ name: 'toy.onnx', url: '/shards/toyB/toy.onnx', sha256: sha, bytes: size }] },
};

test('a browser tab joins, loads a shard, serves forwards and shows its layers', { skip, timeout: 120000 }, async () => {
  assign.assign.files[0].sha256 = sha;
  assign.assign.files[0].bytes = size;
  const page = await browser.context.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(m.text()));
  await page.goto(`${node.httpUrl}/?reconnect=0&name=tab1&memory=512MB&threads=2`);
  const conn = await node.nextWorker(60000);
  const hello = (await conn.next({ timeoutMs: 60000 })).hello;
  assert.ok(hello, consoleLines.join('\n'));
  assert.equal(hello.device_kind, 'wasm');
  assert.equal(hello.name, 'tab1');
  assert.equal(hello.memory_bytes, 512e6);
  assert.equal(hello.threads, 2, 'not cross-origin isolated? multithreaded WASM needs COOP/COEP');
  assert.ok(hello.flops_per_s > 0);
  assert.deepEqual(hello.cached_shards, []);
  conn.send({ welcome: { protocol_version: 1, worker_id: 12, heartbeat_ms: 1000 } });
  conn.send(assign);
  const loaded = (await conn.until('loaded', 60000)).at(-1).loaded;
  assert.equal(loaded.ok, true, loaded.error + '\n' + consoleLines.join('\n'));
  await page.waitForFunction(() => document.querySelector('#status').textContent === 'serving');
  assert.equal(await page.textContent('#layers'), '2–5');
  assert.equal(await page.textContent('#worker-id'), '12');

  conn.send({ forward: { request_id: 1, sequence_id: 3, step: 0, position: 0, seq_len: 2, token_ids: [1, 2], shard_id: 'toyB' } });
  let r = (await conn.next()).result;
  assert.ok(r, 'expected a Result');
  const hidden = readWireTensor(r.tensors.find((t) => t.name === 'hidden'));
  assert.deepEqual(Array.from(hidden.data), [1, 1001, 3, 1003]);
  conn.send({ forward: { request_id: 1, sequence_id: 3, step: 1, position: 1, seq_len: 1, token_ids: [7], shard_id: 'toyB' } });
  r = (await conn.next()).result;
  const kv = readWireTensor(r.tensors.find((t) => t.name === 'kv_sum'));
  assert.deepEqual(Array.from(kv.data), [1 + 7, 1001 + 1007]);
  await page.waitForFunction(() => document.querySelector('#served').textContent === '3');
  // the next heartbeat reports (and the page shows) the KV held: sequence 3 with 2 positions
  await page.waitForFunction(() => document.querySelector('#kv').textContent === '1 sequence, 2 positions');

  // re-plans are listed newest first, this tab named "you"
  conn.send({ plan_news: { plan_version: 2, why: 'first plan', stages: [{ worker_id: 12, worker_name: 'tab1', layer_begin: 2, layer_end: 5 }] } });
  conn.send({
    plan_news: {
      plan_version: 3, why: 'worker 4 (big) joined; better by 30%',
      stages: [
        { worker_id: 4, worker_name: 'big', layer_begin: 0, layer_end: 3 },
        { worker_id: 12, worker_name: 'tab1', layer_begin: 3, layer_end: 5, had_previous: true, previous_begin: 2, previous_end: 5 },
      ],
      dropped: [1],
    },
  });
  await page.waitForFunction(() => document.querySelectorAll('#replans li').length === 2);
  const items = await page.$$eval('#replans li', (lis) => lis.map((li) => ({ v: li.dataset.version, text: li.textContent })));
  assert.deepEqual(items.map((i) => i.v), ['3', '2']);
  assert.ok(items[0].text.endsWith('plan v3 — worker 4 (big) joined; better by 30% · worker 4 (big): new [0,3) · you: [2,5) → [3,5) · dropped: worker 1'), items[0].text);
  assert.ok(items[1].text.endsWith('plan v2 — first plan · you: new [2,5)'), items[1].text);
  assert.equal(await page.isHidden('#replans-none'), true);
  assert.equal(await page.textContent('#layers'), '2–5', 'PlanNews is news only: the Assign sets the layers');
  conn.close(1000);
  await page.waitForFunction(() => document.querySelector('#status').textContent === 'disconnected');

  // a returning participant: Cache Storage still has the shard
  const before = node.requests.filter((u) => u.startsWith('/shards/')).length;
  await page.reload();
  const conn2 = await node.nextWorker(60000);
  const hello2 = (await conn2.next({ timeoutMs: 60000 })).hello;
  assert.deepEqual(hello2.cached_shards, ['toyB']);
  conn2.send(assign);
  const loaded2 = (await conn2.until('loaded', 60000)).at(-1).loaded;
  assert.equal(loaded2.ok, true, loaded2.error);
  assert.equal(node.requests.filter((u) => u.startsWith('/shards/')).length, before, 'shard downloaded again');
  conn2.close(1000);
  await page.close();
});

test('with a (software) WebGPU adapter the tab joins as webgpu and computes the same results', { skip, timeout: 180000 }, async () => {
  const gpu = await launchBrowser({
    extraArgs: ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader'],
  });
  try {
    const page = await gpu.context.newPage();
    await page.goto(`${node.httpUrl}/?reconnect=0&name=gpu`);
    const conn = await node.nextWorker(60000);
    const hello = (await conn.next({ timeoutMs: 60000 })).hello;
    assert.equal(hello.device_kind, 'webgpu');
    conn.send(assign);
    const loaded = (await conn.until('loaded', 60000)).at(-1).loaded;
    assert.equal(loaded.ok, true, loaded.error);
    conn.send({ forward: { request_id: 1, sequence_id: 1, position: 0, seq_len: 2, token_ids: [1, 2], shard_id: 'toyB' } });
    const r = (await conn.next({ timeoutMs: 60000 })).result;
    assert.ok(r, 'expected a Result');
    const hidden = readWireTensor(r.tensors.find((t) => t.name === 'hidden'));
    assert.deepEqual(Array.from(hidden.data), [1, 1001, 3, 1003]);
    conn.close(1000);
  } finally {
    await gpu.close();
  }
});

test('a tab whose page main thread is busy keeps sending heartbeats and serving steps', { skip, timeout: 120000 }, async () => {
  assign.assign.files[0].sha256 = sha;
  assign.assign.files[0].bytes = size;
  const page = await browser.context.newPage();
  await page.goto(`${node.httpUrl}/?reconnect=0&name=busy&memory=512MB&threads=1`);
  const conn = await node.nextWorker(60000);
  assert.ok((await conn.next({ timeoutMs: 60000 })).hello);
  conn.send({ welcome: { protocol_version: 1, worker_id: 21, heartbeat_ms: 200 } });
  conn.send(assign);
  assert.equal((await conn.until('loaded', 60000)).at(-1).loaded.ok, true);
  // The page's main thread spins for BUSY_MS in a task of its own (evaluate returns at once).
  const BUSY_MS = 4000;
  await page.evaluate((ms) => {
    setTimeout(() => {
      const start = Date.now();
      while (Date.now() < start + ms) { /* the page is busy */ }
      globalThis.busyUntil = Date.now();
    }, 0);
  }, BUSY_MS);
  let beats = 0;
  while (beats < 3) {
    const m = await conn.next({ ignore: ['progress'], timeoutMs: 2000 });
    if (m.heartbeat) ++beats;
  }
  conn.send({ forward: { request_id: 2, sequence_id: 5, step: 0, position: 0, seq_len: 2, token_ids: [1, 2], shard_id: 'toyB' } });
  const r = (await conn.next({ timeoutMs: 2000 })).result;
  assert.ok(r, 'expected a Result while the page is busy');
  const servedAt = Date.now();
  const busyUntil = await page.evaluate(() => globalThis.busyUntil);  // answers once the page is free again
  assert.ok(servedAt < busyUntil, `3 heartbeats and a Result arrived ${busyUntil - servedAt} ms before the page was free`);
  conn.close(1000);
  await page.close();
});
