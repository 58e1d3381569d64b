// The browser worker page: a status view. The serving itself (ONNX Runtime Web,
// the node's WebSocket, heartbeats, shards in Cache Storage) runs in a dedicated
// Web Worker, browser/serve_worker.mjs, which gets this page's query string, so a
// hidden, throttled or busy page does not stop heartbeats or steps.
// Query parameters (all optional):
//   ws=ws://host:port/ws/worker   node to join (default: this page's host)
//   memory=1GB  threads=N  name=NAME  backend=wasm|webgpu  reconnect=0  hidden=fp16
//   token=TOKEN                   join token (the node's join link carries it)
// Element ids the tests read: #status #layers #served #steps #progress #device #worker-id #error #kv
// #secure-context #isolated #webgpu #wasm-threads #slow-reason (why the tab runs slow, when it does)
// #replans (one <li data-version=N> per re-plan, newest first; text from core/plan_news.mjs)
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

// The Re-plans list, rebuilt only when the history changed (newest first).
let shownReplans = '';
function showReplans(replans) {
  const key = replans ? `${replans.length}:${replans[0]?.version}:${replans[0]?.atMs}` : '';
  if (!replans || key === shownReplans) return;
  shownReplans = key;
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

// Why this tab runs slower than it could, or '' (shown in #slow-reason).
function slowReason(caps) {
  if (!isSecureContext)
    return `This page came over plain http from ${location.host}, which is not loopback, so the browser does not treat it as a secure context: no WebGPU and no cross-origin isolation, so ONNX Runtime runs single-threaded WASM (slow). Open the node's https:// join link instead (the node needs [node] tls_cert and tls_key, and this machine must trust its CA; see docs/security.md).`;
  if (!crossOriginIsolated)
    return 'This page is not cross-origin isolated (the node did not send Cross-Origin-Opener-Policy / Cross-Origin-Embedder-Policy headers), so ONNX Runtime runs single-threaded WASM (slow).';
  if (caps && caps.wasmThreads <= 1 && !caps.webgpu)
    return 'ONNX Runtime runs WASM with one thread (the threads= parameter or a one-core machine).';
  return '';
}

function showCapabilities(caps) {
  text('secure-context', String(isSecureContext));
  text('isolated', String(crossOriginIsolated));
  if (caps) {
    text('webgpu', caps.webgpu ? 'in use' : caps.webgpuApi ? 'API present, no adapter' : 'unavailable');
    text('wasm-threads', String(caps.wasmThreads));
  }
  const why = slowReason(caps);
  const box = $('slow-reason');
  if (box) {
    box.textContent = why;
    box.hidden = !why;
  }
}

// Status fields absent from a message keep their last shown value.
const shown = { state: 'starting', tokensServed: 0, stepsServed: 0 };

function main() {
  showCapabilities(null);
  const serving = new Worker(`/browser/serve_worker.mjs${location.search}`, { type: 'module', name: 'tessera-serve' });
  globalThis.tesseraServe = serving;  // for tests and the console
  serving.onmessage = ({ data }) => {
    if (data.log) log(data.log.level, data.log.msg);
    if (data.device) text('device', data.device);
    if (data.name) text('name', data.name);
    if (data.capabilities) showCapabilities(data.capabilities);
    if (data.status) showStatus(Object.assign(shown, data.status));
  };
  serving.onerror = (e) => {
    log('error', `serving worker: ${e.message ?? 'failed to start'}`);
    text('status', 'error');
    text('error', e.message ?? 'the serving worker failed to start');
  };
}

main();
