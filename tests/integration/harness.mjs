// Test harness for integration tests: a temporary node config, the real
// `tessera node` binary on 127.0.0.1 port 0 (the port comes back through
// --port-file), bounded waits, and cleanup of everything started.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const children = new Set();
function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
export function killAll() {
  for (const c of children) {
    try { process.kill(-c.pid, 'SIGKILL'); } catch { try { c.kill('SIGKILL'); } catch {} }
  }
}
process.on('exit', killAll);

// Fails the whole test run after `ms` (no test may hang).
export function watchdog(ms, what) {
  const t = setTimeout(() => {
    console.error(`FAIL: ${what} did not finish within ${ms} ms`);
    killAll();
    process.exit(1);
  }, ms);
  t.unref();
}

export function removeDir(dir) {
  try { fs.rmSync(dir, { recursive: true, force: true }); } catch {}
}

// Ends a failed test: prints the error and where each node's log is (kept under
// `dir`), closes the browser, kills every process the harness started, removes
// the large model and shard directories, and exits 1.
export async function fail(e, dir, { nodes = [], browser } = {}) {
  console.error(`FAIL: ${e.message}`);
  for (const n of nodes) if (n) console.error(`node log: ${n.logFile}`);
  if (browser) await browser.close();
  killAll();
  removeDir(path.join(dir, 'model'));
  removeDir(path.join(dir, 'shards'));
  process.exit(1);
}

export function tmpDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Builds (once per dir) a preset model with the tessera binary.
export function buildModel(tessera, preset, dir) {
  if (!fs.existsSync(path.join(dir, 'model.onnx')))
    execFileSync(tessera, ['model', 'build', '--preset', preset, '--out', dir], { stdio: 'inherit', timeout: 600000 });
  return dir;
}

// `runtime` adds [runtime] keys as they are written in TOML, e.g. { migration: '"immediate"' };
// `planner` and `limits` add [planner] and [limits] keys the same way, e.g. { client_frame: '"128MiB"' }.
// `restart` ('always' | 'never') sets every local worker's restart policy (a
// worker's own `restart` wins); unset, the node's default (always) applies.
// `node` adds [node] keys and `auth` an [auth] table, written the same way.
export function writeConfig(dir, { modelDir, workers, heartbeatMs = 500, heartbeatTimeoutMs = 3000, context = 256,
                                   keptInputs = '64MB', runtime = {}, planner = {}, limits = {}, restart, node = {}, auth }) {
  const lines = [
    '[node]', 'listen = "127.0.0.1:0"', 'log_level = "info"',
    `shard_dir = "${path.join(dir, 'shards')}"`, `static_dir = "${path.join(repoRoot, 'webworker')}"`,
    ...Object.entries(node).map(([k, v]) => `${k} = ${v}`),
    ...(auth ? ['[auth]', ...Object.entries(auth).map(([k, v]) => `${k} = ${v}`)] : []),
    '[model]', `dir = "${modelDir}"`, `context = ${context}`,
    '[runtime]', `heartbeat_ms = ${heartbeatMs}`, `heartbeat_timeout_ms = ${heartbeatTimeoutMs}`,
    'step_timeout_ms = 20000', 'queue_timeout_ms = 60000', `kept_inputs = "${keptInputs}"`,
    ...Object.entries(runtime).map(([k, v]) => `${k} = ${v}`),
    ...(Object.keys(planner).length ? ['[planner]', ...Object.entries(planner).map(([k, v]) => `${k} = ${v}`)] : []),
    ...(Object.keys(limits).length ? ['[limits]', ...Object.entries(limits).map(([k, v]) => `${k} = ${v}`)] : []),
    '[workers]', `script = "${path.join(repoRoot, 'webworker', 'node', 'worker.mjs')}"`,
  ];
  for (const w of workers) {
    lines.push('[[workers.local]]', `name = "${w.name}"`, `memory = "${w.memory}"`, `threads = ${w.threads ?? 1}`);
    if (w.restart ?? restart) lines.push(`restart = "${w.restart ?? restart}"`);
  }
  const file = path.join(dir, 'node.toml');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function waitFor(what, ms, probe, intervalMs = 50) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + ms;
    const tick = async () => {
      let v;
      try { v = await probe(); } catch { v = undefined; }
      if (v !== undefined && v !== false) return resolve(v);
      if (Date.now() > deadline) return reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      setTimeout(tick, intervalMs);
    };
    tick();
  });
}

export function getJson(port, p, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: p, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => { try { resolve(JSON.parse(body)); } catch (e) { reject(e); } });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

// Starts `tessera node --config FILE --port-file F`; resolves when /api/status says ready.
// `wrap(command, args)` -> [command, args] runs it through another command (e.g. `ip netns exec NS`).
export async function startNode(tessera, configFile, dir, { readyMs = 120000, waitReady = true,
                                                          wrap = (c, a) => [c, a] } = {}) {
  const portFile = path.join(dir, 'node.port');
  const log = fs.openSync(path.join(dir, 'node.log'), 'w');
  const child = track(spawn(...wrap(tessera, ['node', '--config', configFile, '--port-file', portFile]),
                            { stdio: ['ignore', log, log], detached: true }));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await waitFor('the node to write its port', 60000, () => {
    if (child.exitCode !== null) throw new Error('node exited');
    return fs.existsSync(portFile) ? Number(fs.readFileSync(portFile, 'utf8').trim()) : undefined;
  });
  if (!waitReady) return { child, port, exited, logFile: path.join(dir, 'node.log') };
  const status = await waitFor('the node to be ready', readyMs, async () => {
    const s = await getJson(port, '/api/status');
    return s.ready ? s : undefined;
  }, 200);
  return { child, port, status, exited, logFile: path.join(dir, 'node.log') };
}

// SIGTERM; resolves with the exit status (bounded).
export async function stopNode(node, ms = 20000) {
  node.child.kill('SIGTERM');
  const t = new Promise((_, reject) => setTimeout(() => reject(new Error('node did not exit after SIGTERM')), ms));
  return Promise.race([node.exited, t]);
}

// Runs `tessera prompt --json`; resolves {tokens, text, done, messages}.
export function prompt(tessera, port, text, opts = {}, host = '127.0.0.1') {
  const args = ['prompt', '--json', '--url', `ws://${host}:${port}/ws/generate`, '--timeout-ms', '60000'];
  for (const [k, v] of Object.entries(opts)) args.push(`--${k}`, String(v));
  args.push(text);
  return new Promise((resolve, reject) => {
    const child = track(spawn(tessera, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => reject(new Error(`tessera prompt could not start: ${e.message}`)));
    child.on('close', (code) => {  // 'close': after stdout is drained ('exit' may come before the last data)
      if (code !== 0) return reject(new Error(`tessera prompt exited ${code}: ${err}${out}`));
      const messages = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      const tokens = messages.filter((m) => 'token' in m).map((m) => m.token);
      const text = messages.map((m) => m.text ?? '').join('');
      resolve({ tokens, text, done: messages[messages.length - 1], messages });
    });
  });
}

// Like prompt(), and calls onMessage(json) for each streamed message as it arrives.
export function promptStream(tessera, port, text, opts, onMessage, host = '127.0.0.1') {
  const args = ['prompt', '--json', '--url', `ws://${host}:${port}/ws/generate`, '--timeout-ms', '60000'];
  for (const [k, v] of Object.entries(opts)) args.push(`--${k}`, String(v));
  args.push(text);
  return new Promise((resolve, reject) => {
    const child = track(spawn(tessera, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let buf = '';
    let err = '';
    const messages = [];
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const m = JSON.parse(line);
        messages.push(m);
        onMessage(m);
      }
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => reject(new Error(`tessera prompt could not start: ${e.message}`)));
    child.on('close', (code) => {  // 'close': after stdout is drained ('exit' may come before the last data)
      if (code !== 0) return reject(new Error(`tessera prompt exited ${code}: ${err}`));
      const tokens = messages.filter((m) => 'token' in m).map((m) => m.token);
      resolve({ tokens, done: messages[messages.length - 1], messages });
    });
  });
}

// Starts one more headless worker against the node (not a child of the node);
// `extra`: more worker.mjs arguments (e.g. ['--backend', 'wasm']).
export function startWorker(port, name, memory, cacheDir, extra = []) {
  return track(spawn(process.execPath, [path.join(repoRoot, 'webworker', 'node', 'worker.mjs'),
                                        '--url', `ws://127.0.0.1:${port}/ws/worker`, '--memory', memory,
                                        '--threads', '1', '--name', name, '--cache', cacheDir, ...extra],
                     { stdio: 'ignore', detached: true }));
}

// The PID of the node's local worker called `name` (its --name argument).
export function workerPid(nodePid, name) {
  for (const pid of childPids(nodePid)) {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const i = argv.indexOf('--name');
    if (i >= 0 && argv[i + 1] === name) return pid;
  }
  return undefined;
}

// Resolves when /api/status satisfies pred (bounded).
export function waitStatus(port, what, ms, pred) {
  return waitFor(what, ms, async () => {
    const s = await getJson(port, '/api/status');
    return pred(s) ? s : undefined;
  }, 100);
}

// Polls /api/status until pred(status) holds; past `ms`, fails with
// describe(last status) so the message names the numbers that did not settle.
export async function settle(port, what, ms, pred, describe) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try { last = await getJson(port, '/api/status'); } catch { last = undefined; }
    if (last && pred(last)) return last;
    if (Date.now() > deadline)
      throw new Error(`${what}: not reached within ${ms} ms (${last ? describe(last) : 'no /api/status answer'})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Greedy reference ids from the whole model (tests/integration/reference.mjs).
// `prompts`: texts (byte vocabulary) or { text: ids } with `eos` (a model with its own tokenizer).
export function reference(modelDir, maxTokens, prompts, eos) {
  const out = execFileSync(process.execPath, [path.join(repoRoot, 'tests', 'integration', 'reference.mjs'),
                                              modelDir, String(maxTokens), JSON.stringify(prompts),
                                              ...(eos === undefined ? [] : [String(eos)])],
                           { timeout: 300000 });
  return JSON.parse(out.toString());
}

// PIDs whose parent is `pid` (Linux /proc).
export function childPids(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {}
  }
  return out;
}

export function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

export function check(cond, message) {
  if (!cond) throw new Error(message);
  console.log(`ok - ${message}`);
}
