// An independent forward pass of a `tessera model build` directory in plain
// JavaScript, written from Hugging Face's LlamaForCausalLM semantics (not from
// our graph): reads the initializers' external data by parsing model.onnx with
// a minimal protobuf reader, then compares its logits with onnxruntime-node.
//   node model/build/llama_reference.mjs DIR [--prompt-len N]
// Exit 0 when every position's logits agree within 1e-3 (float64 vs float32 math).
import { readFileSync, openSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { readConfig, emptyPast, runModel, maxAbsDiff } from './llama_check.mjs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../webworker/package.json', import.meta.url));
const ort = require('onnxruntime-node');

// --- minimal protobuf reader (ModelProto.graph.initializer only) ---
function* fields(buf, start = 0, end = buf.length) {
  let p = start;
  const varint = () => {
    let v = 0, mul = 1, b;
    do {
      b = buf[p++];
      v += (b & 0x7f) * mul;
      mul *= 128;
    } while (b & 0x80);
    return v;
  };
  while (p < end) {
    const key = varint();
    const field = Math.floor(key / 8), wire = key & 7;
    if (wire === 0) yield { field, wire, value: varint() };
    else if (wire === 2) {
      const len = varint();
      yield { field, wire, start: p, end: p + len };
      p += len;
    } else if (wire === 5) { yield { field, wire }; p += 4; }
    else if (wire === 1) { yield { field, wire }; p += 8; }
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function packedVarints(buf, p, end) {
  const out = [];
  while (p < end) {
    let v = 0, mul = 1, b;
    do { b = buf[p++]; v += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
    out.push(v);
  }
  return out;
}

export function readInitializers(modelPath) {
  const buf = readFileSync(modelPath);
  const out = new Map();
  for (const g of fields(buf)) {
    if (g.field !== 7 || g.wire !== 2) continue;
    for (const t of fields(buf, g.start, g.end)) {
      if (t.field !== 5 || t.wire !== 2) continue;
      const info = { dims: [], ext: {} };
      for (const f of fields(buf, t.start, t.end)) {
        if (f.field === 1 && f.wire === 0) info.dims.push(f.value);
        else if (f.field === 1 && f.wire === 2) info.dims.push(...packedVarints(buf, f.start, f.end));
        else if (f.field === 2) info.dataType = f.value;
        else if (f.field === 8) info.name = buf.toString('utf8', f.start, f.end);
        else if (f.field === 13) {
          let k, v;
          for (const e of fields(buf, f.start, f.end)) {
            if (e.field === 1) k = buf.toString('utf8', e.start, e.end);
            if (e.field === 2) v = buf.toString('utf8', e.start, e.end);
          }
          info.ext[k] = v;
        }
      }
      out.set(info.name, info);
    }
  }
  return out;
}

function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function loadWeights(dir) {
  const inits = readInitializers(join(dir, 'model.onnx'));
  const fd = openSync(join(dir, 'model.onnx.data'), 'r');
  const w = {};
  for (const [name, t] of inits) {
    const len = Number(t.ext.length), off = Number(t.ext.offset);
    const bytes = Buffer.alloc(len);
    readSync(fd, bytes, 0, len, off);
    let vals;
    if (t.dataType === 1) vals = new Float32Array(bytes.buffer, bytes.byteOffset, len / 4);
    else if (t.dataType === 10) {
      const h = new Uint16Array(bytes.buffer, bytes.byteOffset, len / 2);
      vals = Float32Array.from(h, halfToFloat);
    } else throw new Error(`${name}: unsupported data type ${t.dataType}`);
    w[name] = { dims: t.dims, data: vals };
  }
  closeSync(fd);
  return w;
}

// --- the reference model (HF semantics; MatMul-layout [in, out] weights) ---
function invFreq(cfg) {
  const hd = cfg.head_dim, out = [];
  for (let i = 0; i < hd / 2; ++i) {
    let f = 1 / cfg.rope_theta ** ((2 * i) / hd);
    const s = cfg.rope_scaling;
    if (s && s.rope_type === 'llama3') {
      const old = s.original_max_position_embeddings;
      const lowW = old / s.low_freq_factor, highW = old / s.high_freq_factor, wl = (2 * Math.PI) / f;
      if (wl > lowW) f /= s.factor;
      else if (wl >= highW) {
        const sm = (old / wl - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1 - sm) * (f / s.factor) + sm * f;
      }
    }
    out.push(Math.fround(f));
  }
  return out;
}

function linear(x, w, bias) { // x: Float64Array [in]; w: [in, out]
  const [inn, out] = w.dims, y = new Float64Array(out);
  for (let i = 0; i < inn; ++i) {
    const xi = x[i], row = i * out;
    if (xi === 0) continue;
    for (let o = 0; o < out; ++o) y[o] += xi * w.data[row + o];
  }
  if (bias) for (let o = 0; o < out; ++o) y[o] += bias.data[o];
  return y;
}

function rmsNorm(x, w, eps) {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * w.data[i]);
}

export function referenceLogits(cfg, w, ids) {
  const H = cfg.hidden_size, nh = cfg.num_attention_heads, nkv = cfg.num_key_value_heads, hd = cfg.head_dim;
  const rep = nh / nkv, half = hd / 2, inv = invFreq(cfg), eps = cfg.rms_norm_eps;
  const emb = w['model.embed_tokens.weight'];
  let xs = ids.map((id) => Float64Array.from(emb.data.subarray(id * H, id * H + H)));
  const rope = (vec, heads, pos) => {
    for (let h = 0; h < heads; ++h) {
      for (let d = 0; d < half; ++d) {
        const a = Math.fround(pos * inv[d]), c = Math.cos(a), s = Math.sin(a);
        const x1 = vec[h * hd + d], x2 = vec[h * hd + d + half];
        vec[h * hd + d] = x1 * c - x2 * s;
        vec[h * hd + d + half] = x2 * c + x1 * s;
      }
    }
  };
  for (let l = 0; l < cfg.num_hidden_layers; ++l) {
    const p = `model.layers.${l}.`, bias = (n) => w[`${p}self_attn.${n}.bias`];
    const qs = [], ks = [], vs = [];
    xs.forEach((x, t) => {
      const h = rmsNorm(x, w[`${p}input_layernorm.weight`], eps);
      const q = linear(h, w[`${p}self_attn.q_proj.weight`], bias('q_proj'));
      const k = linear(h, w[`${p}self_attn.k_proj.weight`], bias('k_proj'));
      rope(q, nh, t);
      rope(k, nkv, t);
      qs.push(q); ks.push(k); vs.push(linear(h, w[`${p}self_attn.v_proj.weight`], bias('v_proj')));
    });
    xs = xs.map((x, t) => {
      const ctx = new Float64Array(nh * hd);
      for (let h = 0; h < nh; ++h) {
        const g = Math.floor(h / rep); // HF repeat_kv: query head h reads kv head h / n_rep
        const sc = [];
        for (let j = 0; j <= t; ++j) {
          let s = 0;
          for (let d = 0; d < hd; ++d) s += qs[t][h * hd + d] * ks[j][g * hd + d];
          sc.push(s / Math.sqrt(hd));
        }
        const mx = Math.max(...sc), e = sc.map((s) => Math.exp(s - mx)), z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= t; ++j) for (let d = 0; d < hd; ++d) ctx[h * hd + d] += (e[j] / z) * vs[j][g * hd + d];
      }
      const o = linear(ctx, w[`${p}self_attn.o_proj.weight`]);
      const r = x.map((v, i) => v + o[i]);
      const h2 = rmsNorm(r, w[`${p}post_attention_layernorm.weight`], eps);
      const gate = linear(h2, w[`${p}mlp.gate_proj.weight`]), up = linear(h2, w[`${p}mlp.up_proj.weight`]);
      const act = gate.map((gv, i) => (gv / (1 + Math.exp(-gv))) * up[i]);
      const down = linear(act, w[`${p}mlp.down_proj.weight`]);
      return r.map((v, i) => v + down[i]);
    });
  }
  return xs.map((x) => linear(rmsNorm(x, w['model.norm.weight'], eps), w['lm_head.weight']));
}

async function main() {
  const args = process.argv.slice(2);
  const dir = args[0];
  if (!dir) { console.error('usage: node model/build/llama_reference.mjs MODEL_DIR [--prompt-len N]'); process.exit(2); }
  const n = args.includes('--prompt-len') ? Number(args[args.indexOf('--prompt-len') + 1]) : 10;
  const cfg = readConfig(dir);
  const w = loadWeights(dir);
  const ids = Array.from({ length: n }, (_, i) => (i * 53 + 7) % Math.min(cfg.vocab_size, 256));
  const ref = referenceLogits(cfg, w, ids);
  const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
  const pos = ids.map((_, i) => i);
  const { logits } = await runModel(session, cfg, [ids], [ids.map(() => 1)], [pos], emptyPast(cfg, 1));
  const V = cfg.vocab_size;
  let worst = 0, scale = 0;
  for (let t = 0; t < n; ++t) {
    worst = Math.max(worst, maxAbsDiff(ref[t], logits.data.subarray(t * V, t * V + V)));
    for (const v of ref[t]) scale = Math.max(scale, Math.abs(v));
  }
  const ok = worst < 1e-3;
  console.log(`${ok ? 'ok  ' : 'FAIL'} onnxruntime vs JS reference (HF semantics), ${n} positions: max abs diff ${worst.toExponential(3)} (max |logit| ${scale.toFixed(3)})`);
  process.exit(ok ? 0 : 1);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
