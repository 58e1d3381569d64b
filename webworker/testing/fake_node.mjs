// A stand-in for the Tessera node in JS tests: an HTTP server on 127.0.0.1 that
// serves files under /shards/<id>/<name> and accepts worker sockets on
// /ws/worker, speaking RFC 6455 as a server (ws_frames.mjs) and handing frames
// to the test as decoded FromWorker messages.
import http from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OP, encodeFrame, FrameParser, acceptKey, closePayload, parseClose } from '../node/ws_frames.mjs';
import { encodeToWorker, decodeFromWorker } from '../core/wire.mjs';

export class FakeWorkerConn {
  constructor(socket) {
    this.socket = socket;
    this.queue = [];
    this.waiters = [];
    this.closed = null;
    this.closeWaiters = [];
    this.parser = new FrameParser({
      onMessage: (data, binary) => this.#deliver(binary ? decodeFromWorker(new Uint8Array(data)) : { text: data.toString() }),
      onControl: (op, payload) => {
        if (op === OP.CLOSE) {
          for (const p of encodeFrame(OP.CLOSE, payload, false)) socket.write(p);
          socket.end();
          this.#closed(parseClose(payload));
        } else if (op === OP.PING) for (const p of encodeFrame(OP.PONG, payload, false)) socket.write(p);
      },
    });
    socket.on('data', (c) => {
      try { this.parser.push(c); } catch (e) { this.#deliver({ protocolError: e.message }); socket.destroy(); }
    });
    socket.on('close', () => this.#closed({ code: 1006, reason: 'socket closed' }));
    // upgraded sockets of an http.Server are half-open capable: a peer's FIN only ends reading
    socket.on('end', () => { socket.destroy(); this.#closed({ code: 1006, reason: 'peer ended the connection' }); });
    socket.on('error', () => {});
  }

  send(msg) { for (const p of encodeFrame(OP.BINARY, encodeToWorker(msg), false)) this.socket.write(p); }
  sendRaw(bytes, binary = true) { for (const p of encodeFrame(binary ? OP.BINARY : OP.TEXT, bytes, false)) this.socket.write(p); }
  close(code = 1000, reason = '') {
    for (const p of encodeFrame(OP.CLOSE, closePayload(code, reason), false)) this.socket.write(p);
  }

  // Next FromWorker message (skipping bodies in `ignore`), with a time limit.
  async next({ ignore = ['heartbeat', 'progress'], timeoutMs = 30000 } = {}) {
    for (;;) {
      const m = await this.#take(timeoutMs);
      if (!ignore.includes(m.body)) return m;
    }
  }

  // All messages until one with body `body` arrives; returns [skipped..., match].
  async until(body, timeoutMs = 30000) {
    const seen = [];
    for (;;) {
      const m = await this.#take(timeoutMs);
      seen.push(m);
      if (m.body === body) return seen;
    }
  }

  waitClosed(timeoutMs = 10000) {
    if (this.closed) return Promise.resolve(this.closed);
    return withTimeout(new Promise((r) => this.closeWaiters.push(r)), timeoutMs, 'worker socket to close');
  }

  #take(timeoutMs) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closed) return Promise.reject(new Error(`worker socket closed (${this.closed.code} ${this.closed.reason})`));
    return withTimeout(new Promise((resolve, reject) => this.waiters.push({ resolve, reject })), timeoutMs, 'a worker frame');
  }

  #deliver(m) {
    const w = this.waiters.shift();
    if (w) w.resolve(m);
    else this.queue.push(m);
  }

  #closed(info) {
    if (this.closed) return;
    this.closed = info;
    for (const w of this.waiters.splice(0)) w.reject(new Error(`worker socket closed (${info.code} ${info.reason})`));
    for (const r of this.closeWaiters.splice(0)) r(info);
  }
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}

const WEBWORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MIME = { html: 'text/html; charset=utf-8', mjs: 'application/javascript', js: 'application/javascript', wasm: 'application/wasm', json: 'application/json' };
// Headers the gateway sends on every asset so multithreaded WASM works.
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

// Maps a URL path the way the gateway does: / -> browser/index.html, /ort/* ->
// onnxruntime-web's dist, other paths -> webworker/<path>. null when unsafe.
function staticFile(urlPath) {
  if (urlPath.includes('..')) return null;
  if (urlPath === '/') return path.join(WEBWORKER, 'browser', 'index.html');
  if (urlPath.startsWith('/ort/')) return path.join(WEBWORKER, 'node_modules', 'onnxruntime-web', 'dist', urlPath.slice(5));
  return path.join(WEBWORKER, urlPath);
}

export class FakeNode {
  constructor({ servePage = false } = {}) {
    this.files = new Map();  // "/shards/<id>/<name>" -> path on disk
    this.conns = [];
    this.connWaiters = [];
    this.requests = [];
    this.server = http.createServer((req, res) => {
      this.requests.push(req.url);
      const urlPath = decodeURIComponent(req.url.split('?')[0]);
      let file = this.files.get(urlPath);
      let type = 'application/octet-stream';
      if (!file && servePage) {
        file = staticFile(urlPath);
        type = MIME[path.extname(file ?? '').slice(1)] ?? type;
      }
      let size;
      try { size = file && statSync(file).isFile() ? statSync(file).size : undefined; } catch { size = undefined; }
      if (size === undefined) { res.writeHead(404, ISOLATION); res.end('not found'); return; }
      res.writeHead(200, { ...ISOLATION, 'Content-Length': size, 'Content-Type': type });
      createReadStream(file).pipe(res);
    });
    this.server.on('upgrade', (req, socket) => {
      if (req.url !== '/ws/worker') { socket.end('HTTP/1.1 404 Not Found\r\n\r\n'); return; }
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptKey(req.headers['sec-websocket-key'])}\r\n\r\n`);
      const conn = new FakeWorkerConn(socket);
      this.conns.push(conn);
      const w = this.connWaiters.shift();
      if (w) w(conn);
    });
  }

  async start() {
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = this.server.address().port;
    return this;
  }

  get wsUrl() { return `ws://127.0.0.1:${this.port}/ws/worker`; }
  get httpUrl() { return `http://127.0.0.1:${this.port}`; }

  serve(id, name, path) {
    const url = `/shards/${id}/${name}`;
    this.files.set(url, path);
    return url;
  }

  nextWorker(timeoutMs = 30000) {
    const ready = this.conns.find((c) => !c.taken);
    if (ready) { ready.taken = true; return Promise.resolve(ready); }
    return withTimeout(new Promise((r) => this.connWaiters.push((c) => { c.taken = true; r(c); })), timeoutMs, 'a worker to connect');
  }

  async stop() {
    for (const c of this.conns) c.socket.destroy();
    await new Promise((r) => this.server.close(r));
  }
}
