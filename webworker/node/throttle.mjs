// A slowed-down worker for tests: `worker.mjs --throttle-ms MS` (refused
// unless TESSERA_TESTING=1). Once the process receives SIGUSR2, each Result it
// sends is held back MS ms, as if its stage had become that much slower (a
// browser tab the user throttled); link probes are still echoed at once, so the
// node sees slower compute on the same link. The core stays as it is: the
// throttle wraps the transport, like node/rogue.mjs.
import * as wire from '../core/wire.mjs';

// Throws naming the problem unless `ms` is a positive number and testing is on.
export function checkThrottle(ms, env = process.env) {
  if (env.TESSERA_TESTING !== '1')
    throw new Error(`--throttle-ms ${ms} is a test mode: set TESSERA_TESTING=1 to run a throttled worker`);
  const n = Number(ms);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--throttle-ms expects a positive number of ms, got '${ms}'`);
  return n;
}

// Wraps the shell's connect(url): after `signal` (SIGUSR2) the transport it
// returns sends each Result `ms` later. `log(level, msg)` says when it starts.
export function throttleConnect(ms, connect, log, signal = 'SIGUSR2') {
  let on = false;
  process.on(signal, () => {
    on = true;
    log('warn', `THROTTLED: every Result from now on is sent ${ms} ms late`);
  });
  return async (url) => {
    const ws = await connect(url);
    return {
      send(bytes) {
        if (!on) return ws.send(bytes);
        let body;
        try { body = wire.decodeFromWorker(bytes).body; } catch { return ws.send(bytes); }
        if (body !== 'result') return ws.send(bytes);
        setTimeout(() => ws.send(bytes), ms);
        return undefined;
      },
      close: (code, reason) => ws.close(code, reason),
      set onclose(f) { ws.onclose = f; },
      set onmessage(f) { ws.onmessage = f; },
    };
  };
}
