// Browser workers: two headless Chromium pages (the real worker page, ORT-web
// WASM) plus one node worker form the pipeline (none of them can hold the model
// alone) and produce exactly the tokens of the whole model in onnxruntime-node;
// each page shows the layer range it serves.
//   node e2e_browser.mjs TESSERA_BINARY [PRESET]
import path from 'node:path';
import * as h from './harness.mjs';

const [tessera, preset = 'small'] = process.argv.slice(2);
const { launchBrowser, haveChromium } = await import(path.join(h.repoRoot, 'webworker', 'testing', 'chromium.mjs'));
if (!haveChromium()) {
  console.log('SKIP: no Chromium');
  process.exit(0);
}
h.watchdog(600000, 'e2e_browser');
const dir = h.tmpDir('tessera-browser-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const config = h.writeConfig(dir, { modelDir, workers: [{ name: 'node-worker', memory: '90MB' }] });
const MAX = 12;
const prompts = ['The quick brown fox', 'Hello, world'];

let node;
let browser;
try {
  const refs = h.reference(modelDir, MAX, prompts);
  node = await h.startNode(tessera, config, dir, { waitReady: false });
  browser = await launchBrowser();
  const pages = [];
  for (const [name, memory] of [['chromium-1', '160MB'], ['chromium-2', '120MB']]) {
    const page = await browser.context.newPage();
    await page.goto(`http://127.0.0.1:${node.port}/?reconnect=0&threads=1&name=${name}&memory=${memory}`);
    pages.push({ name, page });
  }
  const status = await h.waitStatus(node.port, 'a plan over the browser and node workers', 240000, (s) => s.ready);
  const served = status.workers.filter((w) => w.layers);
  h.check(served.length === 3, `three workers serve: ${served.map((w) => `${w.name} (${w.device}) [${w.layers[0]},${w.layers[1]})`).join(', ')}`);
  h.check(served.filter((w) => w.device === 'wasm' || w.device === 'webgpu').length === 2, 'two of them are browser workers');
  for (const { name, page } of pages) {
    const w = status.workers.find((x) => x.name === name);
    const shown = (await page.textContent('#layers')).trim();
    h.check(shown === `${w.layers[0]}–${w.layers[1]}`, `page ${name} shows its layer range "${shown}"`);
  }
  for (const p of prompts) {
    const r = await h.prompt(tessera, node.port, p, { 'max-tokens': MAX });
    h.check(JSON.stringify(r.tokens) === JSON.stringify(refs[p]), `greedy "${p}" through the browsers equals the whole model (${r.tokens.length} tokens)`);
  }
  await browser.close();
  browser = null;
  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, 'the node stops cleanly');
  node = null;
  h.removeDir(dir);
  console.log('PASS e2e_browser');
} catch (e) {
  await h.fail(e, dir, { nodes: [node], browser });
}
process.exit(0);
