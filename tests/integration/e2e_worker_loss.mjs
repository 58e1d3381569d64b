// a worker killed (SIGKILL) or hung (SIGSTOP) in the middle
// of generation loses no request. The node re-plans with a replacement worker,
// the requests rebuild their KV from their tokens and finish with exactly the
// tokens of the fault-free (whole-model) run.
//   node e2e_worker_loss.mjs TESSERA_BINARY [PRESET]
import path from 'node:path';
import * as h from './harness.mjs';

const [tessera, preset = 'small'] = process.argv.slice(2);
h.watchdog(600000, 'e2e_worker_loss');
const dir = h.tmpDir('tessera-loss-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const config = h.writeConfig(dir, {
  modelDir, heartbeatMs: 300, heartbeatTimeoutMs: 1500, restart: 'never',  // replacements join from outside
  workers: [{ name: 'big', memory: '160MB' }, { name: 'mid', memory: '120MB' }, { name: 'small', memory: '90MB' }],
});
const MAX = 48;
const prompts = ['The quick brown fox', 'Hello, world', 'Tessera', 'zzz'];

// Runs the prompts concurrently; once 3 tokens have streamed in (generation is
// under way), does `fault()` once. Returns the results in prompt order.
function underFault(node, fault) {
  let tokens = 0;
  return Promise.all(prompts.map((p) => h.promptStream(tessera, node.port, p, { 'max-tokens': MAX }, (m) => {
    if ('token' in m && ++tokens === 3) fault();
  })));
}

let node;
const spares = {};
try {
  const refs = h.reference(modelDir, MAX, prompts);
  node = await h.startNode(tessera, config, dir);
  const check = (results, label) => {
    const all = prompts;
    results.forEach((r, i) => h.check(JSON.stringify(r.tokens) === JSON.stringify(refs[all[i]]),
                                      `${label}: "${all[i]}" equals the fault-free run (${r.tokens.length} tokens, ` +
                                      `rebuilt from tokens ${r.done.timings.replays}, from kept inputs ${r.done.timings.input_replays ?? 0})`));
    return results.reduce((a, r) => a + r.done.timings.replays + (r.done.timings.input_replays ?? 0), 0);
  };

  // 1. SIGKILL the middle worker mid-generation; a replacement joins.
  const midPid = h.workerPid(node.child.pid, 'mid');
  h.check(midPid !== undefined, `found the 'mid' worker (pid ${midPid})`);
  let t0 = 0;
  const killed = await underFault(node, () => {
    t0 = Date.now();
    process.kill(midPid, 'SIGKILL');
    spares.spare = h.startWorker(node.port, 'spare', '160MB', path.join(dir, 'spare-cache')).pid;
  });
  const replays = check(killed, 'after SIGKILL');
  h.check(replays >= 1, `the requests rebuilt their KV (${replays} rebuilds)`);
  const s1 = await h.waitStatus(node.port, 'the re-plan', 60000, (s) => s.ready);
  h.check(s1.workers.some((w) => w.name === 'spare' && w.layers), `the spare worker serves layers ${JSON.stringify(s1.workers.find((w) => w.name === 'spare').layers)}`);
  console.log(`# recovery: ${Date.now() - t0} ms from kill to the end of the runs; plans: ${s1.replans.join(' | ')}`);

  // 2. SIGSTOP the worker of the last stage: the heartbeat timeout drops it; a
  //    replacement joins; SIGCONT afterwards (its late results must be ignored).
  const last = s1.plan.stages[s1.plan.stages.length - 1];
  const lastName = s1.workers.find((w) => String(w.id) === String(last.worker)).name;
  const smallPid = spares[lastName] ?? h.workerPid(node.child.pid, lastName);
  h.check(smallPid !== undefined, `found the last stage's worker '${lastName}' (pid ${smallPid})`);
  const hung = await underFault(node, () => {
    process.kill(smallPid, 'SIGSTOP');
    h.startWorker(node.port, 'spare2', '160MB', path.join(dir, 'spare2-cache'));
  });
  const hungReplays = check(hung, 'after SIGSTOP');
  h.check(hungReplays >= 1, `the hung worker was detected and routed around (${hungReplays} rebuilds)`);
  process.kill(smallPid, 'SIGCONT');
  const again = await h.prompt(tessera, node.port, prompts[1], { 'max-tokens': MAX });
  h.check(JSON.stringify(again.tokens) === JSON.stringify(refs[prompts[1]]), 'the node still serves after the hung worker wakes up');

  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, 'the node stops cleanly');
  node = null;
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_worker_loss');
} catch (e) {
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
