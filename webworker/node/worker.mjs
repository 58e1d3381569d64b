#!/usr/bin/env node
// Headless Tessera worker: onnxruntime-node, shards cached on disk.
//
//   node webworker/node/worker.mjs --url ws://HOST:PORT/ws/worker [--memory 2GB]
//        [--threads N] [--cache DIR] [--name NAME] [--connect-timeout-ms MS]
//        [--hidden-dtype fp32|fp16] [--no-benchmark] [--flops N] [--ca FILE]
//
// A node that requires join tokens takes one in the URL: --url wss://HOST:PORT/ws/worker?token=TOKEN.
// --ca FILE trusts that PEM CA for wss:// (e.g. `tessera certs`' ca.pem; NODE_EXTRA_CA_CERTS works too).
//
// --flops N claims N floating-point operations per second instead of running
// the speed benchmark (tests pin the planner's view of a worker with it).
// --rogue KIND (only with TESSERA_TESTING=1) makes a malicious worker for
// tests: node/rogue.mjs lists the kinds. --throttle-ms MS (only with
// TESSERA_TESTING=1) holds each Result back MS ms once the process gets
// SIGUSR2 (node/throttle.mjs): a worker that slows down mid-run, for tests.
// --backend wasm runs stages on onnxruntime-web's WASM build (one thread, on
// the main thread) instead of onnxruntime-node, and says `wasm` in its Hello:
// a browser's numerics without a browser (benchmarks of mixed-backend pools).
//
// Exit status: 0 when the node closes the socket normally (1000/1001) or on
// SIGINT/SIGTERM, 1 on a lost connection or a connect failure, 2 on usage errors.
// ONNX Runtime works in worker threads (node/ort_thread.mjs): the main thread
// only speaks the protocol, so heartbeats go out while a shard loads or a step runs.
// Logs go to stderr as `tessera-worker[NAME] level: message key=value`; each
// re-plan the node announces (PlanNews) is one line on stdout:
// `tessera-worker[NAME] replan: plan v3 — <why> · you: [0,4) → [0,6) · ...`.
import { parseArgs } from 'node:util';
import os from 'node:os';
import fs from 'node:fs';
import https from 'node:https';
import { Readable } from 'node:stream';
import path from 'node:path';
import { sessionOptions } from './ort_node.mjs';
import { threadedOrt as ort } from './ort_thread.mjs';
import { connectWebSocket } from './ws_client.mjs';
import { DiskStore } from './disk_store.mjs';
import { WorkerCore, parseBytes } from '../core/worker_core.mjs';
import { createSession } from '../core/stage_runner.mjs';
import { createWebSession } from '../core/web_session.mjs';
import { checkRogue, rogueConnect } from './rogue.mjs';
import { checkThrottle, throttleConnect } from './throttle.mjs';

const usage = 'usage: worker.mjs --url ws[s]://HOST:PORT/ws/worker[?token=TOKEN] [--memory 2GB] [--threads N] [--cache DIR] [--name NAME] [--connect-timeout-ms MS] [--hidden-dtype fp32|fp16] [--no-benchmark] [--flops N] [--rogue KIND] [--throttle-ms MS] [--ca FILE] [--backend cpu|wasm]';

function fail(msg) {
  console.error(`worker.mjs: ${msg}\n${usage}`);
  process.exit(2);
}

function flopsArg(s) {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) fail(`--flops expects a positive number (e.g. 2e9), got '${s}'`);
  return n;
}

function parse() {
  let r;
  try {
    r = parseArgs({
      options: {
        url: { type: 'string' }, memory: { type: 'string' }, threads: { type: 'string' }, cache: { type: 'string' },
        name: { type: 'string' }, 'connect-timeout-ms': { type: 'string' }, 'no-benchmark': { type: 'boolean' },
        'hidden-dtype': { type: 'string' }, flops: { type: 'string' }, ca: { type: 'string' }, rogue: { type: 'string' },
        'throttle-ms': { type: 'string' }, backend: { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (e) {
    fail(e.message);
  }
  const v = r.values;
  if (v.help) { console.log(usage); process.exit(0); }
  if (!v.url) fail('missing --url');
  if (!/^wss?:\/\//.test(v.url)) fail(`--url must start with ws:// or wss://, got '${v.url}'`);
  let memory;
  try { memory = parseBytes(v.memory ?? '2GB'); } catch (e) { fail(`--memory: ${e.message}`); }
  const int = (flag, s, dflt) => {
    if (s === undefined) return dflt;
    const n = Number(s);
    if (!Number.isInteger(n) || n <= 0) fail(`${flag} expects a positive integer, got '${s}'`);
    return n;
  };
  const hidden = v['hidden-dtype'] ?? 'fp32';
  if (hidden !== 'fp32' && hidden !== 'fp16') fail(`--hidden-dtype must be fp32 or fp16, got '${hidden}'`);
  const backend = v.backend ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'wasm') fail(`--backend must be cpu or wasm, got '${backend}'`);
  let throttleMs;
  if (v['throttle-ms'] !== undefined) {
    try { throttleMs = checkThrottle(v['throttle-ms']); } catch (e) { fail(e.message); }
  }
  if (v.rogue !== undefined) {
    try { checkRogue(v.rogue); } catch (e) { fail(e.message); }
  }
  return {
    hiddenDtype: hidden === 'fp16' ? 'float16' : 'float32',
    url: v.url, memory, threads: int('--threads', v.threads, undefined),
    cache: v.cache ?? path.join(os.homedir(), '.cache', 'tessera', 'shards'),
    name: v.name ?? `${os.hostname()}-${process.pid}`,
    connectTimeoutMs: int('--connect-timeout-ms', v['connect-timeout-ms'], 10000),
    benchmark: !v['no-benchmark'] && v.flops === undefined,
    flops: v.flops === undefined ? 0 : flopsArg(v.flops),
    ca: v.ca === undefined ? undefined : readCa(v.ca),
    rogue: v.rogue, throttleMs, backend,
  };
}

function readCa(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    fail(`--ca: cannot read '${file}': ${e.message}`);
  }
}

// fetch() for shard downloads that trusts `ca` on https:// (Node's global fetch takes no CA).
function fetchTrusting(ca) {
  return (url) => {
    if (!url.startsWith('https:')) return globalThis.fetch(url);
    return new Promise((resolve, reject) => {
      const req = https.get(url, { ca }, (res) => resolve({
        ok: res.statusCode >= 200 && res.statusCode < 300, status: res.statusCode, body: Readable.toWeb(res),
      }));
      req.on('error', reject);
    });
  };
}

// Retries refused connections until the deadline (the node may still be starting).
async function connectWithRetry(url, timeoutMs, ca) {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    try {
      return await connectWebSocket(url, { timeoutMs: Math.max(1000, deadline - Date.now()), ca });
    } catch (e) {
      if (Date.now() + delay > deadline) throw e;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

// onnxruntime-web (WASM, one thread) in place of onnxruntime-node: the stage's
// files are read from the disk cache and handed over as bytes, as a browser does.
async function wasmBackend(store) {
  const ortWeb = await import('onnxruntime-web');
  ortWeb.env.wasm.numThreads = 1;
  const files = (id, list) => list.filter((f) => fs.existsSync(store.filePath(id, f.name)))
    .map((f) => ({ name: f.name, bytes: fs.readFileSync(store.filePath(id, f.name)) }));
  return {
    ort: ortWeb, deviceKind: 'wasm', threads: 1, sessionOptions: {},
    createSession: (id, list) => createWebSession(ortWeb, files(id, list), { executionProviders: ['wasm'] }),
  };
}

async function main() {
  const a = parse();
  const log = (level, msg) => console.error(`tessera-worker[${a.name}] ${level}: ${msg}`);
  const store = new DiskStore(a.cache);
  const opts = sessionOptions({ threads: a.threads });
  const shell = {
    ort, deviceKind: 'node-cpu', threads: a.threads ?? os.availableParallelism?.() ?? os.cpus().length,
    name: a.name, memoryBytes: a.memory, sessionOptions: opts, store, log, hiddenDtype: a.hiddenDtype,
    connect: (url) => connectWithRetry(url, a.connectTimeoutMs, a.ca),
    ...(a.ca ? { fetch: fetchTrusting(a.ca) } : {}),
    createSession: (id, files) => createSession(ort, store.filePath(id, files[0].name), opts),
    onPlanNews: (entry) => console.log(`tessera-worker[${a.name}] replan: ${entry.text}`),
  };
  if (a.backend === 'wasm') Object.assign(shell, await wasmBackend(store));
  if (a.rogue) shell.connect = rogueConnect(a.rogue, shell.connect, log);  // test mode (TESSERA_TESTING=1)
  if (a.throttleMs) shell.connect = throttleConnect(a.throttleMs, shell.connect, log);  // test mode (TESSERA_TESTING=1)
  const core = new WorkerCore(shell, {
    benchmark: a.benchmark,
    onStatus: (s) => { if (s.state === 'connected' && !core.announced) { core.announced = true; log('info', `connected url=${a.url.replace(/token=[^&]+/, 'token=…')}`); } },
  });
  if (a.flops) core.flopsPerS = a.flops;
  let stopping = false;
  const stop = (sig) => {
    if (stopping) process.exit(0);
    stopping = true;
    log('info', `${sig}: closing`);
    core.close(1001, 'worker stopping');
    setTimeout(() => process.exit(0), 1500).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  log('info', `starting memory=${a.memory} threads=${shell.threads} cache=${store.dir}`);
  const { code } = await core.run(a.url);
  return stopping || code === 1000 || code === 1001 ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => {
  console.error(`tessera-worker: ${e.message}`);
  process.exit(1);
});
