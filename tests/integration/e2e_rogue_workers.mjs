// Every rogue worker kind (webworker/node/rogue.mjs) is caught, and the
// client's tokens equal the whole model's. For each kind, a fresh node on
// 127.0.0.1 and three external workers of 36 MB (the `tiny` model needs two):
// honest H1, the rogue R, then honest H2 (and H3 where the rogue's stage needs
// it). R claims a speed that puts it where
// its lie shows: slower than H1 for the kinds that rewrite boundary tensors
// (the first stage), faster for the kinds that rewrite token ids (the last
// stage, which holds the head). H2 claims R's speed, so it only stands by.
// A greedy prompt then runs: R must be evicted with a reason naming it (in
// /api/status's re-plan history and the node log), H2 takes its stage, and
// the reply equals the whole model. Claim kinds are refused at Hello.
// The kinds only a spot check can catch (random, scaled, pwned) run when the
// first KIND is `spot`: R's first steps are re-run on the standby of its stage
// and the mismatch evicts it before its token reaches the client.
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
const KINDS = {
  'claims-huge': { refused: /above verify\.max_worker_flops/ },
  'claims-inf': { refused: /not a finite/ },
  nan: { flops: SLOW, stage: 'first', reason: /NaN/ },
  zeros: { flops: SLOW, stage: 'first', reason: /constant/ },
  shape: { flops: SLOW, stage: 'first', reason: /has shape/ },
  bloat: { flops: SLOW, stage: 'first', reason: /carries 33554432 bytes/ },
  'out-of-vocab': { flops: FAST, stage: 'last', reason: /outside the vocabulary/ },
  'fake-load': { flops: SLOW, reason: /Loaded but answers its step/ },
  silent: { flops: SLOW, reason: /unanswered after/ },
  slow: { flops: SLOW, reason: /unanswered after/ },
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
function configFor(kindDir) {
  fs.mkdirSync(kindDir, { recursive: true });
  // Heartbeats every 250 ms, silence bound 3 s (a rogue busy encoding 32 MiB
  // must be caught for its Result, not for its silence); steps due in 1.5 s.
  const file = h.writeConfig(kindDir, { modelDir, workers: [], heartbeatMs: 500, heartbeatTimeoutMs: 3000 });
  fs.appendFileSync(file, '[verify]\nstep_deadline_ms = 1500\nstep_deadline_per_position_ms = 20\n');
  return file;
}

const stageOf = (status, name) => {
  const w = status.workers.find((x) => x.name === name);
  if (!w || !w.layers) return null;
  return w.layers[0] === 0 ? 'first' : w.layers[1] === status.model.num_layers ? 'last' : 'middle';
};

const stageLayers = (status, name) => status.workers.find((x) => x.name === name).layers;

let node;
const started = [];
const results = [];
try {
  const refs = h.reference(modelDir, MAX, [PROMPT]);
  for (const kind of kinds) {
    const spec = KINDS[kind];
    const rogueName = `rogue-${kind}`;
    const kindDir = path.join(dir, kind);
    node = await h.startNode(tessera, configFor(kindDir), kindDir, { waitReady: false });
    const h1 = startWorker(node.port, `h1-${kind}`, HONEST_FLOPS);
    started.push(h1);
    await h.waitStatus(node.port, 'H1 to join', 30000, (s) => s.workers.some((w) => w.name === h1.name));
    const rogue = startWorker(node.port, rogueName, spec.flops ?? HONEST_FLOPS, kind);
    started.push(rogue);
    let t0;
    if (spec.refused) {
      const code = await Promise.race([rogue.exited, new Promise((r) => setTimeout(() => r('running'), 20000))]);
      h.check(code === 1, `${kind}: the rogue is refused at Hello and exits (exit ${code})`);
      const h2 = startWorker(node.port, `h2-${kind}`, SLOW);
      started.push(h2);
      await h.waitStatus(node.port, 'a plan without the rogue', 60000, (s) => s.ready);
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
      h.check(s.replans.some((p) => p.includes(`(${rogueName}) evicted:`)), `${kind}: the re-plan history names the eviction`);
      const recovering = r.messages.filter((m) => m.status === 'recovering');
      h.check(recovering.every((m) => m.reason.includes(rogueName)),
              `${kind}: every recovery the client saw names the rogue, never an honest worker (${recovering.length})`);
      h.check(r.done.timings.lost_stages === 1,
              `${kind}: the request lost its route once and never went back to the rogue (lost_stages ${r.done.timings.lost_stages})`);
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
