// The join-time speed measurement: a chain of MatMuls built here as ONNX bytes
// (no file needed), run on the same ORT backend and options the stages use, for
// a short fixed time budget. Reports FLOP/s (2*M*K*N per MatMul) for Hello.
import { ProtoWriter } from './protobuf.mjs';

const FLOAT = 1;

function valueInfo(w, name, dims) {
  w.nested((vi) => {
    vi.tag(1, 2); vi.string(name);
    vi.tag(2, 2); vi.nested((tp) => {
      tp.tag(1, 2); tp.nested((tt) => {
        tt.tag(1, 0); tt.varint(FLOAT);
        tt.tag(2, 2); tt.nested((shape) => {
          for (const d of dims) { shape.tag(1, 2); shape.nested((dim) => { dim.tag(1, 0); dim.varint(d); }); }
        });
      });
    });
  });
}

// ONNX model bytes (IR 8, opset 17): Y = X @ W0 @ W1 ... with X [m, k], Wi [k, k].
export function matmulChainModel(m, k, layers) {
  const w = new ProtoWriter(1024 + layers * k * k * 4);
  w.tag(1, 0); w.varint(8);                                    // ir_version
  w.tag(2, 2); w.string('tessera-benchmark');                  // producer_name
  w.tag(7, 2); w.nested((g) => {                               // graph
    for (let i = 0; i < layers; ++i) {
      g.tag(1, 2); g.nested((n) => {                           // node
        n.tag(1, 2); n.string(i === 0 ? 'X' : `h${i}`);
        n.tag(1, 2); n.string(`W${i}`);
        n.tag(2, 2); n.string(i === layers - 1 ? 'Y' : `h${i + 1}`);
        n.tag(3, 2); n.string(`mm${i}`);
        n.tag(4, 2); n.string('MatMul');
      });
    }
    g.tag(2, 2); g.string('benchmark');
    const weights = new Float32Array(k * k).fill(1 / k);
    for (let i = 0; i < layers; ++i) {
      g.tag(5, 2); g.nested((t) => {                           // initializer
        t.tag(1, 2); t.nested((d) => { d.varint(k); d.varint(k); });  // dims, packed
        t.tag(2, 0); t.varint(FLOAT);
        t.tag(8, 2); t.string(`W${i}`);
        t.tag(9, 2); t.bytes(new Uint8Array(weights.buffer));
      });
    }
    g.tag(11, 2); valueInfo(g, 'X', [m, k]);
    g.tag(12, 2); valueInfo(g, 'Y', [m, k]);
  });
  w.tag(8, 2); w.nested((o) => { o.tag(1, 2); o.string(''); o.tag(2, 0); o.varint(17); });
  return w.finish();
}

// Runs the chain for about budgetMs (at least 3 runs after a warm-up) and
// returns { flopsPerS, runs, msPerRun }.
export async function measureSpeed(ort, sessionOptions = {}, { m = 32, k = 256, layers = 4, budgetMs = 250 } = {}) {
  const session = await ort.InferenceSession.create(matmulChainModel(m, k, layers), sessionOptions);
  try {
    const x = new ort.Tensor('float32', new Float32Array(m * k).fill(1), [m, k]);
    await session.run({ X: x });
    const now = () => (globalThis.performance ?? Date).now();
    const t0 = now();
    let runs = 0;
    while (runs < 3 || now() - t0 < budgetMs) {
      await session.run({ X: x });
      ++runs;
      if (runs > 100000) break;
    }
    const ms = Math.max(now() - t0, 1e-3);
    const flops = 2 * m * k * k * layers * runs;
    return { flopsPerS: flops / (ms / 1000), runs, msPerRun: ms / runs };
  } finally {
    await session.release?.();
  }
}
