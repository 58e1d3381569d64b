// Cost-model accuracy: predicted vs measured per-token latency over many
// configurations of one node and its workers (2-5 workers, thread caps, the
// tiny and small presets, shaped links). For each configuration a fresh node
// starts with headless workers; a warm-up request lets the node measure each
// worker's link and compute (actors/link_meter.hpp) and the plan settle; the
// prediction is then read from /api/status (plan.predicted_now_ms_per_token:
// the serving plan costed with what was measured), and a new greedy request
// measures the per-token latency as its client sees it (median gap between
// streamed tokens). Prints one row per configuration and the mean absolute
// percentage error (MAPE).
//
// Links are shaped by a user-space relay (link_shaper.mjs) that delays and
// paces each direction of the workers' connections. `tc netem` inside network
// namespaces would be the kernel's way, but the kernel this was written on has
// no sch_netem (`tc qdisc add ... netem` fails: "qdisc kind is unknown"); the
// run prints whether netem is available.
//
//   node bench/planner/calibration.mjs [--tessera build/tessera] [--only N | --only I,J,...] [--tokens 96]
//                                      [--verbose] [--keep]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startShaper } from './link_shaper.mjs';
import * as h from '../../tests/integration/harness.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: opt } = parseArgs({
  options: {
    tessera: { type: 'string', default: path.join(repo, 'build', 'tessera') },
    only: { type: 'string' }, tokens: { type: 'string', default: '96' }, keep: { type: 'boolean' },
    verbose: { type: 'boolean' },
  },
});
const TOKENS = Number(opt.tokens);
if (!fs.existsSync(opt.tessera)) {
  console.error(`calibration: no tessera binary at ${opt.tessera} (build it, or pass --tessera PATH)`);
  process.exit(2);
}

// [preset, workers, threads per worker, link] — link: null (loopback) or { delayMs, bytesPerS }.
const ms = (delayMs, bytesPerS = 0) => ({ delayMs, bytesPerS });
const CONFIGS = [
  ['tiny', 2, 1, null], ['tiny', 3, 1, null], ['tiny', 4, 1, null], ['tiny', 5, 1, null],
  ['tiny', 2, 1, ms(2)], ['tiny', 3, 1, ms(2)], ['tiny', 4, 1, ms(1)], ['tiny', 2, 1, ms(5)],
  ['tiny', 3, 1, ms(0, 2e6)], ['tiny', 2, 2, ms(1, 20e6)],
  ['small', 2, 1, null], ['small', 3, 1, null], ['small', 4, 1, null], ['small', 5, 1, null],
  ['small', 2, 2, null], ['small', 3, 2, null],
  ['small', 2, 1, ms(2)], ['small', 3, 1, ms(1)], ['small', 4, 1, ms(2)], ['small', 2, 1, ms(5)],
  ['small', 3, 1, ms(0, 50e6)], ['small', 2, 2, ms(1, 100e6)],
];

const netemWorks = (() => {
  const r = spawnSync('tc', ['qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '0ms'], { encoding: 'utf8' });
  if (r.status === 0) spawnSync('tc', ['qdisc', 'del', 'dev', 'lo', 'root']);
  return r.status === 0;
})();

async function waitFor(what, msLimit, probe) {
  const deadline = Date.now() + msLimit;
  let last;
  for (;;) {
    try { last = await probe(); } catch { last = undefined; }
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${msLimit} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Streams one greedy request; resolves the arrival times of its tokens.
async function streamTokens(port, text, maxTokens) {
  const arrivals = [];
  await h.promptStream(opt.tessera, port, text, { 'max-tokens': maxTokens },
                       (m) => { if ('token' in m) arrivals.push(performance.now()); });
  return arrivals;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function modelDir(root, preset) {
  const dir = path.join(root, 'models', preset);
  if (!fs.existsSync(path.join(dir, 'model.onnx')))
    execFileSync(opt.tessera, ['model', 'build', '--preset', preset, '--out', dir], { stdio: 'ignore' });
  return dir;
}

// Memory that holds about 1/m of the model's layers (+ one), so that the plan
// uses every worker: the planner prefers fewer hops where memory allows.
function workerMemory(dir, m) {
  const info = JSON.parse(execFileSync(opt.tessera, ['model', 'inspect', dir, '--json'], { encoding: 'utf8' }));
  const n = info.num_layers;
  const layer = info.layers[0].param_bytes + info.layers[0].kv_bytes_per_token * 256 * 8;
  const extra = (info.embed_param_bytes ?? 0) + (info.head_param_bytes ?? 0) + (info.prelude_param_bytes ?? 0);
  return Math.ceil((32 << 20) + extra + layer * (Math.ceil(n / m) + 0.5));
}

async function runConfig(root, [preset, m, threads, link], index) {
  const dir = fs.mkdtempSync(path.join(root, `c${index}-`));
  const model = modelDir(root, preset);
  const config = path.join(dir, 'node.toml');
  fs.writeFileSync(config, [
    '[node]', 'listen = "127.0.0.1:0"', 'log_level = "warn"', `shard_dir = "${path.join(root, 'shards')}"`,
    `static_dir = "${path.join(repo, 'webworker')}"`,
    '[model]', `dir = "${model}"`, 'context = 256',
    '[runtime]', 'settle_ms = 200',
    '[planner]', 'first_plan_wait_ms = 0', 'link_probe = true', 'link_probe_interval_ms = 1000',
    '[verify]', 'check_results = false',
  ].join('\n') + '\n');
  const portFile = path.join(dir, 'port');
  const procs = [];
  let shaper;
  try {
    procs.push(spawn(opt.tessera, ['node', '--config', config, '--port-file', portFile],
                     { stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, 'node.log'), 'w')] }));
    const port = await waitFor('the node port', 60000, () => fs.existsSync(portFile) && Number(fs.readFileSync(portFile, 'utf8')));
    let workerPort = port;
    if (link) {
      shaper = await startShaper({ port, delayMs: link.delayMs, bytesPerS: link.bytesPerS });
      workerPort = shaper.port;
    }
    const memory = workerMemory(model, m);
    for (let k = 0; k < m; ++k)
      procs.push(spawn(process.execPath, [path.join(repo, 'webworker', 'node', 'worker.mjs'),
                                          '--url', `ws://127.0.0.1:${workerPort}/ws/worker`, '--memory', String(memory),
                                          '--threads', String(threads), '--name', `w${k}`,
                                          '--cache', path.join(root, 'cache', `w${k}`)],
                       { stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, `w${k}.log`), 'w')] }));
    await waitFor('the first plan', 180000, async () => {
      const s = await h.getJson(port, '/api/status');
      return s.ready && s.workers.length === m && s;
    });
    // Warm up until every serving worker is measured and the plan holds still.
    let status;
    for (let round = 0; round < 4; ++round) {
      await streamTokens(port, 'Warm up the pipeline', 24);
      status = await waitFor('a settled, measured plan', 60000, async () => {
        const s = await h.getJson(port, '/api/status');
        const serving = s.workers.filter((w) => w.layers);
        return s.ready && !s.migration && serving.every((w) => w.link.measured && w.compute_ms_per_position > 0) && s;
      });
      const again = await h.getJson(port, '/api/status');
      if (again.plan_version === status.plan_version && !again.migration) break;
    }
    const predicted = status.plan.predicted_now_ms_per_token;
    if (opt.verbose)
      for (const w of status.workers.filter((x) => x.layers))
        console.log(`#   ${w.name} [${w.layers}] compute ${w.compute_ms_per_position.toFixed(2)} ms/position, ` +
                    `rtt ${w.link.rtt_ms.toFixed(2)} ms, ${(w.link.bytes_per_s / 1e6).toFixed(0)} MB/s, ` +
                    `planned ${(w.planned_flops_per_s / 1e9).toFixed(3)} GFLOP/s, claimed ${(w.flops_per_s / 1e9).toFixed(3)}; stage ` +
                    `${status.plan.stages.find((s) => s.worker === String(w.id))?.predicted_ms?.toFixed(2)} ms at plan time`);
    const arrivals = await streamTokens(port, 'The quick brown fox', TOKENS);
    const gaps = arrivals.slice(2).map((t, i) => t - arrivals[i + 1]);  // decode steps (the first token is prefill)
    // Per-token latency: decode time over decode tokens (the mean gap), what the
    // cost model's averages predict; the median gap is shown beside it.
    const perToken = (a) => (a.at(-1) - a[1]) / (a.length - 2);
    const measured = perToken(arrivals);
    // The same request once more: how far two measurements of one configuration
    // differ (the machine's noise floor, against which the error is read).
    const repeat = perToken(await streamTokens(port, 'The quick brown fox', TOKENS));
    const stages = status.plan.stages.map((s) => `${s.layers[1] - s.layers[0]}`).join('+');
    const rtt = median(status.workers.filter((w) => w.layers).map((w) => w.link.rtt_ms));
    return { preset, m, threads, link, stages, rtt, predicted, measured, medianGap: median(gaps),
             repeat: Math.abs(repeat - measured) / measured,
             error: Math.abs(predicted - measured) / measured };
  } finally {
    shaper?.close();
    for (const p of procs) p.kill('SIGKILL');
    if (!opt.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

const linkText = (l) => (!l ? 'loopback' : [l.delayMs ? `+${l.delayMs} ms` : '', l.bytesPerS ? `${l.bytesPerS / 1e6} MB/s` : '']
  .filter(Boolean).join(', '));

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-calibration-'));
// --only 3 runs the first three configurations, --only 11,12 those two (1-based).
const picked = !opt.only ? CONFIGS
  : opt.only.includes(',') ? opt.only.split(',').map((k) => CONFIGS[Number(k) - 1]).filter(Boolean)
  : CONFIGS.slice(0, Number(opt.only));
console.log(`# cost-model calibration: ${picked.length} configurations, ${TOKENS} tokens each, ${os.cpus().length} cores, ` +
            `load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(`# links shaped by a user-space relay (bench/planner/link_shaper.mjs); tc netem ${netemWorks ? 'is' : 'is not'} ` +
            `available in this kernel${netemWorks ? '' : ' (no sch_netem)'}`);
console.log('| # | preset | workers | threads | link | stages | rtt ms | predicted ms/token | measured ms/token | median gap ms | error | repeat differs |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
const rows = [];
for (const [i, c] of picked.entries()) {
  try {
    const r = await runConfig(root, c, i);
    rows.push(r);
    console.log(`| ${i + 1} | ${r.preset} | ${r.m} | ${r.threads} | ${linkText(r.link)} | ${r.stages} | ${r.rtt.toFixed(2)} | ` +
                `${r.predicted.toFixed(2)} | ${r.measured.toFixed(2)} | ${r.medianGap.toFixed(2)} | ${(r.error * 100).toFixed(1)} % | ` +
                `${(r.repeat * 100).toFixed(1)} % |`);
  } catch (e) {
    console.log(`| ${i + 1} | ${c[0]} | ${c[1]} | ${c[2]} | ${linkText(c[3])} | failed: ${e.message} | | | | | | |`);
  }
}
fs.rmSync(root, { recursive: true, force: true });
if (rows.length) {
  const mape = rows.reduce((a, r) => a + r.error, 0) / rows.length;
  const worst = Math.max(...rows.map((r) => r.error));
  const noise = rows.reduce((a, r) => a + r.repeat, 0) / rows.length;
  console.log(`# MAPE ${(mape * 100).toFixed(1)} % over ${rows.length} configurations (worst ${(worst * 100).toFixed(1)} %); ` +
              `a repeated measurement differs from the first by ${(noise * 100).toFixed(1)} % on average; ` +
              `load average after ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}
process.exit(rows.length === picked.length ? 0 : 1);
