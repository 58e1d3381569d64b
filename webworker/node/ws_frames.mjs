// RFC 6455 framing for Node (Node 20 has no WebSocket without a flag): frame
// encoding, an incremental frame parser with fragmentation and control frames,
// and the handshake accept key. Used by the worker's client (ws_client.mjs) and
// by the tests' fake node server.
import { createHash, randomBytes } from 'node:crypto';

export const OP = Object.freeze({ CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 });
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const acceptKey = (key) => createHash('sha1').update(key + GUID).digest('base64');

// One frame with FIN set. Clients must mask (mask = true), servers must not.
export function encodeFrame(opcode, payload, mask) {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const len = data.length;
  const extLen = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + extLen + (mask ? 4 : 0));
  header[0] = 0x80 | opcode;
  header[1] = (mask ? 0x80 : 0) | (len < 126 ? len : len < 65536 ? 126 : 127);
  if (extLen === 2) header.writeUInt16BE(len, 2);
  else if (extLen === 8) header.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return [header, data];
  const key = randomBytes(4);
  key.copy(header, 2 + extLen);
  const masked = Buffer.allocUnsafeSlow(len);  // not pooled: offset 0, so 32-bit aligned
  masked.set(data);
  xorMask(masked, key);
  return [header, masked];
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

// XORs buf in place with the 4-byte mask key, 32 bits at a time where aligned.
export function xorMask(buf, key) {
  let i = 0;
  if (LITTLE_ENDIAN && buf.byteOffset % 4 === 0 && buf.length >= 16) {
    const words = buf.length >>> 2;
    const u32 = new Uint32Array(buf.buffer, buf.byteOffset, words);
    const k = key[0] | (key[1] << 8) | (key[2] << 16) | (key[3] << 24);
    for (let w = 0; w < words; ++w) u32[w] ^= k;
    i = words * 4;
  }
  for (; i < buf.length; ++i) buf[i] ^= key[i & 3];
}

export class FrameError extends Error {
  constructor(message, code = 1002) {
    super(message);
    this.code = code;
  }
}

// Feed raw socket chunks; calls onMessage(Buffer, binary) for each complete
// message and onControl(opcode, Buffer) for ping/pong/close. Throws FrameError
// (with a close code) on protocol violations or a message over maxBytes.
export class FrameParser {
  constructor({ onMessage, onControl, maxBytes = 256 << 20 }) {
    this.onMessage = onMessage;
    this.onControl = onControl;
    this.maxBytes = maxBytes;
    this.chunks = [];
    this.buffered = 0;
    this.fragments = null;  // { opcode, parts, size } while a fragmented message is open
  }

  push(chunk) {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      const frame = this.#next();
      if (!frame) return;
      this.#handle(frame);
    }
  }

  #peek(n) {
    if (this.chunks[0].length < n) {
      this.chunks = [Buffer.concat(this.chunks)];
    }
    return this.chunks[0];
  }

  #take(n) {
    const head = this.#peek(n);
    const out = head.subarray(0, n);
    this.chunks[0] = head.subarray(n);
    if (this.chunks[0].length === 0) this.chunks.shift();
    this.buffered -= n;
    return out;
  }

  #next() {
    if (this.buffered < 2) return null;
    const h = this.#peek(2);
    const b0 = h[0];
    const b1 = h[1];
    let len = b1 & 0x7f;
    const masked = (b1 & 0x80) !== 0;
    let headerLen = 2;
    if (len === 126) headerLen += 2;
    else if (len === 127) headerLen += 8;
    if (masked) headerLen += 4;
    if (this.buffered < headerLen) return null;
    const hdr = this.#peek(headerLen);
    if (len === 126) len = hdr.readUInt16BE(2);
    else if (len === 127) {
      const big = hdr.readBigUInt64BE(2);
      if (big > BigInt(this.maxBytes)) throw new FrameError(`frame of ${big} bytes exceeds ${this.maxBytes}`, 1009);
      len = Number(big);
    }
    if (len > this.maxBytes) throw new FrameError(`frame of ${len} bytes exceeds ${this.maxBytes}`, 1009);
    if (this.buffered < headerLen + len) return null;
    const header = Buffer.from(this.#take(headerLen));
    const payload = Buffer.allocUnsafeSlow(len);  // a copy (chunk buffers belong to the socket), 32-bit aligned
    payload.set(this.#take(len));
    if (masked) xorMask(payload, header.subarray(headerLen - 4, headerLen));
    if (b0 & 0x70) throw new FrameError('reserved bits set (no extensions negotiated)');
    return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload };
  }

  #handle({ fin, opcode, payload }) {
    if (opcode >= 8) {
      if (!fin || payload.length > 125) throw new FrameError('fragmented or oversized control frame');
      this.onControl(opcode, payload);
      return;
    }
    if (opcode === OP.CONT) {
      if (!this.fragments) throw new FrameError('continuation frame without a message');
      this.fragments.parts.push(payload);
      this.fragments.size += payload.length;
      if (this.fragments.size > this.maxBytes) throw new FrameError(`message exceeds ${this.maxBytes} bytes`, 1009);
      if (fin) {
        const { opcode: op, parts } = this.fragments;
        this.fragments = null;
        this.onMessage(Buffer.concat(parts), op === OP.BINARY);
      }
      return;
    }
    if (opcode !== OP.TEXT && opcode !== OP.BINARY) throw new FrameError(`unknown opcode ${opcode}`);
    if (this.fragments) throw new FrameError('new message before the fragmented one ended');
    if (fin) this.onMessage(payload, opcode === OP.BINARY);
    else this.fragments = { opcode, parts: [payload], size: payload.length };
  }
}

export function closePayload(code, reason = '') {
  const r = Buffer.from(reason, 'utf8').subarray(0, 120);
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

export function parseClose(payload) {
  if (payload.length < 2) return { code: 1005, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
}
