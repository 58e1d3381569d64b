// The worker page served by the real C++ gateway (tests/net/page_server.cpp) in
// headless Chromium: the page is cross-origin isolated (COOP/COEP/CORP on every
// asset, ORT included), so it runs multithreaded WASM and says threads=2 in
// its Hello, which the C++ side decodes. Skips without Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

const server = process.env.TESSERA_PAGE_SERVER;
const webworker = process.env.TESSERA_WEBWORKER_DIR;
const { launchBrowser, haveChromium } = await import(path.join(webworker, 'testing', 'chromium.mjs'));
const skip = haveChromium() ? false : 'no Chromium';

function startServer() {
  const proc = spawn(server, [webworker], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const waiters = [];
  proc.stdout.on('data', (d) => {
    out += d;
    for (const w of waiters) w();
  });
  const waitFor = (re, ms) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${re} from page_server within ${ms} ms:\n${out}`)), ms);
    const check = () => {
      const m = out.match(re);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    waiters.push(check);
    check();
  });
  const stop = () => new Promise((resolve) => {
    proc.on('exit', resolve);
    proc.stdin.end();
  });
  return { waitFor, stop };
}

test('the worker page from the gateway is cross-origin isolated and joins with 2 WASM threads', { skip, timeout: 120000 }, async () => {
  const srv = startServer();
  const browser = await launchBrowser();
  try {
    const port = (await srv.waitFor(/PORT (\d+)/, 10000))[1];
    const page = await browser.context.newPage();
    await page.goto(`http://127.0.0.1:${port}/?reconnect=0&name=isolation&threads=2&memory=256MB`);
    assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true);
    const hello = await srv.waitFor(/HELLO device=(\S+) threads=(\d+) memory=(\d+) \S+ name=(\S+)/, 60000);
    assert.equal(hello[1], 'wasm');
    assert.equal(hello[2], '2');
    assert.equal(hello[3], String(256e6));  // MB = 10^6, as in the node config
    assert.equal(hello[4], 'isolation');
  } finally {
    await browser.close();
    await srv.stop();
  }
});
