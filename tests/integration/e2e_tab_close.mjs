// A browser worker's tab is closed mid-generation. One node worker and
// one headless Chromium tab (the real worker page, ORT-web WASM) of 36 MB each
// hold the `tiny` model only together, so the tab serves a stage. While a greedy
// and a seeded-sampling request stream, the tab is closed; a node worker joins
// as its replacement; both requests finish with exactly the tokens of their
// fault-free runs (the whole model in onnxruntime-node for greedy, the same
// node before the fault for sampling), and the node stops cleanly.
//   node e2e_tab_close.mjs TESSERA_BINARY [PRESET]
import path from 'node:path';
import * as h from './harness.mjs';
import * as t from './tab_fault.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
t.requireChromium();
h.watchdog(420000, 'e2e_tab_close');
const dir = h.tmpDir('tessera-tabclose-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));

const ctx = {};
try {
  const refs = h.reference(modelDir, t.MAX, [t.GREEDY]);
  h.check(refs[t.GREEDY].length >= 32, `the whole-model reference of "${t.GREEDY}" has ${refs[t.GREEDY].length} tokens`);
  const { page } = await t.startTabPool(tessera, ctx, { dir, modelDir });
  const { port } = ctx.node;
  const sampledRef = await t.faultFreeRuns(tessera, port, refs[t.GREEDY]);

  // Close the tab once generation is under way; a node worker replaces it.
  let closing;
  let closedAt = -1;
  const run = t.streamBoth(tessera, port, (total) => {
    if (total !== 8) return;
    closing = page.close({ runBeforeUnload: false }).then(() => {
      closedAt = run.total;
      run.mark();
      h.startWorker(port, 'spare', t.MEM, path.join(dir, 'spare-cache'));
    });
  });
  const results = await run.done;
  await closing;
  const all = results[0].tokens.length + results[1].tokens.length;
  h.check(closing !== undefined && closedAt >= 0 && closedAt < all,
          `the tab was closed mid-generation (after ${closedAt} of ${all} tokens)`);
  t.checkIdentical(results, { greedyRef: refs[t.GREEDY], sampledRef, after: run.after, fault: 'close' });
  const s1 = await h.waitStatus(port, 'the plan with the replacement', 60000, (s) => s.ready);
  h.check(!s1.workers.some((w) => w.name === 'tab'), 'the closed tab left the pool');
  h.check(s1.workers.some((w) => w.name === 'spare' && w.layers),
          `the replacement serves layers [${s1.workers.find((w) => w.name === 'spare')?.layers}]; plans: ${s1.replans.join(' | ')}`);
  h.check(s1.requests.failed === 0 && s1.requests.active === 0, `no request failed or hangs (done ${s1.requests.done})`);
  await ctx.browser.close();
  ctx.browser = null;
  const stopped = await h.stopNode(ctx.node);
  h.check(stopped.code === 0, 'the node stops cleanly');
  ctx.node = null;
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_tab_close');
} catch (e) {
  await h.fail(e, dir, { nodes: [ctx.node], browser: ctx.browser });
}
process.exit(0);
