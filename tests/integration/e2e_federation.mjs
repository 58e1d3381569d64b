// Federation membership across real `tessera node` processes on 127.0.0.1
// (no workers: this is the link, membership and leader election, not serving).
//  1. Nodes a, b, c with one shared secret link up; every node's /api/status
//     shows all three alive, leader a, one epoch.
//  2. A node d with the wrong secret dialing a is refused: a's log names d's id
//     and address; neither side counts the other alive, and d (one of its two
//     configured nodes) has no leader.
//  3. The follower c hangs (SIGSTOP): a and b take it for dead after
//     heartbeat_timeout_ms and a still leads; on SIGCONT it links again.
//  4. The leader a is SIGKILLed: b and c elect b at a higher epoch.
//  5. a restarts from its state dir: it rejoins, leads at a still higher epoch,
//     and its stored epoch file says so.
//  6. b and c are SIGKILLed: a, alone of three, has no leader. a stops with
//     SIGTERM, exit 0.
//   node e2e_federation.mjs TESSERA_BINARY [PRESET]
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';
import { agreed, aliveIds, fed, makeCluster } from './federation_cluster.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
h.watchdog(300000, 'e2e_federation');
const dir = h.tmpDir('tessera-federation-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const TIMEOUT_MS = 1000;
const cluster = await makeCluster(tessera, dir, modelDir, ['a', 'b', 'c', 'd'],
                                  { secret: 'federation-test-shared-secret', heartbeatMs: 100, timeoutMs: TIMEOUT_MS });
const { addr } = cluster;
cluster.configFor('a', ['b', 'c']);
cluster.configFor('b', ['a', 'c']);
cluster.configFor('c', ['a', 'b']);
cluster.configFor('d', ['a'], 'not-the-shared-secret-at-all');
const cfg = cluster.configs;
const start = (id) => cluster.start(id);
const nodes = {};
try {
  // 1.
  [nodes.a, nodes.b, nodes.c] = await Promise.all(['a', 'b', 'c'].map((id) => start(id)));
  let all = await agreed([nodes.a, nodes.b, nodes.c], 'a', 'a,b,c', 'a, b, c linked');
  const epoch1 = fed(all[0]).epoch;
  h.check(true, `a, b and c each show three alive, leader a, epoch ${epoch1}`);
  const bView = fed(all[1]);
  h.check(bView.nodes.find((n) => n.id === 'a').address === addr('a') && bView.nodes.find((n) => n.id === 'a').leader,
          `b's status lists a at ${addr('a')} as leader`);

  // 2.
  nodes.d = await start('d');
  const refused = `refused peer id=d address=${addr('d')}: wrong proof of the shared secret`;
  const aLog = path.join(cfg.a.nodeDir, 'node.log');
  await new Promise((resolve, reject) => {
    const deadline = Date.now() + 20000;
    const poll = () => {
      if (fs.readFileSync(aLog, 'utf8').includes(refused)) return resolve();
      if (Date.now() > deadline) return reject(new Error(`a's log never said "${refused}"`));
      setTimeout(poll, 50);
    };
    poll();
  });
  h.check(true, `a refused d: "${refused}"`);
  const dStatus = await h.getJson(nodes.d.port, '/api/status');
  h.check(aliveIds(dStatus) === 'd' && fed(dStatus).leader === null,
          `d counts only itself alive (${aliveIds(dStatus)}) and, one of two, has no leader`);
  const aStatus = await h.getJson(nodes.a.port, '/api/status');
  h.check(!fed(aStatus).nodes.some((n) => n.id === 'd'), 'a lists no node d');
  await h.stopNode(nodes.d);

  // 3.
  process.kill(nodes.c.child.pid, 'SIGSTOP');
  const stoppedAt = Date.now();
  await agreed([nodes.a, nodes.b], 'a', 'a,b', 'a and b take the hung c for dead');
  console.log(`a and b took the hung c for dead ${Date.now() - stoppedAt} ms after its SIGSTOP (heartbeat_timeout_ms ${TIMEOUT_MS})`);
  process.kill(nodes.c.child.pid, 'SIGCONT');
  all = await agreed([nodes.a, nodes.b, nodes.c], 'a', 'a,b,c', 'c back after SIGCONT');
  h.check(true, `c links again and follows a at epoch ${fed(all[2]).epoch}`);
  const epoch1b = fed(all[0]).epoch;

  // 4.
  const killedAt = Date.now();
  nodes.a.child.kill('SIGKILL');
  all = await agreed([nodes.b, nodes.c], 'b', 'b,c', 'b leads after a is killed');
  const epoch2 = fed(all[0]).epoch;
  h.check(epoch2 > epoch1b, `b leads at epoch ${epoch2} > ${epoch1b}, ${Date.now() - killedAt} ms after a's SIGKILL`);

  // 5.
  nodes.a = await start('a');
  all = await agreed([nodes.a, nodes.b, nodes.c], 'a', 'a,b,c', 'a back and leading');
  const epoch3 = fed(all[0]).epoch;
  h.check(epoch3 > epoch2, `a rejoined and leads at epoch ${epoch3} > ${epoch2}`);
  const stored = Number(fs.readFileSync(path.join(cfg.a.nodeDir, 'state', 'epoch'), 'utf8').trim());
  h.check(stored === epoch3, `a's state dir holds epoch ${stored}`);

  // 6.
  nodes.b.child.kill('SIGKILL');
  nodes.c.child.kill('SIGKILL');
  const alone = await h.settle(nodes.a.port, 'a alone', 30000, (s) => fed(s) && aliveIds(s) === 'a',
                               (s) => JSON.stringify(fed(s)));
  h.check(fed(alone).leader === null, `a alone of three has no leader (${JSON.stringify(fed(alone).leader)})`);

  const r = await h.stopNode(nodes.a);
  h.check(r.code === 0, `node a exits 0 on SIGTERM (${JSON.stringify(r)})`);
  h.removeDir(dir);
  console.log('PASS e2e_federation');
} catch (e) {
  await h.fail(e, dir, { nodes: Object.values(nodes) });
}
