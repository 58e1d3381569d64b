// Real stages over the wire: three Node workers (node/worker.mjs) each load one
// stage of the 3-uneven greedy split from a fake node, which relays the boundary
// tensors as a Tessera node would. The tokens equal the whole model's greedy
// tokens; after a worker dies mid-decode, a fresh worker rebuilt by replaying the
// kept stage inputs continues with identical tokens; replaying a step (Forward at
// an earlier position) is idempotent.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { FakeNode } from '../testing/fake_node.mjs';
import { spawnWorker } from '../testing/spawn_worker.mjs';
import { splitDir } from '../testing/plans.mjs';
import { loadWholeModel, readManifest } from '../node/ort_node.mjs';
import { argmaxRow } from '../core/pipeline.mjs';
import { encodeBytes, BOS } from '../core/byte_text.mjs';
import { launchBrowser, haveChromium } from '../testing/chromium.mjs';

const MODELS = process.env.TESSERA_MODELS;
const NAME = process.env.TESSERA_PIPELINE_MODEL ?? 'tiny';
const DECODE = 24;
const PROMPT = [BOS, ...encodeBytes('Pipelines over sockets. ')];
const skip = !MODELS ? 'TESSERA_MODELS not set (run through ctest, which builds the models)' : false;

describe(`three Node workers serve the 3-uneven greedy split of '${NAME}'`, { skip }, () => {
  let node;
  let tmp;
  let manifest;
  let assigns;
  let reference;
  const procs = [];

  before(async () => {
    const dir = splitDir(MODELS, NAME, 'three_uneven', 'greedy');
    manifest = readManifest(dir);
    node = await new FakeNode({ servePage: true }).start();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-pipeline-test-'));
    assigns = manifest.stages.map((s, i) => {
      const names = [s.file, ...(s.data_file && existsSync(path.join(dir, s.data_file)) ? [s.data_file] : [])];
      const files = names.map((name) => {
        const p = path.join(dir, name);
        const bytes = readFileSync(p);
        return { name, url: node.serve(s.id, name, p), sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
      });
      return {
        shard_id: s.id, layer_begin: s.layers[0], layer_end: s.layers[1],
        head: i === manifest.stages.length - 1 ? manifest.head : '', files, plan_version: 1,
      };
    });
    const { pipeline } = await loadWholeModel(path.join(MODELS, NAME));
    reference = [];
    let position = 0;
    let input = PROMPT;
    for (let step = 0; step <= DECODE; ++step) {
      const next = argmaxRow((await pipeline.step(0, { position, tokenIds: input })).outputs.logits);
      reference.push(next);
      position += input.length;
      input = [next];
    }
    await pipeline.dispose();
  });

  after(async () => {
    for (const p of procs) await p.stop();
    await node?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  // A browser tab (headless Chromium, WASM) as the worker for stage k.
  async function joinBrowser(k, browser) {
    const page = await browser.context.newPage();
    const lines = [];
    page.on('console', (m) => lines.push(m.text()));
    await page.goto(`${node.httpUrl}/?reconnect=0&name=tab${k}&threads=1`);
    const conn = await node.nextWorker(60000);
    assert.equal((await conn.next({ timeoutMs: 60000 })).body, 'hello', lines.join('\n'));
    conn.send({ welcome: { protocol_version: 1, worker_id: 99, heartbeat_ms: 2000 } });
    conn.send({ assign: assigns[k] });
    const loaded = (await conn.until('loaded', 60000)).at(-1).loaded;
    assert.equal(loaded.ok, true, `${loaded.error}\n${lines.join('\n')}`);
    return { conn, page };
  }

  async function join(k) {
    const proc = spawnWorker(['--url', node.wsUrl, '--cache', path.join(tmp, `cache${procs.length}`), '--name', `w${k}`, '--threads', '1', '--no-benchmark']);
    procs.push(proc);
    const conn = await node.nextWorker();
    assert.equal((await conn.next()).body, 'hello', proc.log);
    conn.send({ welcome: { protocol_version: 1, worker_id: procs.length, heartbeat_ms: 2000 } });
    conn.send({ assign: assigns[k] });
    const loaded = (await conn.until('loaded', 60000)).at(-1).loaded;
    assert.equal(loaded.ok, true, `${loaded.error}\n${proc.log}`);
    return { conn, proc };
  }

  // One step through every stage; `kept[k]` collects the Forward each stage got.
  async function step(workers, { seq, position, tokenIds, stepNo, kept }) {
    let tensors = [];
    for (let k = 0; k < workers.length; ++k) {
      const forward = {
        request_id: 100, sequence_id: seq, step: stepNo, position, seq_len: tokenIds.length,
        token_ids: k === 0 ? tokenIds : [], tensors: k === 0 ? [] : tensors, shard_id: assigns[k].shard_id,
      };
      kept?.[k].push(forward);
      workers[k].conn.send({ forward });
      const m = await workers[k].conn.next();
      assert.equal(m.body, 'result', m.error?.message);
      assert.equal(m.result.step, stepNo);
      if (k === workers.length - 1) {
        assert.equal(m.result.tensors.length, 0);
        return m.result.token_ids[0];
      }
      assert.ok(m.result.tensors.length > 0, `stage ${k} returned no boundary tensors`);
      tensors = m.result.tensors.map((t) => ({ ...t, data: new Uint8Array(t.data) }));
    }
    return undefined;
  }

  test('greedy tokens equal the whole model, survive a worker loss, and replays are idempotent', async () => {
    const workers = [await join(0), await join(1), await join(2)];
    const kept = [[], [], []];
    const tokens = [];
    let position = 0;
    let input = PROMPT;
    const loseAt = 12;
    for (let s = 0; s <= DECODE; ++s) {
      if (s === loseAt) {
        // stage 1's worker dies; a new one rebuilds the KV from the kept inputs
        workers[1].proc.child.kill('SIGKILL');
        await workers[1].conn.waitClosed();
        const fresh = await join(1);
        for (const f of kept[1]) {
          fresh.conn.send({ forward: f });
          assert.equal((await fresh.conn.next()).body, 'result');
        }
        workers[1] = fresh;
      }
      const next = await step(workers, { seq: 5, position, tokenIds: input, stepNo: s, kept });
      tokens.push(next);
      position += input.length;
      input = [next];
    }
    assert.deepEqual(tokens, reference);

    // replay the last step at its position on every stage: same token
    const lastPos = position - 1;
    const again = await step(workers, { seq: 5, position: lastPos, tokenIds: [tokens[DECODE - 1]], stepNo: DECODE });
    assert.equal(again, tokens[DECODE]);

    for (const w of workers) w.conn.close(1000);
    for (const w of workers) assert.equal((await w.proc.waitExit()).code, 0);
  });

  test('a browser tab serving the middle stage between two Node workers gives the same tokens',
    { skip: haveChromium() ? false : 'no Chromium', timeout: 240000 }, async () => {
      const browser = await launchBrowser();
      try {
        const workers = [await join(0), await joinBrowser(1, browser), await join(2)];
        const tokens = [];
        let position = 0;
        let input = PROMPT;
        for (let s = 0; s <= DECODE; ++s) {
          const next = await step(workers, { seq: 9, position, tokenIds: input, stepNo: s });
          tokens.push(next);
          position += input.length;
          input = [next];
        }
        assert.deepEqual(tokens, reference);
        const layers = await workers[1].page.textContent('#layers');
        assert.equal(layers, `${assigns[1].layer_begin}–${assigns[1].layer_end}`);
        for (const w of workers) w.conn.close(1000);
      } finally {
        await browser.close();
      }
    });
});
