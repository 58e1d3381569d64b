// The Node worker's RFC 6455 client (node/ws_client.mjs) against a raw server:
// masked client frames, fragmented and large server messages, ping -> pong,
// the close handshake, oversized frames and a refused upgrade.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { connectWebSocket } from '../node/ws_client.mjs';
import { OP, FrameParser, acceptKey, encodeFrame, closePayload } from '../node/ws_frames.mjs';

// A server whose upgrade handler gets the raw socket and a parser of client frames.
async function rawServer(onSocket, { accept = true } = {}) {
  const server = http.createServer((req, res) => { res.writeHead(403); res.end(); });
  const sockets = [];
  server.on('upgrade', (req, socket) => {
    sockets.push(socket);
    if (!accept) { socket.end('HTTP/1.1 403 Forbidden\r\n\r\n'); return; }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(req.headers['sec-websocket-key'])}\r\n\r\n`);
    const frames = [];
    const waiters = [];
    let masked = true;
    socket.on('data', (c) => {
      // every client frame must carry the mask bit
      if (c.length >= 2 && !(c[1] & 0x80)) masked = false;
      parser.push(c);
    });
    const parser = new FrameParser({
      onMessage: (data, binary) => { frames.push({ data, binary }); waiters.shift()?.(); },
      onControl: (op, payload) => { frames.push({ op, payload }); waiters.shift()?.(); },
    });
    const next = async () => {
      while (!frames.length) await new Promise((r) => waiters.push(r));
      return frames.shift();
    };
    onSocket({ socket, next, masked: () => masked });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `ws://127.0.0.1:${server.address().port}/ws/worker`, close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }) };
}

test('messages both ways, fragmented and 1 MiB server messages, ping answered with pong', async () => {
  let side;
  const ready = new Promise((r) => { side = r; });
  const srv = await rawServer((s) => side(s));
  const ws = await connectWebSocket(srv.url);
  const s = await ready;
  const got = [];
  const waiters = [];
  ws.onmessage = (data, binary) => { got.push({ data, binary }); waiters.shift()?.(); };
  const recv = async () => { while (!got.length) await new Promise((r) => waiters.push(r)); return got.shift(); };

  ws.send(new Uint8Array([1, 2, 3]));
  ws.send('hello');
  let f = await s.next();
  assert.deepEqual([...f.data], [1, 2, 3]);
  assert.equal(f.binary, true);
  f = await s.next();
  assert.equal(f.data.toString(), 'hello');
  assert.ok(s.masked(), 'client frames must be masked');

  // fragmented binary: [0x02 no FIN] [CONT FIN]
  s.socket.write(Buffer.from([0x02, 0x02, 9, 8]));
  s.socket.write(Buffer.from([0x80, 0x01, 7]));
  let m = await recv();
  assert.deepEqual([...m.data], [9, 8, 7]);
  assert.equal(m.binary, true);

  const big = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
  for (const p of encodeFrame(OP.BINARY, big, false)) s.socket.write(p);
  m = await recv();
  assert.equal(m.data.length, big.length);
  assert.equal(m.data[12345], 12345 & 0xff);

  for (const p of encodeFrame(OP.PING, Buffer.from('hb'), false)) s.socket.write(p);
  f = await s.next();
  assert.equal(f.op, OP.PONG);
  assert.equal(f.payload.toString(), 'hb');

  const closed = new Promise((r) => { ws.onclose = r; });
  for (const p of encodeFrame(OP.CLOSE, closePayload(1000, 'bye'), false)) s.socket.write(p);
  const info = await closed;
  assert.equal(info.code, 1000);
  assert.equal(info.reason, 'bye');
  f = await s.next();
  assert.equal(f.op, OP.CLOSE, 'client must answer the close frame');
  await srv.close();
});

test('a frame over the size limit closes the socket with 1009', async () => {
  let side;
  const ready = new Promise((r) => { side = r; });
  const srv = await rawServer((s) => side(s));
  const ws = await connectWebSocket(srv.url, { maxBytes: 1000 });
  const s = await ready;
  const closed = new Promise((r) => { ws.onclose = r; });
  for (const p of encodeFrame(OP.BINARY, new Uint8Array(5000), false)) s.socket.write(p);
  assert.equal((await closed).code, 1009);
  await srv.close();
});

test('a refused upgrade and a closed port reject with the URL in the message', async () => {
  const srv = await rawServer(() => {}, { accept: false });
  await assert.rejects(connectWebSocket(srv.url), /ws:\/\/127\.0\.0\.1:\d+\/ws\/worker/);
  await srv.close();
  await assert.rejects(connectWebSocket(srv.url), /127\.0\.0\.1/);
  assert.throws(() => connectWebSocket('http://x/'), /ws:\/\/ or wss:\/\//);
});
