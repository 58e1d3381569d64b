// The dashboard (/dashboard, fed by /api/events) in headless Chromium against
// a real node: it shows the workers and the plan bar as /api/status has them;
// after a second worker joins, its row (device, backend, speed) and a join on
// the timeline; a request in flight with its tokens, then TTFT and per-token
// percentiles; after a serving worker is SIGKILLed, its row is gone, the plan
// bar is the new plan (the joiner took its stage) and the timeline has the leave. A screenshot is kept
// under the build tree (its path is printed).
//   node e2e_dashboard.mjs TESSERA_BINARY [PRESET]
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
const { launchBrowser, haveChromium } = await import(path.join(h.repoRoot, 'webworker', 'testing', 'chromium.mjs'));
if (!haveChromium()) {
  console.log('SKIP: no Chromium');
  process.exit(0);
}
h.watchdog(480000, 'e2e_dashboard');
const dir = h.tmpDir('tessera-dashboard-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const config = h.writeConfig(dir, { modelDir, restart: 'never', heartbeatMs: 300, heartbeatTimeoutMs: 1500,
                                    // 35.6 MB (32 MiB of it scratch) holds about half of the tiny model:
                                    // two workers serve a stage each.
                                    workers: [{ name: 'first', memory: '35600KB' }, { name: 'second', memory: '35600KB' }] });
const artifactDir = process.env.TESSERA_ARTIFACT_DIR ?? path.join(path.dirname(tessera), '..', 'test-artifacts');

let node;
let browser;

// What the page shows: worker rows, plan bar stages, plan version, timeline kinds.
const view = (page) => page.evaluate(() => ({
  updates: Number(document.body.dataset.updates ?? 0),
  version: Number(document.body.dataset.planVersion ?? 0),
  feed: document.getElementById('feed-state').textContent,
  workers: [...document.querySelectorAll('#workers tbody tr')].map((tr) => ({
    id: tr.dataset.workerId, name: tr.dataset.name, cells: [...tr.children].map((td) => td.textContent) })),
  stages: [...document.querySelectorAll('#plan-bar .stage')].map((d) => ({ worker: d.dataset.workerId, layers: d.dataset.layers })),
  requests: [...document.querySelectorAll('#requests tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent)),
  timeline: [...document.querySelectorAll('#timeline li')].map((li) => ({ kind: li.dataset.kind, text: li.textContent })),
  ttft: [document.getElementById('ttft-p50').textContent, document.getElementById('ttft-p95').textContent],
  tpot: [document.getElementById('tpot-p50').textContent, document.getElementById('tpot-p95').textContent],
  completed: Number(document.getElementById('count-completed').textContent),
}));

// Polls (bounded) until the page and /api/status satisfy `pred(view, status)`.
async function pageShows(page, port, what, ms, pred) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    const status = await h.getJson(port, '/api/status');
    last = await view(page);
    if (pred(last, status)) return { v: last, status };
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for the dashboard to show ${what} (page: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 100));  // poll interval, not a synchronisation
  }
}

// The page's plan bar and worker rows are the serving plan of /api/status.
const agrees = (v, s) => s.ready && !s.migration && v.version === s.plan_version &&
  JSON.stringify(v.stages) === JSON.stringify(s.plan.stages.slice().sort((a, b) => a.layers[0] - b.layers[0])
    .map((x) => ({ worker: String(x.worker), layers: `${x.layers[0]},${x.layers[1]}` }))) &&
  JSON.stringify(v.workers.map((w) => w.id)) === JSON.stringify(s.workers.map((w) => String(w.id)));

try {
  node = await h.startNode(tessera, config, dir);
  const port = node.port;
  browser = await launchBrowser();
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/dashboard`);

  let { v, status } = await pageShows(page, port, 'the two workers and the plan', 60000, (x, s) => agrees(x, s) && x.workers.length === 2);
  h.check(v.feed === 'live', `two worker rows: ${v.workers.map((w) => w.cells.join(' | ')).join(' / ')}`);
  const n = status.model.num_layers;
  h.check(v.stages.length === 2 && v.stages[0].layers.startsWith('0,') && v.stages.at(-1).layers.endsWith(`,${n}`) &&
          v.stages[0].layers.split(',')[1] === v.stages[1].layers.split(',')[0],
          `the plan bar shows two stages covering layers [0,${n}): ${v.stages.map((s) => s.layers).join(' ')}`);

  // A worker joins.
  h.startWorker(port, 'joiner', '35600KB', path.join(dir, 'joiner-cache'));
  ({ v, status } = await pageShows(page, port, 'the joined worker', 120000,
    (x, s) => agrees(x, s) && x.workers.some((w) => w.name === 'joiner') && x.timeline.some((e) => e.kind === 'join' && e.text.includes('joiner'))));
  const row = v.workers.find((w) => w.name === 'joiner').cells;
  h.check(row[2] === 'node-cpu' && row[3] === 'onnxruntime-node' && /GFLOP\/s$/.test(row[5]) && /\//.test(row[4]),
          `the joiner's row shows device, backend, memory and speed: ${row.join(' | ')}`);
  h.check(v.timeline.some((e) => e.kind === 'plan'), 'the timeline lists plans');

  // A request in flight (rows the page drew are recorded as they appear), then its latency percentiles.
  await page.evaluate(() => {
    window.seenRequests = [];
    new MutationObserver(() => {
      for (const tr of document.querySelectorAll('#requests tbody tr'))
        window.seenRequests.push([...tr.children].map((td) => td.textContent));
    }).observe(document.querySelector('#requests tbody'), { childList: true });
  });
  await h.prompt(tessera, port, 'The quick brown fox', { 'max-tokens': 200 });
  const seen = await page.evaluate(() => window.seenRequests);
  const running = seen.find((q) => q[1] === 'running' && Number(q[2]) > 0);
  h.check(running !== undefined, `a request in flight was shown with its tokens and tokens/s: ${running?.join(' | ')} (${seen.length} rows seen)`);
  ({ v } = await pageShows(page, port, 'latency percentiles', 30000, (x) => x.completed >= 1 && x.requests.length === 0));
  h.check(/ms$/.test(v.ttft[0]) && /ms$/.test(v.ttft[1]) && /ms$/.test(v.tpot[0]) && /ms$/.test(v.tpot[1]),
          `TTFT p50/p95 ${v.ttft.join(' / ')}, per token p50/p95 ${v.tpot.join(' / ')}`);

  // The first worker is killed.
  const before = status.plan_version;
  process.kill(h.workerPid(node.child.pid, 'first'), 'SIGKILL');
  ({ v, status } = await pageShows(page, port, 'the plan without the killed worker', 120000,
    (x, s) => agrees(x, s) && s.plan_version > before && !x.workers.some((w) => w.name === 'first') &&
              x.timeline.some((e) => e.kind === 'leave')));
  const ids = new Map(status.workers.map((w) => [String(w.id), w.name]));
  h.check(v.stages.length === 2 && v.stages.map((s) => ids.get(s.worker)).sort().join() === 'joiner,second',
          `the plan bar now shows second and joiner (v${v.version}): ${v.stages.map((s) => `${ids.get(s.worker)} [${s.layers})`).join(' ')}`);
  const leaveAt = v.timeline.findIndex((e) => e.kind === 'leave');
  const joinAt = v.timeline.findIndex((e) => e.kind === 'join' && e.text.includes('joiner'));
  h.check(leaveAt >= 0 && leaveAt < joinAt, `the timeline is newest first: "${v.timeline[leaveAt]?.text}" above "${v.timeline[joinAt]?.text}"`);

  fs.mkdirSync(artifactDir, { recursive: true });
  const shot = path.join(artifactDir, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  h.check(fs.statSync(shot).size > 1000, `screenshot kept: ${path.resolve(shot)}`);
  h.check(errors.length === 0, `no script error on the page (${errors.join('; ')})`);

  await browser.close();
  browser = null;
  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, 'the node stops cleanly');
  node = null;
  h.removeDir(dir);
  console.log('PASS e2e_dashboard');
} catch (e) {
  await h.fail(e, dir, { nodes: [node], browser });
}
process.exit(0);
