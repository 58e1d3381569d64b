// Rogue workers for tests: `worker.mjs --rogue KIND` (refused unless
// TESSERA_TESTING=1) turns an honest worker into a malicious one by rewriting
// the frames it exchanges with the node. The worker core stays honest; the
// rogue sits between it and the socket (wrapTransport) and, for the claim
// kinds, edits the Hello. Each kind is one way a stranger's worker can lie:
//
//   claims-huge     Hello claims 1 TB of memory and 1e15 FLOP/s
//   claims-inf      Hello claims flops_per_s = +Infinity
//   nan             every boundary tensor it sends is NaN
//   zeros           every boundary tensor it sends is 0
//   random          every boundary tensor it sends is uniform noise in [-1, 1)
//   scaled          every boundary tensor it sends is multiplied by 1.01
//   shape           boundary tensors claim one position more than they hold
//   bloat           each Result carries a 32 MiB tensor
//   pwned           its own token ids instead of the sampled ones: the bytes of "PWNED!"
//   out-of-vocab    token ids far outside any vocabulary (2^40)
//   fake-load       answers Assign with Loaded{ok} at once and never loads (steps then fail: "no stage loaded")
//   silent          never answers a Forward (heartbeats go on)
//   slow            answers each Forward 5 s late
//
// A rogue acts from its first Forward on (or on its Hello for the claim kinds).
import * as wire from '../core/wire.mjs';

export const ROGUE_KINDS = Object.freeze([
  'claims-huge', 'claims-inf', 'nan', 'zeros', 'random', 'scaled', 'shape', 'bloat', 'pwned',
  'out-of-vocab', 'fake-load', 'silent', 'slow',
]);

const TENSOR_KINDS = new Set(['nan', 'zeros', 'random', 'scaled', 'shape', 'bloat']);
const SLOW_MS = 5000;

// Throws naming the problem unless `kind` is a rogue kind and testing is on.
export function checkRogue(kind, env = process.env) {
  if (env.TESSERA_TESTING !== '1')
    throw new Error(`--rogue ${kind} is a test mode: set TESSERA_TESTING=1 to run a malicious worker`);
  if (!ROGUE_KINDS.includes(kind))
    throw new Error(`--rogue: unknown kind '${kind}' (one of ${ROGUE_KINDS.join(', ')})`);
}

// Float32 values of a wire tensor rewritten by `f(value, index)` (FLOAT16 is
// sent as FLOAT32 afterwards: the rogue does not care about link bytes).
function rewriteFloats(t, f) {
  const r = wire.readWireTensor(t);
  const out = new Float32Array(r.data.length);
  for (let i = 0; i < out.length; ++i) out[i] = f(Number(r.data[i]), i);
  return wire.makeWireTensor(t.name, 'float32', r.dims, out);
}

function tamperTensor(kind, t) {
  switch (kind) {
    case 'nan': return rewriteFloats(t, () => NaN);
    case 'zeros': return rewriteFloats(t, () => 0);
    case 'random': return rewriteFloats(t, () => Math.random() * 2 - 1);
    case 'scaled': return rewriteFloats(t, (v) => v * 1.01);
    case 'shape': {
      const shape = t.shape.map(Number);
      shape[shape.length - 2] += 1;
      return { ...t, shape };
    }
    case 'bloat': return { ...t, data: new Uint8Array(32 << 20) };
    default: return t;
  }
}

const PWNED_IDS = Array.from(new TextEncoder().encode('PWNED!'), Number);

// Rewrites one outgoing FromWorker message; returns it, or null to drop it.
function tamperOutgoing(kind, msg, state) {
  if (msg.body === 'hello') {
    if (kind === 'claims-huge') Object.assign(msg.hello, { memory_bytes: 1e12, flops_per_s: 1e15 });
    if (kind === 'claims-inf') msg.hello.flops_per_s = Infinity;
    return msg;
  }
  if (msg.body !== 'result') return msg;
  const r = msg.result;
  if (kind === 'silent') return null;
  if (TENSOR_KINDS.has(kind)) r.tensors = r.tensors.map((t) => tamperTensor(kind, t));
  if (kind === 'pwned' && r.token_ids.length) r.token_ids = r.token_ids.map(() => PWNED_IDS[state.pwned++ % PWNED_IDS.length]);
  if (kind === 'out-of-vocab' && r.token_ids.length) r.token_ids = r.token_ids.map(() => 2 ** 40);
  return msg;
}

// Wraps the shell's connect(url) so that the transport it returns lies as
// `kind` says. `log(level, msg)` names each lie once.
export function rogueConnect(kind, connect, log) {
  const state = { pwned: 0, told: false };
  const tell = (what) => {
    if (!state.told) log('warn', `ROGUE ${kind}: ${what}`);
    state.told = true;
  };
  return async (url) => {
    const ws = await connect(url);
    const wrapped = {
      send(bytes) {
        let msg;
        try { msg = wire.decodeFromWorker(bytes); } catch { return ws.send(bytes); }
        const out = tamperOutgoing(kind, msg, state);
        if (out === null) return tell('a Result dropped');
        if (msg.body === 'hello' && kind.startsWith('claims')) tell(`Hello claims memory=${out.hello.memory_bytes} flops=${out.hello.flops_per_s}`);
        const bytesOut = wire.encodeFromWorker(out);
        if (msg.body === 'result' && kind === 'slow') {
          tell(`Results delayed ${SLOW_MS} ms`);
          setTimeout(() => ws.send(bytesOut), SLOW_MS);
          return undefined;
        }
        if (msg.body === 'result') tell('Results rewritten');
        return ws.send(bytesOut);
      },
      close: (code, reason) => ws.close(code, reason),
      set onclose(f) { ws.onclose = f; },
      set onmessage(f) {
        ws.onmessage = (data, binary) => {
          if (kind === 'fake-load' && binary) {
            let msg;
            try { msg = wire.decodeToWorker(data); } catch { return f(data, binary); }
            if (msg.body === 'assign') {
              tell('Loaded{ok} without loading');
              return ws.send(wire.encodeFromWorker({ loaded: { shard_id: msg.assign.shard_id, ok: true } }));
            }
          }
          return f(data, binary);
        };
      },
    };
    return wrapped;
  };
}
