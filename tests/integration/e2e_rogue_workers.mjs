// Every rogue worker kind (webworker/node/rogue.mjs) is caught, and the
// client's tokens equal the whole model's. For each kind, a fresh node on
// 127.0.0.1 and three external workers of 36 MB (the `tiny` model needs two):
// honest H1, the rogue R, then honest H2 (and H3 where the rogue's stage needs
// it).
// Most kinds lie from their first Forward on, and the first Forward a worker
// gets is its load probe ([verify] load_probe): R must be evicted with a
// reason naming the probe before any client step exists — then H2 joins, the
// plan is H1 + H2, and the reply equals the whole model without a recovery.
// `scaled-at-load` runs R's probe first (its answer is kept unconfirmed, R
// serves) and H2 standing by for R's stage then disagrees with it: R, the
// earlier holder, is the one evicted.
// The kinds only a spot check can catch (random, scaled, pwned) run when the
// first KIND is `spot`, with the load probe off (that layer is tested alone):
// R claims a speed that puts it where its lie shows (the first stage for
// tensor lies, the last for token lies), H2 stands by for R's stage, R's first
// steps are re-run there and the mismatch evicts R before its token reaches
// the client. Claim kinds are refused at Hello.
//   node e2e_rogue_workers.mjs TESSERA_BINARY [PRESET] [spot | KIND...]
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import * as h from './harness.mjs';

const [tessera, preset = 'tiny', ...only] = process.argv.slice(2);
h.watchdog(600000, 'e2e_rogue_workers');
const dir = h.tmpDir('tessera-rogue-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const MEM = '36000000';
const MAX = 24;
const PROMPT = 'The quick brown fox';
const HONEST_FLOPS = '1e10';
const SLOW = '1e8';
const FAST = '1e11';

// kind -> where the rogue must sit for its lie to show ('first', 'last'; null: refused at Hello, or anywhere).
// `atLoad`: caught by its load probe before the plan serves.
const PROBE = 'load probe of layers \\d+-\\d+';
const atProbe = (what) => new RegExp(`${PROBE}.*${what}`);
const KINDS = {
  'claims-huge': { refused: /above verify\.max_worker_flops/ },
  'claims-inf': { refused: /not a finite/ },
  nan: { flops: SLOW, atLoad: true, reason: atProbe('NaN') },
  zeros: { flops: SLOW, atLoad: true, reason: atProbe('constant') },
  shape: { flops: SLOW, atLoad: true, reason: atProbe('has shape') },
  bloat: { flops: SLOW, atLoad: true, reason: atProbe('carries 33554432 bytes') },
  'out-of-vocab': { flops: FAST, atLoad: true, reason: atProbe('outside the vocabulary') },
  'fake-load': { flops: SLOW, atLoad: true, reason: atProbe('Loaded but answers its step with "no stage loaded"') },
  silent: { flops: SLOW, atLoad: true, reason: atProbe('unanswered after') },
  slow: { flops: SLOW, atLoad: true, reason: atProbe('unanswered after') },
  // R's probe is the first answer for its shard (kept unconfirmed; R serves the
  // first stage); H2's probe of the same shard disagrees and convicts R.
  'scaled-at-load': { rogue: 'scaled', flops: SLOW, stage: 'first', byStandby: true,
                      reason: atProbe("its answer differs from a second holder's, worker \\d+ \\(h2-") },
  // Plausible lies only a second holder of the stage shows (spot checks: a new
  // worker's first steps are re-run on a standby). `standbys`: idle workers
  // started beside H2 so that the rogue's stage has one (they stand by for
  // stages in pipeline order).
  random: { flops: SLOW, stage: 'first', reason: /spot check .*hidden state differs/, spot: true },
  scaled: { flops: SLOW, stage: 'first', reason: /spot check .*hidden state differs/, spot: true },
  // H1 serves the first stage at HONEST_FLOPS: standbys as fast leave the plan as it is.
  pwned: { flops: FAST, stage: 'last', reason: /spot check .*token ids/, spot: true, standbys: 2, standbyFlops: HONEST_FLOPS },
};
// `spot` runs the spot-check kinds (a test of their own under ctest), else the others.
const spotOnly = only[0] === 'spot';
const kinds = only.length && !spotOnly ? only : Object.keys(KINDS).filter((k) => !KINDS[k].spot === !spotOnly);

function startWorker(port, name, flops, rogue) {
  const args = [path.join(h.repoRoot, 'webworker', 'node', 'worker.mjs'), '--url', `ws://127.0.0.1:${port}/ws/worker`,
                '--memory', MEM, '--threads', '1', '--name', name, '--cache', path.join(dir, `cache-${name}`), '--flops', flops];
  if (rogue) args.push('--rogue', rogue);
  const log = fs.openSync(path.join(dir, `${name}.log`), 'w');
  const child = spawn(process.execPath, args, { stdio: ['ignore', log, log], detached: true,
                                                env: { ...process.env, TESSERA_TESTING: rogue ? '1' : '' } });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, name };
}

const stopWorker = (w) => { try { process.kill(-w.child.pid, 'SIGKILL'); } catch {} };

// Each kind gets its own directory (config, port file, log, shards).
function configFor(kindDir, probe) {
  fs.mkdirSync(kindDir, { recursive: true });
  // Heartbeats every 250 ms, silence bound 3 s (a rogue busy encoding 32 MiB
  // must be caught for its Result, not for its silence); steps due in 1.5 s.
  const file = h.writeConfig(kindDir, { modelDir, workers: [], heartbeatMs: 500, heartbeatTimeoutMs: 3000 });
  fs.appendFileSync(file, `[verify]\nstep_deadline_ms = 1500\nstep_deadline_per_position_ms = 20\nload_probe = ${probe}\n`);
  return file;
}

const stageOf = (status, name) => {
  const w = status.workers.find((x) => x.name === name);
  if (!w || !w.layers) return null;
  return w.layers[0] === 0 ? 'first' : w.layers[1] === status.model.num_layers ? 'last' : 'middle';
};

const stageLayers = (status, name) => status.workers.find((x) => x.name === name).layers;

// The node log's line evicting `name` (polled: bounded, no fixed sleep).
async function evictionLine(logFile, name, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const line = fs.readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes(`(${name}) evicted:`));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`${name} was not evicted within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let node;
const started = [];
const results = [];
try {
  const refs = h.reference(modelDir, MAX, [PROMPT]);
  for (const kind of kinds) {
    const spec = KINDS[kind];
    const rogueName = `rogue-${kind}`;
    const kindDir = path.join(dir, kind);
    node = await h.startNode(tessera, configFor(kindDir, !spec.spot), kindDir, { waitReady: false });
    const h1 = startWorker(node.port, `h1-${kind}`, HONEST_FLOPS);
    started.push(h1);
    await h.waitStatus(node.port, 'H1 to join', 30000, (s) => s.workers.some((w) => w.name === h1.name));
    const rogue = startWorker(node.port, rogueName, spec.flops ?? HONEST_FLOPS, spec.rogue ?? kind);
    started.push(rogue);
    let t0;
    if (spec.refused) {
      const code = await Promise.race([rogue.exited, new Promise((r) => setTimeout(() => r('running'), 20000))]);
      h.check(code === 1, `${kind}: the rogue is refused at Hello and exits (exit ${code})`);
      const h2 = startWorker(node.port, `h2-${kind}`, SLOW);
      started.push(h2);
      await h.waitStatus(node.port, 'a plan without the rogue', 60000, (s) => s.ready);
      t0 = Date.now();
    } else if (spec.atLoad) {
      // Caught at its probe: the plan with R never serves, no client step exists yet.
      await evictionLine(node.logFile, rogueName, 60000);
      const h2 = startWorker(node.port, `h2-${kind}`, HONEST_FLOPS);
      started.push(h2);
      await h.waitStatus(node.port, 'a plan of H1 and H2', 60000, (s) => s.ready && s.workers.some((w) => w.name === h2.name && w.layers));
      t0 = Date.now();
    } else {
      const ready = await h.waitStatus(node.port, 'a plan with the rogue', 60000,
                                       (s) => s.ready && stageOf(s, rogueName) !== null);
      if (spec.stage)
        h.check(stageOf(ready, rogueName) === spec.stage, `${kind}: the rogue serves the ${spec.stage} stage`);
      const standbyFlops = spec.standbyFlops ?? spec.flops ?? HONEST_FLOPS;
      const h2 = startWorker(node.port, `h2-${kind}`, standbyFlops);
      started.push(h2);
      for (let i = 3; i <= (spec.standbys ?? 1) + 1; ++i)
        started.push(startWorker(node.port, `h${i}-${kind}`, standbyFlops));
      await h.waitStatus(node.port, 'H2 to join', 30000, (s) => s.workers.some((w) => w.name === h2.name));
      if (spec.byStandby)
        await evictionLine(node.logFile, rogueName, 60000);  // before the prompt: H2's probe convicts R
      if (spec.spot) {
        // The rogue's stage needs a loaded standby to be checked against.
        const layers = stageLayers(ready, rogueName);
        await h.waitStatus(node.port, 'a loaded standby for the rogue\'s stage', 60000, (s) =>
          s.workers.some((w) => w.standby_for && w.loaded && w.standby_for[0] === layers[0] && w.standby_for[1] === layers[1]));
      }
      t0 = Date.now();
    }
    const r = await h.prompt(tessera, node.port, PROMPT, { 'max-tokens': MAX });
    const ms = Date.now() - t0;
    const log = fs.readFileSync(node.logFile, 'utf8');
    const line = log.split('\n').find((l) => l.includes(`(${rogueName}) ${spec.refused ? 'refused' : 'evicted'}:`));
    h.check(line !== undefined, `${kind}: the node log names the rogue: ${line?.replace(/^.*reason="/, '').slice(0, 160)}`);
    h.check((spec.refused ?? spec.reason).test(line), `${kind}: the reason says what it did`);
    h.check(JSON.stringify(r.tokens) === JSON.stringify(refs[PROMPT]),
            `${kind}: the reply equals the whole model (${r.tokens.length} tokens, ${ms} ms)`);
    if (!spec.refused) {
      const s = await h.getJson(node.port, '/api/status');
      h.check(!s.workers.some((w) => w.name === rogueName), `${kind}: the rogue is gone from /api/status`);
      // H1 served timed steps: /api/status shows the speed the node measured beside the claim.
      const measured = await h.waitStatus(node.port, 'a measured speed for H1', 10000, (x) =>
        x.workers.some((w) => w.name === h1.name && w.measured_flops_per_s > 0));
      const m1 = measured.workers.find((w) => w.name === h1.name);
      h.check(m1.flops_per_s === Number(HONEST_FLOPS),
              `${kind}: H1's measured speed ${m1.measured_flops_per_s.toExponential(2)} FLOP/s is shown beside its claim ${m1.flops_per_s}`);
      // (An eviction at load leaves H1 alone, with no plan to make until H2 joins: that join is the re-plan's why.)
      if (!spec.atLoad)
        h.check(s.replans.some((p) => p.includes(`(${rogueName}) evicted:`)), `${kind}: the re-plan history names the eviction`);
      const recovering = r.messages.filter((m) => m.status === 'recovering');
      h.check(recovering.every((m) => m.reason.includes(rogueName)),
              `${kind}: every recovery the client saw names the rogue, never an honest worker (${recovering.length})`);
      const caughtEarly = spec.atLoad || spec.byStandby;
      h.check(r.done.timings.lost_stages === (caughtEarly ? 0 : 1),
              caughtEarly ? `${kind}: the rogue was gone before the request, which never lost a route (lost_stages ${r.done.timings.lost_stages})`
                          : `${kind}: the request lost its route once and never went back to the rogue (lost_stages ${r.done.timings.lost_stages})`);
    }
    results.push({ kind, ms, caught: true });
    const stopped = await h.stopNode(node);
    h.check(stopped.code === 0, `${kind}: the node stops cleanly`);
    node = null;
    for (const w of started.splice(0)) stopWorker(w);
  }
  console.log(`# caught: ${results.map((x) => `${x.kind} ${x.ms} ms`).join(', ')}`);
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_rogue_workers');
} catch (e) {
  for (const w of started) stopWorker(w);
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
