// What the browser-fault tests (e2e_tab_close, e2e_tab_hang) share: a node
// whose pool is one node worker and one headless Chromium tab (the real worker
// page, ORT-web WASM) of 36 MB each — together they hold the `tiny` model, so
// the tab serves a stage —, the fault-free runs through the tab, two streams
// (greedy + seeded sampling) with a hook on every token, and the check that
// both replies equal their fault-free runs after the fault.
import path from 'node:path';
import * as h from './harness.mjs';

// Plain bytes: the memory budgets these tests depend on are exact, whatever unit parser reads them.
export const MEM = '36000000';
export const MAX = 160;
export const GREEDY = 'The quick brown fox';
export const SAMPLED_PROMPT = 'Hello, world';
export const SAMPLED = { 'max-tokens': MAX, temperature: 0.8, 'top-k': 20, seed: 11 };
export const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

const chromium = await import(path.join(h.repoRoot, 'webworker', 'testing', 'chromium.mjs'));

// Exits 0 with SKIP when this machine has no Chromium.
export function requireChromium() {
  if (!chromium.haveChromium()) {
    console.log('SKIP: no Chromium');
    process.exit(0);
  }
}

// Starts the node (config: extra writeConfig options) and the tab. Fills
// ctx.node and ctx.browser as soon as each exists, so the caller's failure path
// can stop them. onConsole(text) sees the page's console. Resolves with the
// page and the first serving status.
export async function startTabPool(tessera, ctx, { dir, modelDir, config = {}, onConsole }) {
  const file = h.writeConfig(dir, { modelDir, workers: [{ name: 'node-worker', memory: MEM }], ...config });
  ctx.node = await h.startNode(tessera, file, dir, { waitReady: false });
  ctx.browser = await chromium.launchBrowser();
  const page = await ctx.browser.context.newPage();
  if (onConsole) page.on('console', (m) => onConsole(m.text()));
  await page.goto(`http://127.0.0.1:${ctx.node.port}/?reconnect=0&threads=1&name=tab&memory=${MEM}`);
  const s0 = await h.waitStatus(ctx.node.port, 'a plan over the tab and the node worker', 240000, (s) => s.ready);
  const tab = s0.workers.find((w) => w.name === 'tab');
  h.check(tab && tab.layers && s0.plan.stages.length === 2,
          `the tab (${tab?.device}) serves layers [${tab?.layers}] next to the node worker: ${s0.replans.at(-1)}`);
  const shown = (await page.textContent('#layers')).trim();
  h.check(shown === `${tab.layers[0]}–${tab.layers[1]}`, `the page shows its layer range "${shown}"`);
  return { page, status: s0 };
}

// Fault-free runs through the tab; resolves with the seeded-sampling reference.
export async function faultFreeRuns(tessera, port, greedyRef) {
  const sampledRef = await h.prompt(tessera, port, SAMPLED_PROMPT, SAMPLED);
  h.check(sampledRef.tokens.length >= 32, `fault-free seeded sampling through the tab: ${sampledRef.tokens.length} tokens`);
  const before = await h.prompt(tessera, port, GREEDY, { 'max-tokens': MAX });
  h.check(same(before.tokens, greedyRef), 'fault-free greedy through the tab equals the whole model');
  return sampledRef;
}

// Streams GREEDY and the seeded-sampling prompt at once. onToken(total) runs
// after every token (total over both streams); tokens after mark() are counted
// per stream in `after`. `done` resolves with [greedy, sampled].
export function streamBoth(tessera, port, onToken) {
  const out = { total: 0, marked: false, after: [0, 0] };
  const stream = (text, opts, k) => h.promptStream(tessera, port, text, opts, (m) => {
    if (!('token' in m)) return;
    if (out.marked) out.after[k] += 1;
    onToken(++out.total);
  });
  out.mark = () => { out.marked = true; };
  out.done = Promise.all([stream(GREEDY, { 'max-tokens': MAX }, 0), stream(SAMPLED_PROMPT, SAMPLED, 1)]);
  return out;
}

// Both replies equal their fault-free runs, and the fault cost at least one KV rebuild.
export function checkIdentical([greedy, sampled], { greedyRef, sampledRef, after, fault }) {
  const how = (r) => `rebuilt from tokens ${r.done.timings.replays}, from kept inputs ${r.done.timings.input_replays ?? 0}`;
  h.check(same(greedy.tokens, greedyRef),
          `greedy equals the whole-model run (${greedy.tokens.length} tokens, ${after[0]} after the ${fault}; ${how(greedy)})`);
  h.check(same(sampled.tokens, sampledRef.tokens),
          `seeded sampling equals its fault-free run (${sampled.tokens.length} tokens, ${after[1]} after the ${fault}; ${how(sampled)})`);
  const rebuilds = [greedy, sampled].reduce((a, r) => a + r.done.timings.replays + (r.done.timings.input_replays ?? 0), 0);
  h.check(rebuilds >= 1, `the requests rebuilt the lost stage's KV (${rebuilds} rebuilds)`);
}
