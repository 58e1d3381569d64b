// Issue 6: a hung browser tab. One node worker and one headless Chromium tab
// (the real worker page, ORT-web WASM) of 36 MB each hold the `tiny` model only
// together, so the tab serves a stage; a spare node worker waits idle. While a
// greedy and a seeded-sampling request stream, the tab's main thread is hung by
// a busy loop (no heartbeats, no Results, the socket unread) for well over the
// 3 s heartbeat timeout. The node must drop the tab for missed heartbeats while
// it is still hung and route around it (the spare takes its layers); both
// requests finish with exactly the tokens of their fault-free runs. When the
// tab wakes up, whatever it still sends is ignored: it sees the node's close, a
// later request is again identical to the whole model, nothing failed, and the
// node stops cleanly.
//   node e2e_tab_hang.mjs TESSERA_BINARY [PRESET]
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
const { launchBrowser, haveChromium } = await import(path.join(h.repoRoot, 'webworker', 'testing', 'chromium.mjs'));
if (!haveChromium()) {
  console.log('SKIP: no Chromium');
  process.exit(0);
}
h.watchdog(420000, 'e2e_tab_hang');
const dir = h.tmpDir('tessera-tabhang-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
// Plain bytes: the memory budgets these tests depend on are exact, whatever unit parser reads them.
const MEM = '36000000';
const HEARTBEAT_TIMEOUT_MS = 3000;  // the default of issue 6
const HANG_MS = 12000;              // the tab's main thread is blocked this long
const config = h.writeConfig(dir, { modelDir, heartbeatMs: 500, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
                                    workers: [{ name: 'node-worker', memory: MEM }] });
const MAX = 160;
const GREEDY = 'The quick brown fox';
const LATER = 'zzz';
const SAMPLED_PROMPT = 'Hello, world';
const SAMPLED = { 'max-tokens': MAX, temperature: 0.8, 'top-k': 20, seed: 11 };
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

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

let node;
let browser;
try {
  const refs = h.reference(modelDir, MAX, [GREEDY, LATER]);
  h.check(refs[GREEDY].length >= 32 && refs[LATER].length >= 32,
          `whole-model references: ${refs[GREEDY].length} and ${refs[LATER].length} tokens`);
  node = await h.startNode(tessera, config, dir, { waitReady: false });
  browser = await launchBrowser();
  const page = await browser.context.newPage();
  const pageLog = [];
  page.on('console', (m) => pageLog.push(m.text()));
  await page.goto(`http://127.0.0.1:${node.port}/?reconnect=0&threads=1&name=tab&memory=${MEM}`);
  const s0 = await h.waitStatus(node.port, 'a plan over the tab and the node worker', 240000, (s) => s.ready);
  const tab = s0.workers.find((w) => w.name === 'tab');
  h.check(tab && tab.layers && s0.plan.stages.length === 2,
          `the tab (${tab?.device}) serves layers [${tab?.layers}] next to the node worker: ${s0.replans.at(-1)}`);

  // An idle spare joins first; the plan keeps serving through the tab.
  h.startWorker(node.port, 'spare', MEM, path.join(dir, 'spare-cache'));
  const s1 = await h.waitStatus(node.port, 'the spare to join', 60000,
                                (s) => s.ready && s.workers.some((w) => w.name === 'spare'));
  const tabNow = s1.workers.find((w) => w.name === 'tab');
  h.check(tabNow?.layers && !s1.workers.find((w) => w.name === 'spare').layers,
          `with an idle spare the tab still serves layers [${tabNow?.layers}] (plan v${s1.plan_version})`);

  const sampledRef = await h.prompt(tessera, node.port, SAMPLED_PROMPT, SAMPLED);
  h.check(sampledRef.tokens.length >= 32, `fault-free seeded sampling through the tab: ${sampledRef.tokens.length} tokens`);
  const before = await h.prompt(tessera, node.port, GREEDY, { 'max-tokens': MAX });
  h.check(same(before.tokens, refs[GREEDY]), 'fault-free greedy through the tab equals the whole model');
  const stepsBefore = Number(await page.textContent('#steps'));

  // Hang the tab's main thread once generation is under way. The loop runs in
  // a task of its own, so evaluate() returns at once; it records when it ended.
  let tokens = 0;
  let hangAt = -1;
  let hanging;
  const counts = [0, 0];
  const afterHang = [0, 0];
  const stream = (text, opts, k) => h.promptStream(tessera, node.port, text, opts, (m) => {
    if (!('token' in m)) return;
    counts[k] += 1;
    if (hangAt >= 0) afterHang[k] += 1;
    if (++tokens === 8) {
      hangAt = tokens;
      hanging = page.evaluate((ms) => {
        setTimeout(() => {
          const start = Date.now();
          while (Date.now() < start + ms) { /* hung: no heartbeat, no Result, no socket read */ }
          globalThis.tesseraHang = { start, end: Date.now() };
        }, 0);
      }, HANG_MS).then(() => Date.now());
    }
  });
  const running = Promise.all([stream(GREEDY, { 'max-tokens': MAX }, 0), stream(SAMPLED_PROMPT, SAMPLED, 1)]);

  // The node drops the tab for missed heartbeats (not for a closed socket).
  const detect = await waitLog(node, /worker=(\d+) name=tab disconnect reason="(no heartbeat for (\d+) ms[^"]*)"/,
                               120000, 'the tab to be dropped for missed heartbeats');
  const detectedAt = Date.now();
  const hangStarted = await hanging;
  h.check(Number(detect[3]) === HEARTBEAT_TIMEOUT_MS,
          `the node dropped the hung tab (worker ${detect[1]}): "${detect[2]}", ~${detectedAt - hangStarted} ms after the hang began`);
  const s2 = await h.waitStatus(node.port, 'the tab to leave the pool', 10000,
                                (s) => !s.workers.some((w) => w.name === 'tab'));
  const droppedAt = Date.now();

  const [greedy, sampled] = await running;
  h.check(hangAt >= 0 && hangAt < greedy.tokens.length + sampled.tokens.length && afterHang[0] + afterHang[1] > 0,
          `the tab was hung mid-generation (told to after ${hangAt} of ${greedy.tokens.length + sampled.tokens.length} tokens)`);
  h.check(same(greedy.tokens, refs[GREEDY]),
          `greedy equals the whole-model run (${greedy.tokens.length} tokens, ${afterHang[0]} after the hang; ` +
          `rebuilt from tokens ${greedy.done.timings.replays}, from kept inputs ${greedy.done.timings.input_replays ?? 0})`);
  h.check(same(sampled.tokens, sampledRef.tokens),
          `seeded sampling equals its fault-free run (${sampled.tokens.length} tokens, ${afterHang[1]} after the hang; ` +
          `rebuilt from tokens ${sampled.done.timings.replays}, from kept inputs ${sampled.done.timings.input_replays ?? 0})`);
  const rebuilds = [greedy, sampled].reduce((a, r) => a + r.done.timings.replays + (r.done.timings.input_replays ?? 0), 0);
  h.check(rebuilds >= 1, `the requests rebuilt the hung stage's KV (${rebuilds} rebuilds)`);
  const spare = s2.workers.find((w) => w.name === 'spare');
  h.check(spare !== undefined, `the spare is in the pool after the tab left; plans: ${s2.replans.join(' | ')}`);

  // The tab wakes up: its main thread answers again, it handles what queued up
  // meanwhile (Forwards, the node's close) and whatever it sends is ignored.
  const hang = await within(page.evaluate(async () => {
    while (!globalThis.tesseraHang) await new Promise((r) => setTimeout(r, 50));
    return globalThis.tesseraHang;
  }), HANG_MS + 60000, 'the woken tab');
  h.check(hang.end - hang.start >= HANG_MS && detectedAt < hang.end && droppedAt < hang.end,
          `the tab was hung ${hang.end - hang.start} ms and dropped while still hung ` +
          `(${hang.end - droppedAt} ms before it woke)`);
  await within((async () => {
    while (!pageLog.some((l) => /socket closed code=/.test(l))) await new Promise((r) => setTimeout(r, 50));
  })(), 30000, 'the woken tab noticing the close');
  const stepsAfter = Number(await page.textContent('#steps'));
  console.log(`# the woken tab: ${pageLog.find((l) => /socket closed code=/.test(l))}; ` +
              `steps served before the streams ${stepsBefore}, after waking ${stepsAfter}`);

  const later = await h.prompt(tessera, node.port, LATER, { 'max-tokens': MAX });
  h.check(same(later.tokens, refs[LATER]), `a request after the tab woke equals the whole model (${later.tokens.length} tokens)`);
  const s3 = await h.waitStatus(node.port, 'the last request to finish', 10000, (s) => s.requests.active === 0);
  h.check(s3.ready && !s3.workers.some((w) => w.name === 'tab') && s3.requests.failed === 0,
          `the woken tab did not come back, no request failed (done ${s3.requests.done}); plans: ${s3.replans.join(' | ')}`);
  await browser.close();
  browser = null;
  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, 'the node stops cleanly');
  node = null;
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_tab_hang');
} catch (e) {
  await h.fail(e, dir, { nodes: [node], browser });
}
process.exit(0);
