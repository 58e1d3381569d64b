// How far honest workers on different ONNX Runtime backends disagree: the
// same stage steps run on onnxruntime-node (CPU), onnxruntime-web's WASM build
// in Node, and — in headless Chromium through playwright-core — WASM and
// WebGPU (when Chromium exposes an adapter; SwiftShader's software adapter is
// asked for). Every stage of each preset's split is fed the CPU pipeline's
// input of that stage (as a spot check's verifier is fed the inputs the
// request kept), teacher-forced along the CPU's greedy tokens for real text
// prompts. Per backend pair it prints the spot-check metric (largest |a - b|
// over the reference's largest magnitude, per stage step: max and p99.9) and
// the greedy-token agreement of the last stage.
//   node bench/runtime/backend_tolerance.mjs TESSERA_BINARY [--presets tiny,small] [--plans per_layer,two_equal]
//        [--steps 300] [--browser-steps 300] [--webgpu-steps tiny:40,small:6] [--no-browser] [--models DIR]
// --steps: pipeline steps per (preset, plan) on CPU and Node WASM; the browser
// backends run the first --browser-steps / --webgpu-steps (per preset: the
// software WebGPU adapter runs ~80x slower than WASM) of them. Each (preset,
// plan) prints its rows as it ends; the totals per pair come last.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import * as ortWeb from '../../webworker/node_modules/onnxruntime-web/dist/ort.node.min.mjs';
import { ort as ortNode, loadPipeline, readManifest } from '../../webworker/node/ort_node.mjs';
import { StageRunner } from '../../webworker/core/stage_runner.mjs';
import { createWebSession } from '../../webworker/core/web_session.mjs';
import { encodeBytes, BOS } from '../../webworker/core/byte_text.mjs';
import { splitDir } from '../../webworker/testing/plans.mjs';
import { launchBrowser, haveChromium } from '../../webworker/testing/chromium.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: { presets: { type: 'string' }, plans: { type: 'string' }, steps: { type: 'string' },
             'browser-steps': { type: 'string' }, 'webgpu-steps': { type: 'string' }, 'no-browser': { type: 'boolean' },
             models: { type: 'string' } },
});
const [tessera] = positionals;
if (!tessera && !opt.models) {
  console.error('usage: backend_tolerance.mjs TESSERA_BINARY [--presets tiny,small] [--plans per_layer,two_equal] [--steps N] ...');
  process.exit(2);
}
const PRESETS = (opt.presets ?? 'tiny,small').split(',');
const PLANS = (opt.plans ?? 'per_layer,two_equal').split(',');
const STEPS = Number(opt.steps ?? 300);
const BROWSER_STEPS = Number(opt['browser-steps'] ?? STEPS);
const WEBGPU_STEPS = Object.fromEntries((opt['webgpu-steps'] ?? 'tiny:40,small:6').split(',').map((x) => {
  const [preset, n] = x.split(':');
  return [preset, Number(n)];
}));
const DECODE = 40;  // greedy tokens per prompt, after its prefill step
const PROMPTS = ['The quick brown fox jumps over the lazy dog.', 'In the beginning was the word, and the word was',
  'Tessera runs one model across many machines.', 'Once upon a time, in a land far away, there lived',
  'To be, or not to be: that is the question.', 'SELECT name FROM users WHERE id = 42;',
  'The mitochondria is the powerhouse of the cell.', '1, 2, 3, 5, 8, 13, 21, 34,'];

ortWeb.env.wasm.numThreads = 1;

// ---- backends: load(dir) -> { step(k, seq, position, inputs), release(seq), close() }
// inputs / outputs: { name: { type, dims, data (typed array) } }

const toPlain = (t) => ({ type: t.type, dims: [...t.dims], data: t.data });

function ortRunnerBackend(ort, runners) {
  return {
    async step(k, seq, position, inputs) {
      const feeds = {};
      for (const [n, t] of Object.entries(inputs)) feeds[n] = new ort.Tensor(t.type, t.data, t.dims);
      const { outputs } = await runners[k].step(seq, { position, inputs: feeds });
      return Object.fromEntries(Object.entries(outputs).map(([n, t]) => [n, toPlain(t)]));
    },
    release(seq) { for (const r of runners) r.release(seq); },
    async close() { for (const r of runners) await r.dispose(); },
  };
}

async function cpuBackend(dir) {
  const { pipeline } = await loadPipeline(dir, { threads: 1 });
  return ortRunnerBackend(ortNode, pipeline.runners);
}

async function nodeWasmBackend(dir) {
  const manifest = readManifest(dir);
  const runners = [];
  for (const s of manifest.stages) {
    const files = [{ name: s.file, bytes: fs.readFileSync(path.join(dir, s.file)) }];
    if (s.data_file && fs.existsSync(path.join(dir, s.data_file)))
      files.push({ name: s.data_file, bytes: fs.readFileSync(path.join(dir, s.data_file)) });
    const session = await createWebSession(ortWeb, files, { executionProviders: ['wasm'] });
    runners.push(new StageRunner(ortWeb, session, s, { config: manifest.model.config ?? {} }));
  }
  return ortRunnerBackend(ortWeb, runners);
}

// The page: ORT-web and the worker's own stage runner, driven by page.evaluate.
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import * as ort from '/ort/ort.all.min.mjs';
import { StageRunner } from '/core/stage_runner.mjs';
import { createWebSession } from '/core/web_session.mjs';
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = '/ort/';
const TYPED = { float32: Float32Array, int64: BigInt64Array };
const sets = {};  // execution provider -> the stage runners of the split loaded last
window.bench = {
  async adapter() {
    if (!navigator.gpu) return 'navigator.gpu is undefined';
    const a = await navigator.gpu.requestAdapter();
    if (!a) return 'requestAdapter() returned null';
    const info = a.info ?? {};
    return 'adapter: ' + [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  },
  async load(base, ep) {
    const manifest = await (await fetch(base + '/manifest.json')).json();
    for (const r of sets[ep] ?? []) await r.dispose();
    const runners = sets[ep] = [];
    for (const s of manifest.stages) {
      const files = [{ name: s.file, bytes: new Uint8Array(await (await fetch(base + '/' + s.file)).arrayBuffer()) }];
      if (s.data_file) {
        const r = await fetch(base + '/' + s.data_file);
        if (r.ok) files.push({ name: s.data_file, bytes: new Uint8Array(await r.arrayBuffer()) });
      }
      const session = await createWebSession(ort, files, { executionProviders: [ep] });
      runners.push(new StageRunner(ort, session, s, { config: manifest.model.config ?? {} }));
    }
    return runners.length;
  },
  async step(ep, k, seq, position, inputs) {
    const feeds = {};
    for (const [n, t] of Object.entries(inputs))
      feeds[n] = new ort.Tensor(t.type, t.type === 'int64' ? BigInt64Array.from(t.data, BigInt) : Float32Array.from(t.data), t.dims);
    const { outputs } = await sets[ep][k].step(seq, { position, inputs: feeds });
    const out = {};
    for (const [n, t] of Object.entries(outputs))
      out[n] = { type: t.type, dims: [...t.dims], data: t.type === 'int64' ? Array.from(t.data, Number) : Array.from(t.data) };
    return out;
  },
  release(ep, seq) { for (const r of sets[ep]) r.release(seq); },
};
window.benchReady = true;
</script>`;

const MIME = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

// Serves the page, ORT-web's dist/, webworker/core/ and the models on 127.0.0.1.
function serve(modelsDir) {
  const mounts = { '/ort/': path.join(root, 'webworker/node_modules/onnxruntime-web/dist'),
                   '/core/': path.join(root, 'webworker/core'), '/models/': modelsDir };
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp',
                      'Cross-Origin-Resource-Policy': 'same-origin' };
    if (url === '/') return res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(PAGE);
    for (const [prefix, dir] of Object.entries(mounts)) {
      if (!url.startsWith(prefix)) continue;
      const file = path.join(dir, url.slice(prefix.length));
      if (!file.startsWith(dir) || !fs.existsSync(file) || !fs.statSync(file).isFile()) break;
      return res.writeHead(200, { ...headers, 'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream' })
        .end(fs.readFileSync(file));
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function browserBackend(page, base, modelsDir, dir, ep) {
  await page.evaluate(([b, e]) => window.bench.load(b, e), [`${base}/models/${path.relative(modelsDir, dir)}`, ep]);
  return {
    async step(k, seq, position, inputs) {
      const plain = Object.fromEntries(Object.entries(inputs).map(([n, t]) =>
        [n, { type: t.type, dims: t.dims, data: t.type === 'int64' ? Array.from(t.data, Number) : Array.from(t.data) }]));
      const out = await page.evaluate(([e, a, b, c, d]) => window.bench.step(e, a, b, c, d), [ep, k, seq, position, plain]);
      for (const t of Object.values(out))
        t.data = t.type === 'int64' ? BigInt64Array.from(t.data, BigInt) : Float32Array.from(t.data);
      return out;
    },
    release(seq) { return page.evaluate(([e, s]) => window.bench.release(e, s), [ep, seq]); },
    async close() {},
  };
}

// ---- comparison

// The spot-check metric over one stage step's outputs: max |a - b| / max |ref|.
function relative(a, ref) {
  let diff = 0, scale = 0;
  for (const [n, r] of Object.entries(ref)) {
    const x = a[n];
    if (!x || x.data.length !== r.data.length) return Infinity;
    for (let i = 0; i < r.data.length; ++i) {
      diff = Math.max(diff, Math.abs(x.data[i] - r.data[i]));
      scale = Math.max(scale, Math.abs(r.data[i]));
    }
  }
  return diff / Math.max(scale, 1e-12);
}

class PairStats {
  constructor() { this.rel = []; this.tokens = 0; this.agree = 0; }
  add(a, ref) {
    if (ref.next_token) {
      ++this.tokens;
      if (a.next_token && a.next_token.data[0] === ref.next_token.data[0]) ++this.agree;
    } else this.rel.push(relative(a, ref));
  }
  summary() {
    const s = [...this.rel].sort((x, y) => x - y);
    const q = (p) => (s.length ? s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] : NaN);
    return { steps: s.length, max: s.length ? s[s.length - 1] : NaN, p999: q(0.999), tokens: this.tokens, agree: this.agree };
  }
}

// Runs `steps` pipeline steps of the CPU reference along its greedy tokens and
// feeds every stage's input to each other backend; `limits[name]` caps a backend's steps.
async function measure(backends, stages, steps, limits, stats) {
  const [ref, ...others] = backends;
  let done = 0, seq = 1;
  for (let p = 0; done < steps; ++p, ++seq) {
    let tokens = [BOS, ...encodeBytes(PROMPTS[p % PROMPTS.length])];
    let position = 0;
    for (let d = 0; d <= DECODE && done < steps; ++d, ++done) {
      const active = others.filter((b) => done < (limits[b.name] ?? Infinity));
      let input = { input_ids: { type: 'int64', dims: [1, tokens.length], data: BigInt64Array.from(tokens, BigInt) } };
      for (let k = 0; k < stages; ++k) {
        const want = await ref.impl.step(k, seq, position, input);
        const got = [];
        for (const b of active) got.push([b, await b.impl.step(k, seq, position, input)]);
        for (const [b, out] of got) stats(`${ref.name} vs ${b.name}`).add(out, want);
        for (let i = 0; i < got.length; ++i)
          for (let j = i + 1; j < got.length; ++j) stats(`${got[i][0].name} vs ${got[j][0].name}`).add(got[j][1], got[i][1]);
        input = want;
      }
      position += tokens.length;
      tokens = [Number(input.next_token.data[0])];
    }
    for (const b of backends) await b.impl.release(seq);
  }
}

// ---- main

const work = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'tessera-backend-tol-'));
const modelsDir = opt.models ?? path.join(work, 'models');
const all = new Map();
const statsFor = (key) => (name) => {
  const k = `${name}|${key}`;
  if (!all.has(k)) all.set(k, new PairStats());
  return all.get(k);
};
let browser, server, page;
const notes = [];
try {
  for (const preset of PRESETS)
    if (!fs.existsSync(splitDir(modelsDir, preset, PLANS[0], 'greedy')))
      execFileSync(process.execPath, [path.join(root, 'webworker/testing/make_splits.mjs'), tessera, modelsDir, preset],
                   { stdio: ['ignore', 'ignore', 'inherit'] });
  let webgpu = false;
  if (!opt['no-browser'] && haveChromium()) {
    server = await serve(modelsDir);
    const base = `http://127.0.0.1:${server.address().port}`;
    browser = await launchBrowser({ extraArgs: ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader',
                                                '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader'] });
    page = await browser.context.newPage();
    await page.goto(base + '/');
    await page.waitForFunction(() => window.benchReady === true, null, { timeout: 60000 });
    const adapter = await page.evaluate(() => window.bench.adapter());
    webgpu = adapter.startsWith('adapter');
    notes.push(`Chromium WebGPU: ${adapter}`);
    page.base = base;
  } else notes.push(opt['no-browser'] ? 'browser backends skipped (--no-browser)' : 'no Chromium: browser backends skipped');
  for (const preset of PRESETS)
    for (const plan of PLANS) {
      const dir = splitDir(modelsDir, preset, plan, 'greedy');
      const stages = readManifest(dir).stages.length;
      const backends = [{ name: 'cpu', impl: await cpuBackend(dir) }, { name: 'wasm-node', impl: await nodeWasmBackend(dir) }];
      const limits = {};
      if (page)
        for (const ep of webgpu && WEBGPU_STEPS[preset] ? ['wasm', 'webgpu'] : ['wasm']) {
          const name = `${ep}-chromium`;
          try {
            backends.push({ name, impl: await browserBackend(page, page.base, modelsDir, dir, ep) });
            limits[name] = ep === 'webgpu' ? WEBGPU_STEPS[preset] ?? 0 : BROWSER_STEPS;
          } catch (e) {
            notes.push(`${preset} ${plan}: ${name} could not load the stages: ${e.message.split('\n')[0]}`);
          }
        }
      const t0 = Date.now();
      await measure(backends, stages, STEPS, limits, statsFor(`${preset} ${plan}`));
      notes.push(`${preset} ${plan}: ${STEPS} steps (browser: ${JSON.stringify(limits)}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      for (const [k, st] of all)
        if (k.endsWith(`|${preset} ${plan}`)) {
          const x = st.summary();
          console.log(`# ${k.replace('|', ' | ')}: ${x.steps} stage steps, max ${x.max.toExponential(2)}, p99.9 ${x.p999.toExponential(2)}, tokens ${x.agree}/${x.tokens}`);
        }
      for (const b of backends) await b.impl.close();
    }
  const rows = [];
  const pairs = new Map();
  for (const [k, s] of all) {
    const [pair, where] = k.split('|');
    const sum = s.summary();
    rows.push({ pair, where, ...sum });
    const p = pairs.get(pair) ?? { pair, steps: 0, max: 0, rels: [], tokens: 0, agree: 0 };
    p.rels.push(...s.rel);
    p.tokens += sum.tokens;
    p.agree += sum.agree;
    pairs.set(pair, p);
  }
  const fmt = (x) => (Number.isFinite(x) ? x.toExponential(2) : String(x));
  console.log('| pair | model, plan | stage steps | max | p99.9 | greedy tokens agreeing |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows.sort((a, b) => a.pair.localeCompare(b.pair) || a.where.localeCompare(b.where)))
    console.log(`| ${r.pair} | ${r.where} | ${r.steps} | ${fmt(r.max)} | ${fmt(r.p999)} | ${r.agree}/${r.tokens} |`);
  console.log('\n| pair (all models) | stage steps | max | p99.9 | greedy tokens agreeing |');
  console.log('|---|---|---|---|---|');
  for (const p of pairs.values()) {
    const s = new PairStats();
    s.rel = p.rels;
    const sum = s.summary();
    console.log(`| ${p.pair} | ${sum.steps} | ${fmt(sum.max)} | ${fmt(sum.p999)} | ${p.agree}/${p.tokens} |`);
  }
  for (const n of notes) console.log(`# ${n}`);
} finally {
  await browser?.close();
  server?.close();
  fs.rmSync(work, { recursive: true, force: true });
}
