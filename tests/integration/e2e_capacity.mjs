// Capacity loss then recovery. Two node workers of 36 MB each hold the
// `tiny` model only together (a stage needs the node's 32 MiB scratch plus its
// layers and KV; the whole model needs 36.4 MB).
//  1. Mid-generation, the last stage's worker is SIGKILLed: nothing can hold the
//     model now, so the streaming clients get {status: "queued", reason} naming
//     what the pool lacks and /api/status says not ready; only then a new worker
//     joins; both requests (greedy and seeded sampling) finish with exactly the
//     tokens of their fault-free runs.
//  2. A request sent while the pool is short is queued before its first token,
//     and completes identically once a worker joins.
//  3. With a short runtime.queue_timeout_ms, a queued request fails with an
//     error that names the missing capacity (never silence).
//   node e2e_capacity.mjs TESSERA_BINARY [PRESET]
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
h.watchdog(300000, 'e2e_capacity');
const dir = h.tmpDir('tessera-capacity-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
// Plain bytes: the memory budgets these tests depend on are exact, whatever unit parser reads them.
const MEM = '36000000';
// restart = never: a killed worker's capacity stays lost until a new worker joins
const config = h.writeConfig(dir, { modelDir, restart: 'never', workers: [{ name: 'a', memory: MEM }, { name: 'b', memory: MEM }] });
const MAX = 96;
const GREEDY = 'The quick brown fox';
const SAMPLED = { 'max-tokens': MAX, temperature: 0.8, 'top-k': 20, seed: 7 };
const LACKS = /the pool lacks \d+(\.\d+)? ?[kKMGT]?i?B/;
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// Resolves with the first message satisfying pred, rejects after ms.
function waiter(what, ms) {
  let resolve;
  let timer;
  const p = new Promise((res, rej) => {
    resolve = (v) => { clearTimeout(timer); res(v); };
    timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return { promise: p, resolve };
}

const nameOf = (s, id) => s.workers.find((w) => String(w.id) === String(id)).name;

let node;
let node2;
const pids = {};
try {
  const refs = h.reference(modelDir, MAX, [GREEDY]);
  h.check(refs[GREEDY].length >= 16, `the whole-model reference of "${GREEDY}" has ${refs[GREEDY].length} tokens`);
  node = await h.startNode(tessera, config, dir);
  h.check(node.status.plan.stages.length === 2, `the two workers of ${MEM} bytes share the model: ${node.status.replans.at(-1)}`);
  pids.a = h.workerPid(node.child.pid, 'a');
  pids.b = h.workerPid(node.child.pid, 'b');
  h.check(pids.a && pids.b, `found the local workers (pids ${pids.a}, ${pids.b})`);
  const sampledRef = await h.prompt(tessera, node.port, 'Hello, world', SAMPLED);
  h.check(sampledRef.tokens.length >= 16, `fault-free seeded sampling run: ${sampledRef.tokens.length} tokens`);

  // 1. Capacity lost mid-generation.
  const last = node.status.plan.stages.at(-1);
  const victim = nameOf(node.status, last.worker);
  const lacking = waiter('a queued status naming what the pool lacks', 60000);
  let tokens = 0;
  let killed = false;
  let joined = false;
  const queued = [];
  const violations = [];
  const tokensAfterJoin = [0, 0];
  const stream = (text, opts, k) => h.promptStream(tessera, node.port, text, opts, (m) => {
    if ('token' in m) {
      if (joined) tokensAfterJoin[k] += 1;
      else if (queued.some((q) => q.k === k)) violations.push(`request ${k} streamed a token while queued`);
      if (++tokens === 6 && !killed) {
        killed = true;
        process.kill(pids[victim], 'SIGKILL');
      }
    } else if (m.status === 'queued') {
      queued.push({ k, reason: m.reason, joined });
      if (LACKS.test(m.reason)) lacking.resolve(m.reason);
    }
  });
  const runs = Promise.all([stream(GREEDY, { 'max-tokens': MAX }, 0), stream('Hello, world', SAMPLED, 1)]);
  runs.catch(() => {});
  const reason = await lacking.promise;
  h.check(killed, `the worker '${victim}' of the last stage was killed mid-generation, then a client got queued: "${reason}"`);
  // Under load the second client may still be connecting when the first is
  // queued; once it arrives it is queued too, so wait (bounded) for both.
  const waiting = await h.waitStatus(node.port, 'both requests waiting', 30000,
                                     (s) => s.requests.active === 2 || s.requests.failed > 0).catch(() => null)
                  ?? await h.getJson(node.port, '/api/status');
  h.check(!waiting.ready && LACKS.test(waiting.reason), `/api/status is not ready and says why: "${waiting.reason}"`);
  h.check(waiting.requests.active === 2 && waiting.requests.failed === 0,
          `both requests wait (active ${waiting.requests.active}, failed ${waiting.requests.failed})`);
  joined = true;
  pids.c = h.startWorker(node.port, 'c', MEM, path.join(dir, 'c-cache')).pid;
  const [greedy, sampled] = await runs;
  h.check(same(greedy.tokens, refs[GREEDY]),
          `greedy equals the whole-model run (${greedy.tokens.length} tokens; rebuilt from tokens ` +
          `${greedy.done.timings.replays}, from kept inputs ${greedy.done.timings.input_replays ?? 0})`);
  h.check(same(sampled.tokens, sampledRef.tokens), `seeded sampling equals its fault-free run (${sampled.tokens.length} tokens)`);
  h.check(tokensAfterJoin[0] > 0 && tokensAfterJoin[1] > 0, `both streams went on after the new worker joined (${tokensAfterJoin.join(', ')} tokens)`);
  h.check(violations.length === 0, `no token streamed while its request was queued${violations.length ? `: ${violations.join("; ")}` : ""}`);
  console.log(`# queued reasons: ${[...new Set(queued.map((q) => q.reason))].join(' | ')}`);
  const s1 = await h.waitStatus(node.port, 'the plan with the new worker', 30000, (s) => s.ready);
  h.check(s1.workers.some((w) => w.name === 'c' && w.layers), `the new worker serves layers ${JSON.stringify(s1.workers.find((w) => w.name === 'c')?.layers)}`);

  // 2. A request arrives while the pool is short.
  const victim2 = nameOf(s1, s1.plan.stages[0].worker);
  process.kill(pids[victim2], 'SIGKILL');
  const short = await h.waitStatus(node.port, 'the pool to be short again', 30000, (s) => !s.ready && LACKS.test(s.reason));
  h.check(true, `after killing '${victim2}' the node is not ready: "${short.reason}"`);
  const early = waiter('the new request to be queued', 30000);
  const first = [];
  const late = h.promptStream(tessera, node.port, GREEDY, { 'max-tokens': MAX }, (m) => {
    first.push(m);
    if (m.status === 'queued' && LACKS.test(m.reason)) early.resolve(m.reason);
  });
  late.catch(() => {});
  const reason2 = await early.promise;
  h.check(!first.some((m) => 'token' in m), `the request is queued before any token: "${reason2}"`);
  h.startWorker(node.port, 'd', MEM, path.join(dir, 'd-cache'));
  const r2 = await late;
  h.check(same(r2.tokens, refs[GREEDY]), `it completes after 'd' joins, equal to the whole-model run (${r2.tokens.length} tokens)`);
  const end = await h.getJson(node.port, '/api/status');
  h.check(end.requests.failed === 0 && end.requests.active === 0, `no request failed or hangs (done ${end.requests.done})`);
  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, 'the node stops cleanly');
  node = null;

  // 3. Nobody joins: the queue timeout fails the request with a clear error.
  const dir2 = path.join(dir, 'timeout');
  fs.mkdirSync(dir2);
  const config2 = h.writeConfig(dir2, { modelDir, workers: [{ name: 'alone', memory: MEM }] });
  fs.writeFileSync(config2, fs.readFileSync(config2, 'utf8').replace(/queue_timeout_ms = \d+/, 'queue_timeout_ms = 1500'));
  node2 = await h.startNode(tessera, config2, dir2, { waitReady: false });
  await h.waitStatus(node2.port, 'the lone worker to be found too small', 30000, (s) => LACKS.test(s.reason));
  const got = [];
  let error;
  await h.promptStream(tessera, node2.port, GREEDY, { 'max-tokens': 8 }, (m) => got.push(m)).catch((e) => (error = e));
  const err = got.find((m) => 'error' in m);
  h.check(error && err && LACKS.test(err.error) && !got.some((m) => 'token' in m),
          `after the queue timeout the client gets an error, no tokens: "${err?.error}"`);
  h.check(got.some((m) => m.status === 'queued'), 'it was queued first');
  const stopped2 = await h.stopNode(node2);
  h.check(stopped2.code === 0, 'the second node stops cleanly');
  node2 = null;
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_capacity');
} catch (e) {
  await h.fail(e, dir, { nodes: [node, node2] });
}
process.exit(0);
