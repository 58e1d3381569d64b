// Recovery benchmark: one greedy stream through 3 node workers; after
// 32 tokens the last stage's worker is SIGKILLed while an idle worker waits.
// Reports the stream's gap (kill -> next token), split with the node's log into
// detect (socket closed), re-plan + shard load (plan serving again) and KV
// rebuild + the next token; once with kept stage inputs (replay) and once
// without (recompute from the tokens). Shards are not cached on the idle worker.
//   node bench/runtime/bench_recovery.mjs BUILD/tessera [PRESET] [CONTEXT_TOKENS]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as h from '../../tests/integration/harness.mjs';

const [tessera, preset = 'small', prompt_len = '160'] = process.argv.slice(2);
h.watchdog(1200000, 'bench_recovery');
const root = h.tmpDir('tessera-recovery-');
const modelDir = h.buildModel(tessera, preset, path.join(root, 'model'));
const PROMPT = 'x'.repeat(Number(prompt_len));

function msOfDay(line) {
  const m = /^(\d\d):(\d\d):(\d\d)\.(\d\d\d)/.exec(line);
  return m ? ((+m[1] * 60 + +m[2]) * 60 + +m[3]) * 1000 + +m[4] : undefined;
}
const nowOfDay = () => { const d = new Date(); return ((d.getUTCHours() * 60 + d.getUTCMinutes()) * 60 + d.getUTCSeconds()) * 1000 + d.getUTCMilliseconds(); };

async function once(label, keptInputs, runs = 3) {
  const out = [];
  for (let run = 0; run < runs; ++run) {
    const dir = path.join(root, `${label}-${run}`);
    fs.mkdirSync(dir);
    const config = h.writeConfig(dir, {
      modelDir, keptInputs, heartbeatMs: 300, heartbeatTimeoutMs: 1500, context: 256,
      // Four equal workers: the plan needs three, the fourth idles and can take
      // any stage in place when its worker dies.
      workers: ['w1', 'w2', 'w3', 'w4'].map((name) => ({ name, memory: '140MB' })),
    });
    const node = await h.startNode(tessera, config, dir);
    const s = await h.getJson(node.port, '/api/status');
    const last = s.plan.stages[s.plan.stages.length - 1];
    const victim = s.workers.find((w) => String(w.id) === String(last.worker)).name;
    const pid = h.workerPid(node.child.pid, victim);
    let n = 0;
    let killAt = 0;
    let gap = 0;
    let killDay = 0;
    let prev = 0;
    const r = await h.promptStream(tessera, node.port, PROMPT, { 'max-tokens': 48 }, (m) => {
      if (!('token' in m)) return;
      const t = performance.now();
      if (++n === 32) {
        killAt = performance.now();
        killDay = nowOfDay();
        process.kill(pid, 'SIGKILL');
      } else if (n === 33) gap = t - killAt;
      prev = t;
    });
    const log = fs.readFileSync(node.logFile, 'utf8').split('\n');
    const after = (re) => log.map((l) => [msOfDay(l), l]).find(([t, l]) => t >= killDay && re.test(l))?.[0];
    const detect = after(/socket closed/) - killDay;
    const serving = after(/serving \(/) - killDay;
    out.push({ gap, detect, replan_load: serving - detect, rebuild: gap - serving,
               replays: r.done.timings.replays, input_replays: r.done.timings.input_replays });
    await h.stopNode(node);
    h.removeDir(path.join(dir, 'shards'));
  }
  const med = (k) => out.map((o) => o[k]).sort((a, b) => a - b)[Math.floor(out.length / 2)];
  return { label, gap: med('gap'), detect: med('detect'), replan_load: med('replan_load'), rebuild: med('rebuild'),
           replays: out.map((o) => o.replays).join('/'), input_replays: out.map((o) => o.input_replays).join('/') };
}

const replay = await once('replay', '64MB');
const recompute = await once('recompute', '1');
console.log(`# ${os.cpus().length} CPUs, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}; ` +
            `${preset}, prompt ${prompt_len} tokens + 32 generated before the kill; medians of 3 runs`);
console.log('| KV rebuild | kill → next token ms | detect ms | re-plan + load ms | rebuild + next token ms | rebuilds (tokens / inputs) |');
console.log('|---|---|---|---|---|---|');
for (const r of [replay, recompute])
  console.log(`| ${r.label} | ${r.gap.toFixed(0)} | ${r.detect} | ${r.replan_load} | ${r.rebuild.toFixed(0)} | ${r.replays} / ${r.input_replays} |`);
console.log(`recompute / replay (rebuild + next token): ${(recompute.rebuild / replay.rebuild).toFixed(2)}`);
h.removeDir(root);
process.exit(0);
