// Federated `tessera node` processes on 127.0.0.1 for tests and benchmarks:
// federation ports, configs with a [federation] table (no workers), and a
// wait for every node to agree on leader, epoch and who is alive.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import * as h from './harness.mjs';

// A port nothing listens on now, below Linux's ephemeral range (32768 and up), so
// no outgoing connection takes it while its node is down (between kill and restart).
let nextPort = process.pid * 97;
function tryListen(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.on('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
export async function freePort() {
  for (let attempt = 0; attempt < 1000; ++attempt) {
    const port = 20000 + ((nextPort++ * 7919) % 12000);
    if (await tryListen(port)) return port;
  }
  throw new Error('no free port in [20000, 32000)');
}

export const fed = (s) => s.federation;
export const aliveIds = (s) => fed(s).nodes.filter((n) => n.alive).map((n) => n.id).sort().join(',');

// Nodes `ids` under `dir`, each with its own federation port, config (`configFor(id, peers, secret)`)
// and directory (node.log, state/); `start(id)` (re)starts one without waiting for workers.
// `workers`: each node's local workers (h.writeConfig's form, or a function of the node id; none by
// default); `pool`: [federation] pool = true; `runtime`: [runtime] keys (h.writeConfig).
export async function makeCluster(tessera, dir, modelDir, ids, { secret, heartbeatMs, timeoutMs, workers = [],
                                                                 pool = false, runtime = {} }) {
  const port = {};
  for (const id of ids) port[id] = await freePort();
  const addr = (id) => `127.0.0.1:${port[id]}`;
  const configs = {};
  const configFor = (id, peers, nodeSecret = secret) => {
    const nodeDir = path.join(dir, id);
    fs.mkdirSync(nodeDir, { recursive: true });
    const file = h.writeConfig(nodeDir, { modelDir, workers: typeof workers === 'function' ? workers(id) : workers,
                                          runtime, restart: 'never' });
    fs.appendFileSync(file, ['[federation]', `id = "${id}"`, `listen = "${addr(id)}"`,
      `peers = [${peers.map((p) => `"${addr(p)}"`).join(', ')}]`, `secret = "${nodeSecret}"`,
      `heartbeat_ms = ${heartbeatMs}`, `heartbeat_timeout_ms = ${timeoutMs}`,
      `state_dir = "${path.join(nodeDir, 'state')}"`, ...(pool ? ['pool = true'] : [])].join('\n') + '\n');
    configs[id] = { file, nodeDir };
    return configs[id];
  };
  const start = (id) => {
    fs.rmSync(path.join(configs[id].nodeDir, 'node.port'), { force: true });  // an earlier run's port
    return h.startNode(tessera, configs[id].file, configs[id].nodeDir, { waitReady: false });
  };
  return { addr, configFor, configs, start };
}

// Resolves with the statuses once every node in `nodes` shows leader `leader`
// (null: none), the same epoch, and exactly the ids `alive` ("a,b") alive.
export async function agreed(nodes, leader, alive, what, { ms = 30000, pollMs = 50 } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const all = await Promise.all(nodes.map((n) => h.getJson(n.port, '/api/status').catch(() => undefined)));
    const ok = all.every((s) => s && fed(s) && fed(s).leader === leader && aliveIds(s) === alive &&
                                fed(s).epoch === fed(all[0]).epoch);
    if (ok) return all;
    if (Date.now() > deadline)
      throw new Error(`${what}: not reached (${all.map((s) => s && fed(s) ? `${fed(s).id}: leader ${fed(s).leader} epoch ${fed(s).epoch} alive ${aliveIds(s)}` : 'no status').join('; ')})`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
