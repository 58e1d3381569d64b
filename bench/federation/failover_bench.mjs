// Leader failover of a three-node federation (membership only: no workers,
// so this is the time until the survivors agree on the next leader, not the
// next token). Rounds alternate two faults of the leader a, restarting or
// resuming it after each until all three agree on a again:
//   kill: SIGKILL (the link drops; CAF's down_msg)
//   hang: SIGSTOP (nothing drops; the peers wait out heartbeat_timeout_ms)
// Prints each fault's p50 / max (ms from the signal until b and c both show
// leader b with one epoch; polled every 10 ms) and hang/kill and
// hang/heartbeat_timeout_ms ratios from the one run.
//   node bench/federation/failover_bench.mjs build/tessera [ROUNDS] [HEARTBEAT_MS] [TIMEOUT_MS]
import path from 'node:path';
import * as h from '../../tests/integration/harness.mjs';
import { agreed, makeCluster } from '../../tests/integration/federation_cluster.mjs';

const [tessera, roundsArg = '5', hbArg = '100', timeoutArg = '1000'] = process.argv.slice(2);
const ROUNDS = Number(roundsArg);
const HEARTBEAT_MS = Number(hbArg);
const TIMEOUT_MS = Number(timeoutArg);
h.watchdog(600000, 'failover_bench');
const dir = h.tmpDir('tessera-federation-bench-');
const modelDir = h.buildModel(tessera, 'tiny', path.join(dir, 'model'));
const cluster = await makeCluster(tessera, dir, modelDir, ['a', 'b', 'c'],
                                  { secret: 'federation-bench-shared-secret', heartbeatMs: HEARTBEAT_MS, timeoutMs: TIMEOUT_MS });
cluster.configFor('a', ['b', 'c']);
cluster.configFor('b', ['a', 'c']);
cluster.configFor('c', ['a', 'b']);
const poll = { pollMs: 10 };
const nodes = {};
const p50 = (xs) => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)];
try {
  [nodes.a, nodes.b, nodes.c] = await Promise.all(['a', 'b', 'c'].map((id) => cluster.start(id)));
  await agreed([nodes.a, nodes.b, nodes.c], 'a', 'a,b,c', 'all three linked');
  const times = { kill: [], hang: [] };
  for (let round = 0; round < ROUNDS; ++round) {
    for (const fault of ['kill', 'hang']) {
      const t0 = Date.now();
      process.kill(nodes.a.child.pid, fault === 'kill' ? 'SIGKILL' : 'SIGSTOP');
      await agreed([nodes.b, nodes.c], 'b', 'b,c', `b leads after a's ${fault}`, poll);
      times[fault].push(Date.now() - t0);
      if (fault === 'kill') nodes.a = await cluster.start('a');
      else process.kill(nodes.a.child.pid, 'SIGCONT');
      await agreed([nodes.a, nodes.b, nodes.c], 'a', 'a,b,c', `a back after its ${fault}`);
    }
  }
  const row = (f) => `| ${f} | ${times[f].length} | ${p50(times[f])} | ${Math.max(...times[f])} |`;
  console.log(`heartbeat_ms ${HEARTBEAT_MS}, heartbeat_timeout_ms ${TIMEOUT_MS}, ${ROUNDS} rounds`);
  console.log('| fault of the leader | n | p50 ms | max ms |\n|---|---|---|---|');
  console.log(row('kill'));
  console.log(row('hang'));
  console.log(`hang/kill p50: ${(p50(times.hang) / Math.max(1, p50(times.kill))).toFixed(1)}x; ` +
              `hang p50 / heartbeat_timeout_ms: ${(p50(times.hang) / TIMEOUT_MS).toFixed(2)}`);
  for (const id of ['a', 'b', 'c']) await h.stopNode(nodes[id]);
  h.removeDir(dir);
} catch (e) {
  await h.fail(e, dir, { nodes: Object.values(nodes) });
}
