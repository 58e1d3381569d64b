// Helpers of the one-pool tests (e2e_federation_pool*.mjs): the pool as
// /api/status shows it, a bounded wait for every node to show the same ready
// cross-node plan, prompts under a fault, and a client that reports the
// reason it is queued with. `nodes[id]` is {port, host} of a running node
// (null once it is gone).
import { spawn } from 'node:child_process';
import * as h from './harness.mjs';

export const pool = (s) => s.federation && s.federation.pool;
export const stageNodes = (s) => (pool(s) ? pool(s).stages.map((st) => st.node) : []);
export const planText = (s) => pool(s).stages.map((st) => `${st.node}/${st.worker} [${st.layers}]`).join(' -> ');
const describe = (s) => (pool(s) ? `${s.federation.id}: leader ${pool(s).leader} epoch ${pool(s).epoch} ready ${s.ready} ` +
  `workers ${JSON.stringify(pool(s).workers)} stages ${JSON.stringify(pool(s).stages)} reason ${s.reason}`
  : `${s.federation?.id}: no pool (${s.reason})`);

// Resolves with the statuses once every node in `which` shows the same ready
// plan led by `leader` over `workers` workers, on at least two nodes, none of
// them in `gone` (bounded).
export async function poolSettled(nodes, which, leader, workers, gone, what, ms = 240000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const all = await Promise.all(which.map((id) => h.getJson(nodes[id].port, '/api/status', nodes[id].host)
      .catch(() => undefined)));
    const ok = all.every((s) => s && s.ready && pool(s) && pool(s).leader === leader &&
      Object.values(pool(s).workers).flat().length === workers && new Set(stageNodes(s)).size >= 2 &&
      stageNodes(s).every((n) => !gone.includes(n)) &&
      JSON.stringify(pool(s).stages) === JSON.stringify(pool(all[0]).stages));
    if (ok) return all;
    if (Date.now() > deadline)
      throw new Error(`${what}: not reached (${all.map((s) => (s ? describe(s) : 'no status')).join('; ')})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Runs every prompt at each node of `at` at once; once 3 tokens have
// streamed in, calls fault() once. Checks every run against `refs` (the
// fault-free tokens) and returns how long after the fault the last run ended.
export async function underFault(tessera, nodes, at, prompts, maxTokens, refs, label, fault) {
  let streamed = 0;
  let faultAt = 0;
  const runs = await Promise.all(at.flatMap((id) => prompts.map((p) =>
    h.promptStream(tessera, nodes[id].port, p, { 'max-tokens': maxTokens }, (m) => {
      if ('token' in m && ++streamed === 3) {
        faultAt = Date.now();
        fault();
      }
    }, nodes[id].host).then((r) => ({ id, p, r })))));
  h.check(faultAt > 0, `${label} while requests were generating`);
  for (const { id, p, r } of runs)
    h.check(JSON.stringify(r.tokens) === JSON.stringify(refs[p]),
            `after ${label}: "${p}" at node ${id} equals the fault-free run (rebuilt ${r.done.timings.replays})`);
  return Date.now() - faultAt;
}

// Runs `command args` (a `tessera prompt --json` client) and resolves with
// the reason of the first "queued" status it is told, then stops it; fails
// if a token comes instead or nothing within 30 s.
export function queuedReason(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    const end = (f) => { clearTimeout(timer); child.kill('SIGKILL'); f(); };
    const timer = setTimeout(() => end(() => reject(new Error('no queued status within 30 s'))), 30000);
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      for (let nl; (nl = buf.indexOf('\n')) >= 0; buf = buf.slice(nl + 1)) {
        const m = JSON.parse(buf.slice(0, nl));
        if (m.status === 'queued') end(() => resolve(m.reason));
        else if ('token' in m) end(() => reject(new Error(`served a token without a leader: ${JSON.stringify(m)}`)));
      }
    });
  });
}
