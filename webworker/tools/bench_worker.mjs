#!/usr/bin/env node
// Benchmarks of the JavaScript worker, printed as ratios measured in one run:
//  1. chained stages vs the whole model, in one process (onnxruntime-node):
//     median ms/token over alternating rounds, and their ratio;
//  2. the worker's own overhead per step: a Node worker process behind a
//     WebSocket (frame decode, tensor conversion, encode, socket) — round trip
//     seen by the node minus the worker's compute_ms, per decode step, and its
//     share of the round trip.
//   node webworker/tools/bench_worker.mjs --model DIR --split DIR [--tokens N] [--rounds N] [--threads N]
import { parseArgs } from 'node:util';
import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { loadPipeline, loadWholeModel, readManifest } from '../node/ort_node.mjs';
import { argmaxRow } from '../core/pipeline.mjs';
import { encodeBytes, BOS } from '../core/byte_text.mjs';
import { FakeNode } from '../testing/fake_node.mjs';
import { spawnWorker } from '../testing/spawn_worker.mjs';

const { values: a } = parseArgs({
  options: { model: { type: 'string' }, split: { type: 'string' }, tokens: { type: 'string' }, rounds: { type: 'string' }, threads: { type: 'string' } },
});
if (!a.model || !a.split) {
  console.error('usage: bench_worker.mjs --model DIR --split DIR [--tokens N] [--rounds N] [--threads N]');
  process.exit(2);
}
const TOKENS = Number(a.tokens ?? 32);
const ROUNDS = Number(a.rounds ?? 5);
const threads = a.threads ? Number(a.threads) : undefined;
const prompt = [BOS, ...encodeBytes('Benchmarks print ratios measured in one run.')];
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

async function decodeMs(pipeline, seq) {
  let position = 0;
  let input = prompt;
  let t0 = 0;
  for (let i = 0; i <= TOKENS; ++i) {
    if (i === 1) t0 = performance.now();
    const { outputs } = await pipeline.step(seq, { position, tokenIds: input });
    const next = outputs.next_token ? Number(outputs.next_token.data[0]) : argmaxRow(outputs.logits);
    position += input.length;
    input = [next];
  }
  pipeline.release(seq);
  return (performance.now() - t0) / TOKENS;
}

async function chainedVsWhole() {
  const { manifest, pipeline: chained } = await loadPipeline(a.split, { threads });
  const { pipeline: whole } = await loadWholeModel(a.model, { threads });
  const c = [];
  const w = [];
  await decodeMs(chained, 'warm');
  await decodeMs(whole, 'warm');
  for (let r = 0; r < ROUNDS; ++r) {
    c.push(await decodeMs(chained, r));
    w.push(await decodeMs(whole, r));
  }
  await chained.dispose();
  await whole.dispose();
  console.log(`chained (${manifest.stages.length} stages) vs whole, ${TOKENS} decode tokens x ${ROUNDS} rounds, median ms/token: ` +
    `chained ${median(c).toFixed(2)}, whole ${median(w).toFixed(2)}, ratio chained/whole ${(median(c) / median(w)).toFixed(3)}`);
}

async function workerOverhead() {
  const manifest = readManifest(a.split);
  const s = manifest.stages[0];
  const node = await new FakeNode().start();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-'));
  const names = [s.file, ...(s.data_file && existsSync(path.join(a.split, s.data_file)) ? [s.data_file] : [])];
  const files = names.map((name) => {
    const p = path.join(a.split, name);
    return { name, url: node.serve(s.id, name, p), sha256: createHash('sha256').update(readFileSync(p)).digest('hex'), bytes: readFileSync(p).length };
  });
  const proc = spawnWorker(['--url', node.wsUrl, '--cache', path.join(tmp, 'cache'), '--no-benchmark', ...(threads ? ['--threads', String(threads)] : [])]);
  try {
    const conn = await node.nextWorker();
    await conn.next();
    conn.send({ welcome: { protocol_version: 1, worker_id: 1, heartbeat_ms: 10000 } });
    conn.send({ assign: { shard_id: s.id, layer_begin: s.layers[0], layer_end: s.layers[1], head: manifest.stages.length === 1 ? manifest.head : '', files } });
    const loaded = (await conn.until('loaded', 120000)).at(-1).loaded;
    if (!loaded.ok) throw new Error(loaded.error);
    const rtt = [];
    const compute = [];
    for (let r = 0; r < ROUNDS; ++r) {
      let position = 0;
      let input = prompt;
      for (let i = 0; i <= TOKENS; ++i) {
        const t0 = performance.now();
        conn.send({ forward: { request_id: 1, sequence_id: r, step: i, position, seq_len: input.length, token_ids: input, shard_id: s.id } });
        const m = await conn.next();
        const dt = performance.now() - t0;
        if (m.body !== 'result') throw new Error(m.error?.message ?? m.body);
        if (i > 0) { rtt.push(dt); compute.push(m.result.compute_ms); }
        position += input.length;
        input = [72 + (i % 20)];  // the token does not matter for timing
      }
      conn.send({ release: { sequence_id: r } });
    }
    const over = rtt.map((x, i) => x - compute[i]);
    const hidden = manifest.model.config?.hidden_size;
    console.log(`worker behind a WebSocket, stage [${s.layers}] (${hidden ?? '?'}-float boundary tensor per token), ${rtt.length} decode steps: ` +
      `median round trip ${(median(rtt) * 1000).toFixed(0)} us, compute ${(median(compute) * 1000).toFixed(0)} us, ` +
      `overhead ${(median(over) * 1000).toFixed(0)} us = ${(100 * median(over) / median(rtt)).toFixed(1)}% of the round trip`);
    conn.close(1000);
    await proc.waitExit();
  } finally {
    await proc.stop();
    await node.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await chainedVsWhole();
await workerOverhead();
