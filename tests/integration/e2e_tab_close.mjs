// Issue 6: a browser worker's tab is closed mid-generation. One node worker and
// one headless Chromium tab (the real worker page, ORT-web WASM) of 36 MB each
// hold the `tiny` model only together, so the tab serves a stage. While a greedy
// and a seeded-sampling request stream, the tab is closed; a node worker joins
// as its replacement; both requests finish with exactly the tokens of their
// fault-free runs (the whole model in onnxruntime-node for greedy, the same
// node before the fault for sampling), and the node stops cleanly.
//   node e2e_tab_close.mjs TESSERA_BINARY [PRESET]
import path from 'node:path';
import * as h from './harness.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
const { launchBrowser, haveChromium } = await import(path.join(h.repoRoot, 'webworker', 'testing', 'chromium.mjs'));
if (!haveChromium()) {
  console.log('SKIP: no Chromium');
  process.exit(0);
}
h.watchdog(420000, 'e2e_tab_close');
const dir = h.tmpDir('tessera-tabclose-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
// Plain bytes: the memory budgets these tests depend on are exact, whatever unit parser reads them.
const MEM = '36000000';
const config = h.writeConfig(dir, { modelDir, workers: [{ name: 'node-worker', memory: MEM }] });
const MAX = 160;
const GREEDY = 'The quick brown fox';
const SAMPLED_PROMPT = 'Hello, world';
const SAMPLED = { 'max-tokens': MAX, temperature: 0.8, 'top-k': 20, seed: 11 };
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

let node;
let browser;
try {
  const refs = h.reference(modelDir, MAX, [GREEDY]);
  h.check(refs[GREEDY].length >= 32, `the whole-model reference of "${GREEDY}" has ${refs[GREEDY].length} tokens`);
  node = await h.startNode(tessera, config, dir, { waitReady: false });
  browser = await launchBrowser();
  const page = await browser.context.newPage();
  await page.goto(`http://127.0.0.1:${node.port}/?reconnect=0&threads=1&name=tab&memory=${MEM}`);
  const s0 = await h.waitStatus(node.port, 'a plan over the tab and the node worker', 240000, (s) => s.ready);
  const tab = s0.workers.find((w) => w.name === 'tab');
  h.check(tab && tab.layers && s0.plan.stages.length === 2,
          `the tab (${tab?.device}) serves layers [${tab?.layers}] next to the node worker: ${s0.replans.at(-1)}`);
  const shown = (await page.textContent('#layers')).trim();
  h.check(shown === `${tab.layers[0]}–${tab.layers[1]}`, `the page shows its layer range "${shown}"`);
  const sampledRef = await h.prompt(tessera, node.port, SAMPLED_PROMPT, SAMPLED);
  h.check(sampledRef.tokens.length >= 32, `fault-free seeded sampling through the tab: ${sampledRef.tokens.length} tokens`);
  const before = await h.prompt(tessera, node.port, GREEDY, { 'max-tokens': MAX });
  h.check(same(before.tokens, refs[GREEDY]), 'fault-free greedy through the tab equals the whole model');

  // Close the tab once generation is under way; a node worker replaces it.
  let tokens = 0;
  let closing;
  let closedAt = -1;
  const counts = [0, 0];
  const afterClose = [0, 0];
  const stream = (text, opts, k) => h.promptStream(tessera, node.port, text, opts, (m) => {
    if (!('token' in m)) return;
    counts[k] += 1;
    if (closedAt >= 0) afterClose[k] += 1;
    if (++tokens === 8) {
      closing = page.close({ runBeforeUnload: false }).then(() => {
        closedAt = tokens;
        h.startWorker(node.port, 'spare', MEM, path.join(dir, 'spare-cache'));
      });
    }
  });
  const [greedy, sampled] = await Promise.all([stream(GREEDY, { 'max-tokens': MAX }, 0),
                                               stream(SAMPLED_PROMPT, SAMPLED, 1)]);
  await closing;
  h.check(closing !== undefined && closedAt >= 0 && closedAt < greedy.tokens.length + sampled.tokens.length,
          `the tab was closed mid-generation (after ${closedAt} of ${greedy.tokens.length + sampled.tokens.length} tokens)`);
  const rebuilds = [greedy, sampled].map((r) => r.done.timings.replays + (r.done.timings.input_replays ?? 0));
  h.check(same(greedy.tokens, refs[GREEDY]),
          `greedy equals the whole-model run (${greedy.tokens.length} tokens, ${afterClose[0]} after the close; ` +
          `rebuilt from tokens ${greedy.done.timings.replays}, from kept inputs ${greedy.done.timings.input_replays ?? 0})`);
  h.check(same(sampled.tokens, sampledRef.tokens),
          `seeded sampling equals its fault-free run (${sampled.tokens.length} tokens, ${afterClose[1]} after the close; ` +
          `rebuilt from tokens ${sampled.done.timings.replays}, from kept inputs ${sampled.done.timings.input_replays ?? 0})`);
  h.check(rebuilds[0] + rebuilds[1] >= 1, `the requests rebuilt the lost stage's KV (${rebuilds[0] + rebuilds[1]} rebuilds)`);
  const s1 = await h.waitStatus(node.port, 'the plan with the replacement', 60000, (s) => s.ready);
  h.check(!s1.workers.some((w) => w.name === 'tab'), 'the closed tab left the pool');
  h.check(s1.workers.some((w) => w.name === 'spare' && w.layers),
          `the replacement serves layers [${s1.workers.find((w) => w.name === 'spare')?.layers}]; plans: ${s1.replans.join(' | ')}`);
  h.check(s1.requests.failed === 0 && s1.requests.active === 0, `no request failed or hangs (done ${s1.requests.done})`);
  await browser.close();
  browser = null;
  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, 'the node stops cleanly');
  node = null;
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_tab_close');
} catch (e) {
  await h.fail(e, dir, { nodes: [node], browser });
}
process.exit(0);
