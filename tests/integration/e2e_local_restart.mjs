// Supervised local workers: a [[workers.local]] process the node started is
// killed (SIGKILL) in the middle of a reply. The node starts it again (restart =
// "always", the default), it rejoins with the shards in its cache, the pool
// serves again with all three workers, and the reply in flight completes with
// exactly the tokens of the fault-free (whole-model) run.
//   node e2e_local_restart.mjs TESSERA_BINARY [PRESET]
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';

const [tessera, preset = 'small'] = process.argv.slice(2);
h.watchdog(600000, 'e2e_local_restart');
const dir = h.tmpDir('tessera-restart-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const config = h.writeConfig(dir, {
  modelDir, heartbeatMs: 300, heartbeatTimeoutMs: 1500,
  workers: [{ name: 'big', memory: '160MB' }, { name: 'mid', memory: '120MB' }, { name: 'small', memory: '90MB' }],
});
const MAX = 48;
const prompts = ['The quick brown fox', 'Hello, world'];

let node;
try {
  const refs = h.reference(modelDir, MAX, prompts);
  node = await h.startNode(tessera, config, dir);
  const s0 = await h.waitStatus(node.port, 'the 3 local workers to serve', 60000,
                                (s) => s.ready && s.workers.length === 3 && s.workers.some((w) => w.name === 'big' && w.layers));
  const bigPid = h.workerPid(node.child.pid, 'big');
  h.check(bigPid !== undefined, `found the 'big' worker (pid ${bigPid}, layers ${JSON.stringify(s0.workers.find((w) => w.name === 'big').layers)})`);

  // The shard files in its cache before the kill, with their modification times
  // (a download writes a new file and renames it over the old one).
  const cache = path.join(dir, 'shards', 'worker-cache', 'big');
  const cachedFiles = () => {
    const out = {};
    for (const d of fs.readdirSync(cache))
      if (fs.existsSync(path.join(cache, d, '.complete')))
        for (const f of fs.readdirSync(path.join(cache, d)).filter((n) => !n.startsWith('.'))) out[`${d}/${f}`] = fs.statSync(path.join(cache, d, f)).mtimeMs;
    return out;
  };
  const before = cachedFiles();
  h.check(Object.keys(before).length >= 1, `'big' has a cached shard (${Object.keys(before).join(', ')})`);

  // SIGKILL the worker with the most memory once 3 tokens have streamed in.
  let tokens = 0;
  let killedAt = 0;
  const results = await Promise.all(prompts.map((p) => h.promptStream(tessera, node.port, p, { 'max-tokens': MAX }, (m) => {
    if ('token' in m && ++tokens === 3) {
      killedAt = Date.now();
      process.kill(bigPid, 'SIGKILL');
    }
  })));
  h.check(killedAt > 0, 'the worker was killed mid-reply');
  results.forEach((r, i) => h.check(JSON.stringify(r.tokens) === JSON.stringify(refs[prompts[i]]),
                                    `"${prompts[i]}" equals the fault-free run (${r.tokens.length} tokens, ` +
                                    `${r.done.timings.replays + (r.done.timings.input_replays ?? 0)} KV rebuilds)`));

  // The node restarted it: a new process with the same name, joined and serving.
  const back = await h.waitStatus(node.port, 'the restarted worker to rejoin and the pool to serve', 60000,
                                  (s) => s.ready && s.workers.length === 3 && s.workers.some((w) => w.name === 'big'));
  const newPid = h.workerPid(node.child.pid, 'big');
  h.check(newPid !== undefined && newPid !== bigPid, `'big' runs again as a new process (pid ${bigPid} -> ${newPid})`);
  console.log(`# rejoined ${Date.now() - killedAt} ms after the kill; plans: ${back.replans.join(' | ')}`);
  const log = fs.readFileSync(node.logFile, 'utf8');
  h.check(/local worker name=big restarted pid=\d+/.test(log), 'the node log records the restart');
  const loads = [...log.matchAll(/tessera-worker\[big\] info: loaded shard=(\S+)/g)].map((m) => m[1]);
  h.check(loads.length >= 2 && Object.keys(before).some((f) => f.startsWith(`${loads.at(-1)}/`)),
          `the restarted worker loaded shard ${loads.at(-1)?.slice(0, 12)} from its cache`);
  const after = cachedFiles();
  h.check(Object.entries(before).every(([f, t]) => after[f] === t), 'without downloading it again (its stage files untouched)');
  const again = await h.prompt(tessera, node.port, prompts[0], { 'max-tokens': MAX });
  h.check(JSON.stringify(again.tokens) === JSON.stringify(refs[prompts[0]]), 'the pool serves identically after the rejoin');

  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, 'the node stops cleanly');
  h.check(!h.alive(newPid), 'the restarted worker stopped with the node (no orphan)');
  node = null;
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_local_restart');
} catch (e) {
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
