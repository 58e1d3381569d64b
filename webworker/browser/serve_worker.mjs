// The browser worker's serving side, run as a dedicated Web Worker by main.mjs
// (`new Worker('/browser/serve_worker.mjs?<page query>', { type: 'module' })`):
// ONNX Runtime Web (WebGPU when an adapter exists, else multithreaded WASM), the
// node's WebSocket, heartbeats and shards in Cache Storage all live here, off the
// page's main thread, so a hidden, throttled or busy tab keeps beating and serving.
// It reads the page's query parameters (see main.mjs) from its own URL and
// posts to the page: { status } (WorkerCore status objects), { log: { level, msg } },
// { device }, { name } and { capabilities: { webgpuApi, webgpu, wasmThreads } }.
import { WorkerCore, parseBytes } from '../core/worker_core.mjs';
import { createWebSession } from '../core/web_session.mjs';
import { CacheStore } from './cache_store.mjs';

const params = new URLSearchParams(location.search);
const post = (m) => self.postMessage(m);
const log = (level, msg) => post({ log: { level, msg } });

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

async function main() {
  const backend = await pickBackend();
  const ort = await import(backend === 'webgpu' ? '/ort/ort.webgpu.min.mjs' : '/ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = '/ort/';
  const cores = navigator.hardwareConcurrency || 1;
  const threads = Number(params.get('threads')) || (crossOriginIsolated ? Math.min(4, cores) : 1);
  ort.env.wasm.numThreads = crossOriginIsolated ? threads : 1;
  post({ capabilities: { webgpuApi: Boolean(navigator.gpu), webgpu: backend === 'webgpu', wasmThreads: ort.env.wasm.numThreads } });
  const sessionOptions = { executionProviders: backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'], logSeverityLevel: 3 };
  const store = await new CacheStore().open();
  const deviceKind = backend === 'webgpu' ? 'webgpu' : 'wasm';
  post({ device: `${deviceKind}, ${ort.env.wasm.numThreads} thread(s)${crossOriginIsolated ? '' : ' (not cross-origin isolated)'}` });
  // The join link's ?token= goes to the worker socket (and, through WorkerCore, to shard downloads).
  let url = params.get('ws') ?? `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/worker`;
  const token = params.get('token');
  if (token && !new URL(url).searchParams.has('token')) url += `${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
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
  const core = new WorkerCore(shell, { onStatus: (status) => post({ status }) });
  globalThis.tesseraWorker = core;  // for tests and the worker's console
  post({ name: shell.name });
  const reconnect = params.get('reconnect') !== '0';
  for (let attempt = 0; ; ++attempt) {
    try {
      const { code, reason } = await core.run(url);
      log('info', `disconnected (${code}${reason ? ` ${reason}` : ''})`);
    } catch (e) {
      log('error', e.message);
      post({ status: { error: e.message } });
    }
    if (!reconnect) break;
    post({ status: { state: 'reconnecting' } });
    await new Promise((r) => setTimeout(r, Math.min(10000, 1000 * 2 ** Math.min(attempt, 3))));
  }
}

main().catch((e) => {
  log('error', e.stack ?? e.message);
  post({ status: { state: 'error', error: e.message } });
});
