// A user-space link shaper for benchmarks where `tc netem` is not available:
// a TCP relay on 127.0.0.1 that holds each chunk `delayMs` in each direction
// and paces each direction at `bytesPerS` (0: unlimited), in order. Workers
// connect to the shaper's port instead of the node's.
//   const s = await startShaper({ port: NODE_PORT, delayMs: 2, bytesPerS: 50e6 });
//   ... ws://127.0.0.1:${s.port}/ws/worker ...; s.close();
import net from 'node:net';

// One direction of a connection: chunks leave in order, each no earlier than
// its arrival + delay and no earlier than the previous one's end at the rate
// (a queue drained by one timer, so chunks pipeline like on a real link).
function pipe(from, to, delayMs, bytesPerS) {
  let free = 0;  // when the shaped link is free again (ms, performance.now())
  const queue = [];
  let timer = null;
  let ended = false;
  const drain = () => {
    timer = null;
    const now = performance.now();
    while (queue.length && queue[0].due <= now) to.write(queue.shift().chunk);
    if (queue.length) timer = setTimeout(drain, Math.max(0, queue[0].due - now));
    else if (ended) to.end();
  };
  from.on('data', (chunk) => {
    const now = performance.now();
    const start = Math.max(now, free);
    free = start + (bytesPerS > 0 ? (chunk.length / bytesPerS) * 1000 : 0);
    queue.push({ due: Math.max(now + delayMs, free), chunk });
    if (!timer) timer = setTimeout(drain, Math.max(0, queue[0].due - now));
  });
  from.on('end', () => {
    ended = true;
    if (!timer) drain();
  });
  from.on('error', () => to.destroy());
}

export function startShaper({ port, host = '127.0.0.1', delayMs = 0, bytesPerS = 0 }) {
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    pipe(client, upstream, delayMs, bytesPerS);
    pipe(upstream, client, delayMs, bytesPerS);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  })));
}
