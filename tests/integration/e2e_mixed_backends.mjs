// Honest workers on two backends check each other within their pair's
// tolerance. A node on 127.0.0.1 with the `tiny` model: two headless workers
// on onnxruntime-node (CPU) serve the two stages, two on onnxruntime-web's
// WASM build (`worker.mjs --backend wasm`) stand by. The config makes the
// same-backend tolerance absurdly strict (1e-9) and gives CPU–WASM 2e-3, with
// every hop of every step spot-checked and every load probed: each check and
// each standby's probe compares a CPU answer with a WASM one, so only the
// pair's tolerance lets them agree. The replies must equal the whole model,
// nobody may be evicted, and the checks must have seen CPU–WASM differences
// above 1e-9 (else the test proves nothing about the table).
//   node e2e_mixed_backends.mjs TESSERA_BINARY [PRESET]
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import * as h from './harness.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
h.watchdog(300000, 'e2e_mixed_backends');
const dir = h.tmpDir('tessera-mixed-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const MAX = 24;
const PROMPTS = ['The quick brown fox', 'Tessera'];
const STRICT = 1e-9;

const started = [];
function startWorker(port, name, backend) {
  const args = [path.join(h.repoRoot, 'webworker', 'node', 'worker.mjs'), '--url', `ws://127.0.0.1:${port}/ws/worker`,
                '--memory', '36000000', '--threads', '1', '--name', name, '--cache', path.join(dir, `cache-${name}`),
                '--flops', '1e10', '--backend', backend];
  const log = fs.openSync(path.join(dir, `${name}.log`), 'w');
  const child = spawn(process.execPath, args, { stdio: ['ignore', log, log], detached: true });
  started.push(child);
  return child;
}
const stopAll = () => { for (const c of started) try { process.kill(-c.pid, 'SIGKILL'); } catch {} };

let node;
try {
  const refs = h.reference(modelDir, MAX, PROMPTS);
  // A WASM worker runs ONNX on its main thread (no heartbeat while a run lasts;
  // its first runs after a load are slow on a busy machine): generous bounds.
  const file = h.writeConfig(dir, { modelDir, workers: [], heartbeatMs: 500, heartbeatTimeoutMs: 10000 });
  fs.appendFileSync(file, `[verify]\nrate = 1\nfirst_steps = 4\ntolerance = ${STRICT}\ntolerance_cpu_wasm = 2e-3\n` +
                          'load_probe = true\nstep_deadline_ms = 10000\n');
  node = await h.startNode(tessera, file, dir, { waitReady: false });
  startWorker(node.port, 'cpu-a', 'cpu');
  startWorker(node.port, 'cpu-b', 'cpu');
  const ready = await h.waitStatus(node.port, 'the CPU workers serving', 60000, (s) => s.ready);
  const stages = ready.plan.stages.length;
  startWorker(node.port, 'wasm-c', 'wasm');
  startWorker(node.port, 'wasm-d', 'wasm');
  const standing = await h.waitStatus(node.port, 'a loaded WASM standby for every stage', 90000, (s) =>
    s.workers.filter((w) => w.standby_for && w.loaded && w.name.startsWith('wasm-')).length >= stages);
  const devices = Object.fromEntries(standing.workers.map((w) => [w.name, w.device]));
  h.check(devices['wasm-c'] === 'wasm' && devices['wasm-d'] === 'wasm' && devices['cpu-a'] === 'node-cpu',
          `the workers report their backends (${JSON.stringify(devices)})`);
  for (const p of PROMPTS) {
    const r = await h.prompt(tessera, node.port, p, { 'max-tokens': MAX });
    h.check(JSON.stringify(r.tokens) === JSON.stringify(refs[p]), `"${p}": the reply equals the whole model`);
  }
  const log = fs.readFileSync(node.logFile, 'utf8').split('\n');
  const evicted = log.filter((l) => / evicted: /.test(l));
  h.check(evicted.length === 0, `no honest worker is evicted (${evicted[0] ?? 'none'})`);
  const probes = log.filter((l) => /name=wasm-\S+ load probe of layers .* agrees with/.test(l));
  h.check(probes.length >= stages, `each WASM standby's load probe agrees with a CPU holder's answer (${probes.length})`);
  let checks = 0, maxDiff = 0;
  for (const l of log) {
    const m = /spot_checks=(\d+) inconclusive=\d+ max_difference=([0-9.e+-]+)/.exec(l);
    if (m) { checks += Number(m[1]); maxDiff = Math.max(maxDiff, Number(m[2])); }
  }
  h.check(checks >= PROMPTS.length * MAX, `every hop of every step was checked on a WASM standby (${checks} checks)`);
  h.check(maxDiff > STRICT && maxDiff <= 2e-3,
          `the largest CPU–WASM difference the checks saw, ${maxDiff.toExponential(2)}, is above the same-backend tolerance ${STRICT} and within the pair's 2e-3`);
  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, 'the node stops cleanly');
  node = null;
  stopAll();
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_mixed_backends');
} catch (e) {
  stopAll();
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
