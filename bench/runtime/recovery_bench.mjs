// Recovery time: how long a SIGKILLed worker costs a stream, from the
// kill to the next token the client receives, split with the node's log into
//   detect   kill -> "worker=N ... socket closed"
//   re-plan  socket closed -> "plan vN (...)" (a lost serving stage re-plans
//            at once; the 300 ms settle window only applies to other
//            changes; cutting shards, which are already in shard_dir)
//   load     plan line -> "plan vN serving" (Assign, download unless cached,
//            ORT session creation on the worker that takes the lost range; its
//            own download_ms / load_ms from its Loaded are reported too)
//   resume   "serving" -> next token at the client: the request hears of the
//            new route (plan_changed, pushed) + KV rebuild + the next token. For input
//            replay the node logs the rebuild's start, so resume is split into
//            pickup (serving -> "rebuilds stages") and rebuild + next token.
// Four configurations: shards cached on the idle workers (hard links of the
// victim's cached shard, put there before the kill) or not, and KV rebuilt by
// replaying kept stage inputs (kept_inputs = 64MB) or recomputed from the tokens
// (kept_inputs = 1 byte: the input store switches itself off). Each
// configuration is one node with SERVING + KILLS + 2 equal local workers: the
// plan uses SERVING of them, the others idle; each kill takes a fresh request
// (prompt PROMPT_TOKENS tokens, killed after 32 generated tokens, the last
// stage's worker), and the planner hands the lost range to an idle worker in
// place. A fifth configuration SIGSTOPs the worker instead (cached, replay):
// detection then waits for the heartbeat timeout (1500 ms in this config).
// The stream's cost is measured from the kill to the first token after the
// request's {status: "running"} (a kill that lands after the request's last
// step is not a sample and is repeated). Prints p50 (and min-max) over the kills.
//   node bench/runtime/recovery_bench.mjs BUILD/tessera [PRESET=small] [KILLS=5] [PROMPT_TOKENS=160] [MEMORY=140MB]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as h from '../../tests/integration/harness.mjs';

const [tessera, preset = 'small', killsArg = '5', promptArg = '160', memory = '140MB'] = process.argv.slice(2);
if (!tessera) {
  console.error('usage: node bench/runtime/recovery_bench.mjs TESSERA [PRESET] [KILLS] [PROMPT_TOKENS] [MEMORY]');
  process.exit(2);
}
const KILLS = Number(killsArg);
const SERVING = 3;
const KILL_AT = 32;
h.watchdog(1800000, 'recovery_bench');
const root = h.tmpDir('tessera-recbench-');
const modelDir = h.buildModel(tessera, preset, path.join(root, 'model'));
// 'x' repeated: one byte-level token per character, after BOS.
const PROMPT = 'x'.repeat(Number(promptArg));

function msOfDay(line) {
  const m = /^(\d\d):(\d\d):(\d\d)\.(\d\d\d)/.exec(line);
  return m ? ((+m[1] * 60 + +m[2]) * 60 + +m[3]) * 1000 + +m[4] : undefined;
}
// The node logs local wall-clock time of day; compare in the same clock.
function nowOfDay() {
  const d = new Date();
  return ((d.getHours() * 60 + d.getMinutes()) * 60 + d.getSeconds()) * 1000 + d.getMilliseconds();
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

// Hard-links (or copies) a cached shard directory into another worker's cache.
function seedShard(fromCache, toCache, shardId) {
  const src = path.join(fromCache, shardId);
  const dst = path.join(toCache, shardId);
  if (!fs.existsSync(src) || fs.existsSync(dst)) return fs.existsSync(dst);
  fs.mkdirSync(dst, { recursive: true });
  for (const f of fs.readdirSync(src)) {
    try { fs.linkSync(path.join(src, f), path.join(dst, f)); } catch { fs.copyFileSync(path.join(src, f), path.join(dst, f)); }
  }
  return true;
}

async function configuration(label, { cached, keptInputs, signal = 'SIGKILL' }) {
  const dir = path.join(root, label);
  fs.mkdirSync(dir);
  const names = Array.from({ length: SERVING + KILLS + 2 }, (_, i) => `w${i + 1}`);  // 2 for missed kills
  const config = h.writeConfig(dir, { modelDir, keptInputs, heartbeatMs: 300, heartbeatTimeoutMs: 1500, context: 256,
                                      workers: names.map((name) => ({ name, memory })) });
  const node = await h.startNode(tessera, config, dir, { readyMs: 300000 });
  const cacheOf = (name) => path.join(dir, 'shards', 'worker-cache', name);
  const rows = [];
  let misses = 0;
  try {
    for (let k = 0; k < KILLS; ++k) {
      const s = await h.waitStatus(node.port, 'a serving plan', 120000, (x) => x.ready);
      if (s.plan.stages.length !== SERVING) throw new Error(`${label}: expected ${SERVING} stages, plan is ${s.replans.at(-1)}`);
      const last = s.plan.stages.at(-1);
      const victim = s.workers.find((w) => String(w.id) === String(last.worker));
      const idle = s.workers.filter((w) => !w.layers);
      if (!idle.length) throw new Error(`${label}: no idle worker left`);
      if (cached)
        for (const w of idle)
          if (!seedShard(cacheOf(victim.name), cacheOf(w.name), victim.shard))
            throw new Error(`${label}: could not seed shard ${victim.shard} from ${victim.name} to ${w.name}`);
      const pid = h.workerPid(node.child.pid, victim.name);
      if (!pid) throw new Error(`${label}: no process for worker ${victim.name}`);
      // The stream's cost: from the kill to the first token after the request
      // resumes ({status: "running"} follows the {status: "queued"} it sends
      // while the route is rebuilt). Tokens produced before the kill but read
      // after it do not count as recovered.
      let n = 0;
      let killAt = 0;
      let killDay = 0;
      let gap = 0;
      let nextDay = 0;
      let resumed = false;
      const r = await h.promptStream(tessera, node.port, PROMPT, { 'max-tokens': KILL_AT + 12 }, (m) => {
        if (m.status === 'running' && killAt) resumed = true;
        if (!('token' in m)) return;
        if (++n === KILL_AT) {
          killDay = nowOfDay();
          killAt = performance.now();
          process.kill(pid, signal);
        } else if (resumed && !gap) {
          gap = performance.now() - killAt;
          nextDay = nowOfDay();
        }
      });
      if (signal !== 'SIGKILL') process.kill(pid, 'SIGKILL');  // a stopped worker: end it now
      if (!gap || r.done.timings.replays + (r.done.timings.input_replays ?? 0) === 0) {
        // The request outran the kill (all its tokens were made before it): not a sample.
        console.log(`# ${label}: kill ${k + 1} landed after the request's last step; again`);
        k -= 1;
        if (++misses > KILLS) throw new Error(`${label}: ${misses} kills missed the stream`);
        continue;
      }
      const log = fs.readFileSync(node.logFile, 'utf8').split('\n').map((l) => [msOfDay(l), l]).filter(([t]) => t !== undefined);
      const first = (from, re) => log.find(([t, l]) => t >= from && re.test(l));
      const closed = first(killDay, new RegExp(`worker=${victim.id} name=${victim.name} (socket closed|disconnect)`));
      const plan = closed && first(closed[0], /info plan v\d+ \(/);
      // The worker that now holds the lost range (every stage gets an Assign; the
      // unchanged ones answer Loaded at once).
      const sub = plan && new RegExp(`worker (\\d+) \\[${last.layers[0]},${last.layers[1]}\\)`).exec(plan[1]);
      const loaded = sub && first(plan[0], new RegExp(`worker=${sub[1]} loaded shard=`));
      const serving = loaded && first(plan[0], /plan v\d+ serving/);
      const rebuild = serving && first(serving[0], /request=\d+ rebuilds stages/);
      if (!serving || sub[1] === String(victim.id))
        throw new Error(`${label}: the node log lacks the recovery lines after the kill (see ${node.logFile})`);
      const dl = /download_ms=(\d+) load_ms=(\d+)/.exec(loaded[1]);
      const row = {
        gap, detect: closed[0] - killDay, replan: plan[0] - closed[0], load: serving[0] - plan[0],
        download_ms: Number(dl[1]), session_ms: Number(dl[2]), resume: nextDay - serving[0],
        pickup: rebuild ? rebuild[0] - serving[0] : NaN, rebuild_next: rebuild ? nextDay - rebuild[0] : NaN,
        replays: r.done.timings.replays, input_replays: r.done.timings.input_replays ?? 0,
        tokens: r.tokens.length,
      };
      rows.push(row);
      console.log(`# ${label} kill ${k + 1}: ${JSON.stringify(row, (key, v) => (typeof v === 'number' ? Math.round(v) : v))}`);
    }
  } finally {
    await h.stopNode(node).catch(() => {});
  }
  h.removeDir(dir);
  const p50 = (key) => median(rows.map((x) => x[key]).filter((v) => !Number.isNaN(v)));
  const range = (key) => { const v = rows.map((x) => x[key]); return `${Math.round(Math.min(...v))}–${Math.round(Math.max(...v))}`; };
  return { label, cached, keptInputs, signal, rows, p50, range };
}

const configs = [];
for (const cached of [true, false])
  for (const [kv, keptInputs] of [['replay', '64MB'], ['recompute', '1']])
    configs.push(await configuration(`${cached ? 'cached' : 'uncached'}-${kv}`, { cached, keptInputs }));
// A hung worker (SIGSTOP): detected by the heartbeat timeout (1500 ms here).
configs.push(await configuration('hung-cached-replay', { cached: true, keptInputs: '64MB', signal: 'SIGSTOP' }));

console.log(`\n# ${os.cpus().length} CPUs (${os.cpus()[0].model}), load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; ` +
            `${preset}, ${SERVING} of ${SERVING + KILLS + 2} equal ${memory} node workers serve; prompt ${promptArg} tokens, ` +
            `the last stage's worker SIGKILLed after ${KILL_AT} generated tokens; p50 over ${KILLS} kills each (min–max)`);
console.log('| shards | KV rebuild | kill → next token ms | detect | re-plan | load (download / session) | resume: pickup + rebuild + next token | rebuilds (tokens / inputs) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const c of configs) {
  const f = (k) => Math.round(c.p50(k));
  const resume = Number.isNaN(c.p50('pickup')) || c.rows.some((x) => Number.isNaN(x.pickup))
    ? `${f('resume')}` : `${f('resume')} (${f('pickup')} + ${f('rebuild_next')})`;
  console.log(`| ${c.cached ? 'cached' : 'not cached'}${c.signal === 'SIGSTOP' ? ', worker hung (SIGSTOP)' : ''} | ${c.keptInputs === '1' ? 'recompute from tokens' : 'replay kept inputs'} | ` +
              `**${f('gap')}** (${c.range('gap')}) | ${f('detect')} | ${f('replan')} | ${f('load')} (${f('download_ms')} / ${f('session_ms')}) | ` +
              `${resume} | ${c.rows.map((x) => x.replays).join('/')} / ${c.rows.map((x) => x.input_replays).join('/')} |`);
}
const by = (label) => configs.find((c) => c.label === label);
for (const shards of ['cached', 'uncached']) {
  const rep = by(`${shards}-replay`);
  const rec = by(`${shards}-recompute`);
  console.log(`${shards}: recompute / replay, resume (rebuild + next token incl. route pickup): ` +
              `${(rec.p50('resume') / rep.p50('resume')).toFixed(2)}; kill → next token: ${(rec.p50('gap') / rep.p50('gap')).toFixed(2)}`);
}
console.log(`replay: uncached / cached, kill → next token: ${(by('uncached-replay').p50('gap') / by('cached-replay').p50('gap')).toFixed(2)}`);
const target = by('cached-replay').p50('gap');
console.log(`target: cached shards, p50 kill → next token < 1000 ms: ${Math.round(target)} ms -> ${target < 1000 ? 'met' : 'NOT met'}`);
h.removeDir(root);
process.exit(0);
