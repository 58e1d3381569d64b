#!/usr/bin/env node
// Soak: a node with three supervised local workers serves CLIENTS concurrent
// clients (each sends one prompt after another) for DURATION; every KILL_EVERY
// seconds a serving local worker is killed with SIGKILL (the node restarts it),
// and `stress-ng --cpu 2` runs beside it all. Every reply is compared with the
// fault-free reply of its prompt (taken before the soak, one at a time).
// Prints, every SAMPLE seconds, the node's RSS and open file descriptors and
// the pool (the curve), and at the end: requests done / lost (failed or changed
// reply), false deaths (a worker dropped for silence: the soak only kills with
// SIGKILL, which closes the socket, so every heartbeat drop is false), restarts,
// and the node's running actors against the baseline taken before any client.
//
//   node bench/soak/soak.mjs build/tessera [--duration-s 1800] [--clients 32]
//        [--kill-every-s 20] [--sample-s 30] [--preset small] [--max-tokens 16] [--no-stress]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as h from '../../tests/integration/harness.mjs';

const { values: o, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'duration-s': { type: 'string', default: '1800' }, clients: { type: 'string', default: '32' },
    'kill-every-s': { type: 'string', default: '20' }, 'sample-s': { type: 'string', default: '30' },
    preset: { type: 'string', default: 'small' }, 'max-tokens': { type: 'string', default: '16' },
    'no-stress': { type: 'boolean', default: false },
  },
});
const tessera = positionals[0];
const num = (k) => {
  const n = Number(o[k]);
  if (!(n > 0)) { console.error(`soak: --${k} expects a positive number, got '${o[k]}'`); process.exit(2); }
  return n;
};
if (!tessera || !fs.existsSync(tessera)) { console.error('usage: soak.mjs TESSERA_BINARY [options] (see the header)'); process.exit(2); }
const durationMs = num('duration-s') * 1000;
const clients = num('clients');
const killEveryMs = num('kill-every-s') * 1000;
const sampleMs = num('sample-s') * 1000;
const maxTokens = num('max-tokens');

const dir = h.tmpDir('tessera-soak-');
const modelDir = h.buildModel(tessera, o.preset, path.join(dir, 'model'));
const config = h.writeConfig(dir, {
  modelDir, heartbeatMs: 300, heartbeatTimeoutMs: 1500, restart: 'always',
  workers: [{ name: 'big', memory: '160MB' }, { name: 'mid', memory: '120MB' }, { name: 'small', memory: '90MB' }],
});
// Eight prompts, half greedy and half seeded sampling.
const prompts = Array.from({ length: 8 }, (_, i) => ({
  text: `soak ${i}: ${'the quick brown fox'.slice(0, 4 + 2 * i)}`,
  opts: i % 2 ? { 'max-tokens': maxTokens, temperature: 0.8, 'top-k': 20, seed: 50 + i } : { 'max-tokens': maxTokens },
}));

const procStat = (pid) => {
  const rss = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { rssMB: rss ? Number(rss[1]) / 1024 : NaN, fds: fs.readdirSync(`/proc/${pid}/fd`).length };
};
const falseDeaths = (logFile) => (fs.readFileSync(logFile, 'utf8').match(/disconnect reason="no heartbeat/g) ?? []).length;

let node;
let stress;
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => {
    stress?.kill('SIGTERM');
    h.killAll();
    process.exit(130);
  });
try {
  node = await h.startNode(tessera, config, dir);
  const s0 = await h.waitStatus(node.port, '3 workers serving', 120000, (s) => s.ready && s.workers.length === 3);
  const baseline = s0.actors.running;
  const expected = [];
  for (const p of prompts) expected.push((await h.prompt(tessera, node.port, p.text, p.opts)).tokens);
  const start = procStat(node.child.pid);
  console.log(`# soak: ${o['duration-s']} s, ${clients} clients, a SIGKILL every ${o['kill-every-s']} s, ` +
              `preset ${o.preset}, ${maxTokens} tokens per reply, stress-ng ${o['no-stress'] ? 'off' : '--cpu 2'}`);
  console.log(`# baseline: ${baseline} actors running, node rss ${start.rssMB.toFixed(1)} MB, ${start.fds} fds`);
  if (!o['no-stress']) {
    stress = spawn('stress-ng', ['--cpu', '2', '--timeout', `${Math.ceil(durationMs / 1000) + 60}s`, '--quiet'], { stdio: 'ignore' });
    stress.on('error', (e) => { console.error(`soak: cannot start stress-ng (${e.message}); scripts/install-deps.sh installs it`); process.exit(1); });
  }

  const t0 = Date.now();
  const end = t0 + durationMs;
  let done = 0;
  let lost = 0;
  let kills = 0;
  const loss = (what) => {
    if (++lost <= 20) console.log(`# lost at ${Math.round((Date.now() - t0) / 1000)} s: ${what}`);
  };
  const client = async (c) => {
    for (let k = c; Date.now() < end; k += clients) {
      const i = k % prompts.length;
      try {
        const r = await h.prompt(tessera, node.port, prompts[i].text, prompts[i].opts);
        if (JSON.stringify(r.tokens) === JSON.stringify(expected[i])) ++done;
        else loss(`client ${c}: prompt ${i} changed: ${r.tokens.join(' ')} (expected ${expected[i].join(' ')})`);
      } catch (e) {
        loss(`client ${c}: prompt ${i} failed: ${e.message.split('\n').slice(0, 3).join(' / ')}`);
      }
    }
  };
  const killer = setInterval(async () => {
    try {
      const s = await h.getJson(node.port, '/api/status');
      const serving = s.workers.filter((w) => w.layers);
      if (!serving.length) return;
      const victim = serving[kills % serving.length];
      const pid = h.workerPid(node.child.pid, victim.name);
      if (!pid) return;
      process.kill(pid, 'SIGKILL');
      ++kills;
    } catch (e) {
      console.log(`# killer: ${e.message}`);
    }
  }, killEveryMs);
  console.log('#   t_s  rss_MB  fds  workers  active  done  lost  kills  false_deaths');
  const sample = () => {
    const p = procStat(node.child.pid);
    return h.getJson(node.port, '/api/status').then((s) => {
      console.log(`# ${String(Math.round((Date.now() - t0) / 1000)).padStart(5)}  ${p.rssMB.toFixed(1).padStart(6)}  ` +
                  `${String(p.fds).padStart(3)}  ${String(s.workers.length).padStart(7)}  ${String(s.requests?.active ?? '?').padStart(6)}  ` +
                  `${String(done).padStart(4)}  ${String(lost).padStart(4)}  ${String(kills).padStart(5)}  ${falseDeaths(node.logFile)}`);
    }).catch((e) => console.log(`# sample: ${e.message}`));
  };
  const sampler = setInterval(sample, sampleMs);
  await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
  clearInterval(killer);
  clearInterval(sampler);
  stress?.kill('SIGTERM');
  stress = null;
  await sample();

  // Back to baseline: every client gone, the killed workers restarted and rejoined.
  const settled = await h.settle(node.port, 'the node to return to its baseline', 120000,
    (s) => s.ready && s.workers.length === 3 && s.requests?.active === 0 && s.actors?.running === baseline &&
           s.workers.every((w) => w.kv_sequences === 0),
    (s) => `actors ${s.actors?.running} (baseline ${baseline}), ${s.workers.length} workers, requests ${JSON.stringify(s.requests)}`)
    .catch((e) => { console.log(`# ${e.message}`); return null; });
  const after = procStat(node.child.pid);
  const restarts = (fs.readFileSync(node.logFile, 'utf8').match(/local worker name=\S+ restarted/g) ?? []).length;
  console.log(`# result: ${done} requests completed identically, ${lost} lost, ${kills} kills, ${restarts} restarts, ` +
              `${falseDeaths(node.logFile)} false deaths; node rss ${start.rssMB.toFixed(1)} -> ${after.rssMB.toFixed(1)} MB, ` +
              `fds ${start.fds} -> ${after.fds}; actors ${settled ? settled.actors.running : 'not settled'} (baseline ${baseline})`);
  const stopped = await h.stopNode(node);
  node = null;
  h.killAll();
  h.removeDir(dir);
  process.exit(lost === 0 && settled && stopped.code === 0 ? 0 : 1);
} catch (e) {
  stress?.kill('SIGTERM');
  await h.fail(e, dir, { nodes: [node] });
}
