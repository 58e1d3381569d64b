// Starts `node webworker/node/worker.mjs` as a child process for tests and
// collects its stderr; `stop()` kills it (by its own pid) if still running.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const workerScript = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../node/worker.mjs');

export function spawnWorker(args, env = process.env) {
  const child = spawn(process.execPath, [workerScript, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    get log() { return log; },
    exited,
    async waitExit(timeoutMs = 10000) {
      let t;
      const r = await Promise.race([exited, new Promise((res) => { t = setTimeout(() => res(null), timeoutMs); })]);
      clearTimeout(t);
      if (!r) throw new Error(`worker did not exit within ${timeoutMs} ms; log:\n${log}`);
      return r;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
