// A small RFC 6455 WebSocket client on node:http (no npm dependency; Node 20's
// global WebSocket needs --experimental-websocket). Enough for the worker:
// binary and text messages, fragmentation, ping/pong, close handshake.
//
//   const ws = await connectWebSocket('ws://127.0.0.1:8080/ws/worker');
//   ws.onmessage = (data, binary) => ...; ws.onclose = ({ code, reason }) => ...;
//   ws.send(uint8array); ws.close(1000, 'bye');
import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { OP, encodeFrame, FrameParser, FrameError, acceptKey, closePayload, parseClose } from './ws_frames.mjs';

export class NodeWebSocket {
  constructor(socket, head, { maxBytes }) {
    this.socket = socket;
    this.closed = false;
    this.closeSent = false;
    this.onmessage = () => {};
    this.onclose = () => {};
    this.parser = new FrameParser({
      maxBytes,
      onMessage: (data, binary) => this.onmessage(binary ? new Uint8Array(data.buffer, data.byteOffset, data.length) : data.toString('utf8'), binary),
      onControl: (op, payload) => this.#control(op, payload),
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      try {
        this.parser.push(chunk);
      } catch (e) {
        const code = e instanceof FrameError ? e.code : 1011;
        this.close(code, e.message);
        this.#finish(code, e.message);
      }
    });
    socket.on('close', () => this.#finish(1006, 'connection lost'));
    socket.on('error', (e) => this.#finish(1006, e.message));
    if (head && head.length) queueMicrotask(() => socket.emit('data', head));
  }

  get bufferedAmount() { return this.socket.writableLength; }

  send(data) {
    if (this.closed || this.closeSent) return false;
    const binary = typeof data !== 'string';
    for (const part of encodeFrame(binary ? OP.BINARY : OP.TEXT, data, true)) this.socket.write(part);
    return true;
  }

  close(code = 1000, reason = '') {
    if (this.closed || this.closeSent) return;
    this.closeSent = true;
    for (const part of encodeFrame(OP.CLOSE, closePayload(code, reason), true)) this.socket.write(part);
    // the server answers with its close frame and ends the TCP connection; don't wait forever
    this.closeTimer = setTimeout(() => this.socket.destroy(), 2000);
    this.closeTimer.unref?.();
  }

  #control(op, payload) {
    if (op === OP.PING) {
      if (!this.closeSent) for (const part of encodeFrame(OP.PONG, payload, true)) this.socket.write(part);
    } else if (op === OP.CLOSE) {
      const { code, reason } = parseClose(payload);
      if (!this.closeSent) {
        this.closeSent = true;
        for (const part of encodeFrame(OP.CLOSE, closePayload(code === 1005 ? 1000 : code), true)) this.socket.write(part);
      }
      this.socket.end();  // flushes our close frame; destroy() would drop it
      this.#finish(code, reason, false);
    }
  }

  #finish(code, reason, destroy = true) {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.closeTimer);
    if (destroy) this.socket.destroy();
    else setTimeout(() => this.socket.destroy(), 1000).unref?.();
    this.onclose({ code, reason });
  }
}

// wss:// checks the node's certificate against Node's CAs (plus NODE_EXTRA_CA_CERTS),
// or against `ca` (PEM text) when given.
export function connectWebSocket(url, { maxBytes = 256 << 20, timeoutMs = 10000, ca } = {}) {
  const u = new URL(url);
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error(`WebSocket URL must be ws:// or wss://, got '${url}'`);
  const key = randomBytes(16).toString('base64');
  const lib = u.protocol === 'wss:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request({
      host: u.hostname, port: u.port || (u.protocol === 'wss:' ? 443 : 80), path: u.pathname + u.search,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13' },
      timeout: timeoutMs,
      ...(ca && u.protocol === 'wss:' ? { ca } : {}),
    });
    req.on('upgrade', (res, socket, head) => {
      if (res.headers['sec-websocket-accept'] !== acceptKey(key)) {
        socket.destroy();
        reject(new Error(`${url}: bad Sec-WebSocket-Accept in the handshake`));
        return;
      }
      socket.setTimeout(0);
      resolve(new NodeWebSocket(socket, head, { maxBytes }));
    });
    req.on('response', (res) => {
      res.resume();
      reject(new Error(`${url}: HTTP ${res.statusCode} instead of a WebSocket upgrade`));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no handshake answer within ${timeoutMs} ms`)));
    req.on('error', (e) => reject(new Error(`${url}: ${e.message}`)));
    req.end();
  });
}
