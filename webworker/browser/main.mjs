// The browser worker page: ONNX Runtime Web (WebGPU when an adapter exists,
// else multithreaded WASM), shards in Cache Storage, and a status view.
// Query parameters (all optional):
//   ws=ws://host:port/ws/worker   node to join (default: this page's host)
//   memory=1GB  threads=N  name=NAME  backend=wasm|webgpu  reconnect=0  hidden=fp16
// Element ids the tests read: #status #layers #served #steps #progress #device #worker-id #error #kv
// #replans (one <li data-version=N> per re-plan, newest first; text from core/plan_news.mjs)
import { WorkerCore, parseBytes } from '../core/worker_core.mjs';
import { createWebSession } from '../core/web_session.mjs';
import { CacheStore } from './cache_store.mjs';

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const text = (id, v) => { const e = $(id); if (e) e.textContent = v; };

function log(level, msg) {
  const line = `${new Date().toISOString().slice(11, 23)} ${level}: ${msg}`;
  (level === 'error' ? console.error : console.log)(`tessera-worker ${line}`);
  const box = $('log');
  if (box) {
    box.textContent = `${line}\n${box.textContent}`.slice(0, 8000);
  }
}

// Browser WebSocket -> the transport shape WorkerCore expects.
function connect(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const t = {
      send: (bytes) => ws.send(bytes),
      close: (code, reason) => ws.close(code, reason),
      onmessage: () => {},
      onclose: () => {},
    };
    let opened = false;
    ws.onopen = () => { opened = true; resolve(t); };
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') t.onmessage(ev.data, false);
      else t.onmessage(new Uint8Array(ev.data), true);
    };
    ws.onclose = (ev) => {
      if (!opened) reject(new Error(`cannot connect to ${url} (close code ${ev.code})`));
      else t.onclose({ code: ev.code, reason: ev.reason });
    };
  });
}

async function pickBackend() {
  const want = params.get('backend');
  if (want !== 'wasm' && navigator.gpu) {
    try {
      const adapter = await navigator.gpu.requestAdapter();
      if (adapter) return 'webgpu';
    } catch { /* no adapter */ }
  }
  if (want === 'webgpu') log('warn', 'backend=webgpu asked for, but no WebGPU adapter: using wasm');
  return 'wasm';
}

// The Re-plans list, rebuilt only when the history changed (newest first).
let shownReplans = null;
function showReplans(replans) {
  if (!replans || replans === shownReplans) return;
  shownReplans = replans;
  const list = $('replans');
  if (!list) return;
  list.replaceChildren(...replans.map((r) => {
    const li = document.createElement('li');
    li.dataset.version = String(r.version);
    const at = document.createElement('time');
    at.dateTime = new Date(r.atMs).toISOString();
    at.textContent = new Date(r.atMs).toTimeString().slice(0, 8);
    li.append(at, ` ${r.text}`);
    return li;
  }));
  const none = $('replans-none');
  if (none) none.hidden = replans.length > 0;
}

function showStatus(s) {
  const state = s.state === 'downloading' ? 'downloading' : s.state;
  // standby: the stage's shard is loaded ahead; the tab takes over if its worker leaves
  text('status', state === 'standby' ? 'standing by (takes over if the serving worker leaves)' : state);
  document.body.dataset.state = state;
  text('layers', s.layers ? `${s.layers[0]}–${s.layers[1]}` : '—');
  text('served', String(s.tokensServed));
  text('steps', String(s.stepsServed));
  text('shard', s.shard || '—');
  if (s.workerId !== undefined) text('worker-id', String(s.workerId));
  if (s.error) text('error', s.error);
  text('kv', `${s.kvSequences ?? 0} sequence${s.kvSequences === 1 ? '' : 's'}, ${s.kvTokens ?? 0} positions`);
  showReplans(s.replans);
  const p = $('progress');
  if (p) {
    p.max = s.bytesTotal || 1;
    p.value = s.bytesDone || 0;
    text('progress-text', s.bytesTotal ? `${(s.bytesDone / 2 ** 20).toFixed(1)} / ${(s.bytesTotal / 2 ** 20).toFixed(1)} MiB` : '');
  }
}

async function main() {
  const backend = await pickBackend();
  const ort = await import(backend === 'webgpu' ? '/ort/ort.webgpu.min.mjs' : '/ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = '/ort/';
  const cores = navigator.hardwareConcurrency || 1;
  const threads = Number(params.get('threads')) || (crossOriginIsolated ? Math.min(4, cores) : 1);
  ort.env.wasm.numThreads = crossOriginIsolated ? threads : 1;
  const sessionOptions = { executionProviders: backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'], logSeverityLevel: 3 };
  const store = await new CacheStore().open();
  const deviceKind = backend === 'webgpu' ? 'webgpu' : 'wasm';
  text('device', `${deviceKind}, ${ort.env.wasm.numThreads} thread(s)${crossOriginIsolated ? '' : ' (not cross-origin isolated)'}`);
  const url = params.get('ws') ?? `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/worker`;
  const shell = {
    ort, deviceKind, threads: ort.env.wasm.numThreads, name: params.get('name') ?? `browser-${Math.random().toString(36).slice(2, 8)}`,
    memoryBytes: parseBytes(params.get('memory') ?? '1GB'), sessionOptions, store, log, connect,
    hiddenDtype: params.get('hidden') === 'fp16' ? 'float16' : 'float32',
    onPlanNews: (entry) => log('info', `replan: ${entry.text}`),
    createSession: async (id, files) => {
      const session = await createWebSession(ort, await store.files(id, files), sessionOptions);
      store.dropMemory();
      return session;
    },
  };
  const core = new WorkerCore(shell, { onStatus: showStatus });
  globalThis.tesseraWorker = core;  // for tests and the console
  text('name', shell.name);
  const reconnect = params.get('reconnect') !== '0';
  for (let attempt = 0; ; ++attempt) {
    try {
      const { code, reason } = await core.run(url);
      log('info', `disconnected (${code}${reason ? ` ${reason}` : ''})`);
    } catch (e) {
      log('error', e.message);
      text('error', e.message);
    }
    if (!reconnect) break;
    text('status', 'reconnecting');
    await new Promise((r) => setTimeout(r, Math.min(10000, 1000 * 2 ** Math.min(attempt, 3))));
  }
}

main().catch((e) => {
  log('error', e.stack ?? e.message);
  text('status', 'error');
  text('error', e.message);
});
