// A hung browser tab. One node worker and one headless Chromium tab
// (the real worker page, ORT-web WASM) of 36 MB each hold the `tiny` model only
// together, so the tab serves a stage; a spare node worker waits idle. While a
// greedy and a seeded-sampling request stream, the tab's serving Web Worker
// (browser/serve_worker.mjs: ORT, the socket and the heartbeats; the page's main
// thread only shows status) is hung by a busy loop inside a stage step, with a request's step in flight on it (no heartbeats, no Results,
// the socket unread) for well over the 3 s heartbeat timeout. The node must drop the tab for missed heartbeats while
// it is still hung and route around it (the spare takes its layers); both
// requests finish with exactly the tokens of their fault-free runs. When the
// tab wakes up, whatever it still sends is ignored: it sees the node's close, a
// later request is again identical to the whole model, nothing failed, and the
// node stops cleanly.
//   node e2e_tab_hang.mjs TESSERA_BINARY [PRESET]
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';
import * as t from './tab_fault.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
t.requireChromium();
h.watchdog(420000, 'e2e_tab_hang');
const dir = h.tmpDir('tessera-tabhang-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const HEARTBEAT_TIMEOUT_MS = 3000;  // runtime.heartbeat_timeout_ms's default
const HANG_MS = 12000;              // the tab's serving worker is blocked this long
const HANG_AT_STEP = 8;             // in its 8th stage step once armed
const LATER = 'zzz';

// Resolves with the first match of `re` in the node's log (polled, bounded).
async function waitLog(node, re, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = fs.readFileSync(node.logFile, 'utf8').match(re);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what} in ${node.logFile}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A promise that rejects after ms (for page calls that wait on a hung page).
const within = (p, ms, what) => Promise.race([p, new Promise((_, reject) =>
  setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms).unref())]);

const ctx = {};
try {
  const refs = h.reference(modelDir, t.MAX, [t.GREEDY, LATER]);
  h.check(refs[t.GREEDY].length >= 32 && refs[LATER].length >= 32,
          `whole-model references: ${refs[t.GREEDY].length} and ${refs[LATER].length} tokens`);
  const pageLog = [];
  const { page } = await t.startTabPool(tessera, ctx, {
    // the spare must not win the tab's stage by a background migration before
    // the hang (a loaded machine's timings can make it look 10 % faster)
    dir, modelDir, config: { heartbeatMs: 500, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS, planner: { stability_margin: 0.5 } },
    onConsole: (text) => pageLog.push(text),
  });
  const { node } = ctx;

  // An idle spare joins first; the plan keeps serving through the tab.
  h.startWorker(node.port, 'spare', t.MEM, path.join(dir, 'spare-cache'));
  const s1 = await h.waitStatus(node.port, 'the spare to join', 60000,
                                (s) => s.ready && s.workers.some((w) => w.name === 'spare'));
  const tabNow = s1.workers.find((w) => w.name === 'tab');
  h.check(tabNow?.layers && !s1.workers.find((w) => w.name === 'spare').layers,
          `with an idle spare the tab still serves layers [${tabNow?.layers}] (plan v${s1.plan_version})`);

  const sampledRef = await t.faultFreeRuns(tessera, node.port, refs[t.GREEDY]);
  const stepsBefore = Number(await page.textContent('#steps'));

  // Hang the tab's serving worker inside its HANG_AT_STEP-th stage step from
  // now, which falls early in the two streams below: a request then has a step
  // in flight on the tab, holding KV there for the tokens before it, when the
  // tab goes silent, so the requests must rebuild that KV elsewhere. The hang is
  // armed before the streams start, so however slowly this machine answers the
  // page, it lands mid-generation. The busy loop blocks the Web Worker: no
  // heartbeat, no Result, the socket unread; it records when it ran.
  const serving = await within((async () => {
    for (;;) {
      const w = page.workers().find((x) => x.url().includes('/browser/serve_worker.mjs'));
      if (w) return w;
      await new Promise((r) => setTimeout(r, 50));
    }
  })(), 30000, 'the tab\'s serving worker');
  await within(serving.evaluate(({ ms, nth }) => {
    const runner = globalThis.tesseraWorker?.runner;
    if (!runner) throw new Error('the tab has no stage loaded to hang in');
    const step = runner.step;
    let calls = 0;
    runner.step = function hungStep(...args) {
      calls += 1;
      if (calls === nth) {
        runner.step = step;  // once
        const start = Date.now();
        while (Date.now() < start + ms) { /* hung: no heartbeat, no Result, no socket read */ }
        globalThis.tesseraHang = { start, end: Date.now() };
      }
      return step.apply(this, args);
    };
  }, { ms: HANG_MS, nth: HANG_AT_STEP }), 30000, 'arming the hang');
  const run = t.streamBoth(tessera, node.port, () => {});

  // The node drops the tab for missed heartbeats (not for a closed socket).
  const detect = await waitLog(node, /worker=(\d+) name=tab disconnect reason="(no heartbeat for (\d+) ms[^"]*)"/,
                               120000, 'the tab to be dropped for missed heartbeats');
  const detectedAt = Date.now();
  run.mark();
  const hangAt = run.total;
  h.check(Number(detect[3]) <= HEARTBEAT_TIMEOUT_MS,
          `the node dropped the hung tab (worker ${detect[1]}): "${detect[2]}"`);
  const s2 = await h.waitStatus(node.port, 'the tab to leave the pool', 10000,
                                (s) => !s.workers.some((w) => w.name === 'tab'));
  const droppedAt = Date.now();

  const results = await run.done;
  const all = results[0].tokens.length + results[1].tokens.length;
  h.check(hangAt < all && run.after[0] + run.after[1] > 0,
          `the tab was hung mid-generation (dropped after ${hangAt} of ${all} tokens)`);
  t.checkIdentical(results, { greedyRef: refs[t.GREEDY], sampledRef, after: run.after, fault: 'hang' });
  const spare = s2.workers.find((w) => w.name === 'spare');
  h.check(spare !== undefined, `the spare is in the pool after the tab left; plans: ${s2.replans.join(' | ')}`);

  // The tab wakes up: its serving worker answers again, it handles what queued
  // up meanwhile (Forwards, the node's close) and whatever it sends is ignored.
  const hang = await within(serving.evaluate(async () => {
    while (!globalThis.tesseraHang) await new Promise((r) => setTimeout(r, 50));
    return globalThis.tesseraHang;
  }), HANG_MS + 60000, 'the woken tab');
  h.check(hang.end - hang.start >= HANG_MS && detectedAt < hang.end && droppedAt < hang.end,
          `the tab was hung ${hang.end - hang.start} ms and dropped while still hung ` +
          `(${detectedAt - hang.start} ms into the hang, ${hang.end - droppedAt} ms before it woke)`);
  await within((async () => {
    while (!pageLog.some((l) => /socket closed code=/.test(l))) await new Promise((r) => setTimeout(r, 50));
  })(), 30000, 'the woken tab noticing the close');
  const stepsAfter = Number(await page.textContent('#steps'));
  console.log(`# the woken tab: ${pageLog.find((l) => /socket closed code=/.test(l))}; ` +
              `steps served before the streams ${stepsBefore}, after waking ${stepsAfter}`);

  const later = await h.prompt(tessera, node.port, LATER, { 'max-tokens': t.MAX });
  h.check(t.same(later.tokens, refs[LATER]), `a request after the tab woke equals the whole model (${later.tokens.length} tokens)`);
  const s3 = await h.waitStatus(node.port, 'the last request to finish', 10000, (s) => s.requests.active === 0);
  h.check(s3.ready && !s3.workers.some((w) => w.name === 'tab') && s3.requests.failed === 0,
          `the woken tab did not come back, no request failed (done ${s3.requests.done}); plans: ${s3.replans.join(' | ')}`);
  await ctx.browser.close();
  ctx.browser = null;
  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, 'the node stops cleanly');
  ctx.node = null;
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_tab_hang');
} catch (e) {
  await h.fail(e, dir, { nodes: [ctx.node], browser: ctx.browser });
}
process.exit(0);
