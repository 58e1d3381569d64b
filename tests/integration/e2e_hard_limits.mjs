// Hard limits against a real node with real workers on 127.0.0.1. Every crash
// input from the field is answered with an error that names the limit it
// crossed, the node keeps serving (a normal prompt afterwards gives exactly the
// whole model's tokens), and no live worker is dropped meanwhile:
//  A. default limits: JSON nested 60,000 deep in prompt_ids and in stop (120 KB
//     frames), a prompt in curly quotes, a prompt over max_prompt_bytes, two
//     60 MB frames at once; the same kinds on the OpenAI routes; a WebSocket
//     upgrade from another site's page (both sockets); files outside the worker
//     page; a worker whose name holds a newline (no forged log line).
//  B. limits raised so that two 60 MB prompts reach the tokenizer at once: each
//     is refused for the context length, and heartbeats are not starved.
//   node e2e_hard_limits.mjs TESSERA_BINARY [PRESET]
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import * as h from './harness.mjs';
import { connectWebSocket } from '../../webworker/node/ws_client.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
h.watchdog(600000, 'e2e_hard_limits');
const dir = h.tmpDir('tessera-limits-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const MEM = '36000000';  // two workers that hold the tiny model only together
const workers = [{ name: 'a', memory: MEM }, { name: 'b', memory: MEM }];
const PROMPT = 'The quick brown fox';
const MAX = 24;
const NEST = 60000;
const nested = '['.repeat(NEST) + ']'.repeat(NEST);
const SIXTY_MB = 60_000_000;

// One /ws/generate socket: next() resolves the next JSON frame, or rejects with
// the close (code and reason) or after `ms`.
async function openClient(port) {
  const ws = await connectWebSocket(`ws://127.0.0.1:${port}/ws/generate`);
  const inbox = [];
  let closed = null;
  let wake = () => {};
  ws.onmessage = (data) => { inbox.push(JSON.parse(data)); wake(); };
  ws.onclose = (c) => { closed = c; wake(); };
  const next = (ms = 30000) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no frame within ${ms} ms`)), ms);
    const tryNow = () => {
      if (inbox.length) { clearTimeout(timer); wake = () => {}; return resolve(inbox.shift()); }
      if (closed) { clearTimeout(timer); wake = () => {}; return reject(Object.assign(new Error(`closed ${closed.code} ${closed.reason}`), closed)); }
      wake = tryNow;
    };
    tryNow();
  });
  const closedP = (ms = 30000) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket not closed within ${ms} ms`)), ms);
    const poll = () => (closed ? (clearTimeout(timer), resolve(closed)) : (wake = poll));
    poll();
  });
  return { ws, next, closedP };
}

// A greedy generation over an open client; resolves the token ids.
async function generate(client, text = PROMPT) {
  client.ws.send(JSON.stringify({ prompt: text, max_tokens: MAX, temperature: 0 }));
  const tokens = [];
  for (;;) {
    const m = await client.next(60000);
    if ('token' in m) tokens.push(m.token);
    if (m.error) throw new Error(`generation failed: ${m.error}`);
    if (m.done) return tokens;
  }
}

async function expectError(client, frame, pattern, what) {
  client.ws.send(frame);
  const m = await client.next();
  h.check(typeof m.error === 'string' && pattern.test(m.error), `${what}: answered ${JSON.stringify(m).slice(0, 160)}`);
}

// One raw HTTP request; resolves { status, body }.
function request(port, method, p, { body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, timeout: 30000 }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode, body: '' }); });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${p}: timeout`)));
    req.end(body);
  });
}

const post = (port, p, body) => request(port, 'POST', p, { body, headers: { 'Content-Type': 'application/json' } });
const workerIds = (s) => s.workers.map((w) => w.id).sort().join(',');

// Samples /api/status while `work` runs; resolves what changed in the worker set.
async function watchWorkers(port, expected, work) {
  const seen = new Set();
  let running = true;
  const sampler = (async () => {
    while (running) {
      try { seen.add(workerIds(await h.getJson(port, '/api/status'))); } catch (e) { seen.add(`status failed: ${e.message}`); }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    await work();
  } finally {
    running = false;
    await sampler;
  }
  return [...seen].filter((ids) => ids !== expected);
}

// tessera_gateway_ws_bytes_in_total from /metrics (served by the gateway thread).
function bytesIn(port) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/metrics', timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(Number(/^tessera_gateway_ws_bytes_in_total (\d+)$/m.exec(text)[1])));
    }).on('error', reject);
  });
}

async function waitBytesIn(port, atLeast, ms = 120000) {
  const deadline = Date.now() + ms;
  while ((await bytesIn(port)) < atLeast) {
    if (Date.now() > deadline) throw new Error(`the gateway did not read ${atLeast} bytes within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let node;
try {
  const ref = h.reference(modelDir, MAX, [PROMPT])[PROMPT];
  h.check(ref.length >= 8, `the whole model's reference for "${PROMPT}" has ${ref.length} tokens`);

  // ---- A: default limits ----
  const dirA = path.join(dir, 'a');
  fs.mkdirSync(dirA);
  node = await h.startNode(tessera, h.writeConfig(dirA, { modelDir, workers, restart: 'never' }), dirA);
  const port = node.port;
  const ids = workerIds(node.status);
  const replans = node.status.replans.length;
  const client = await openClient(port);
  h.check(JSON.stringify(await generate(client)) === JSON.stringify(ref), 'a normal prompt first gives the whole model\'s tokens');

  const changedA = await watchWorkers(port, ids, async () => {
    const deepIds = `{"prompt_ids": ${nested}}`;
    h.check(deepIds.length > 120000, `the deep prompt_ids frame is ${deepIds.length} bytes`);
    await expectError(client, deepIds, /nests deeper than 64 levels \(limits\.max_json_depth\)/, 'prompt_ids nested 60,000 deep');
    await expectError(client, `{"prompt": "hi", "stop": ${nested}}`, /limits\.max_json_depth/, 'stop nested 60,000 deep');
    await expectError(client, '{"prompt": \u201chello\u201d}', /^malformed JSON/, 'a prompt in curly quotes');
    await expectError(client, JSON.stringify({ prompt: 'a'.repeat(1_500_000) }),
                      /prompt is 1500000 bytes; the limit is 1048576 \(limits\.max_prompt_bytes\)/, 'a 1.5 MB prompt');
    h.check(JSON.stringify(await generate(client)) === JSON.stringify(ref), 'the same socket then serves a normal prompt exactly');

    // Two 60 MB prompts at once: each refused by the frame limit, with a reason.
    const big = JSON.stringify({ prompt: 'x'.repeat(SIXTY_MB) });
    const floods = await Promise.all([0, 1].map(async () => {
      const c = await openClient(port);
      c.ws.send(big);
      const first = await c.next(60000);
      const closed = await c.closedP(60000);
      return { first, closed };
    }));
    for (const [i, { first, closed }] of floods.entries()) {
      h.check(first.code === 'frame_too_big' && /frame over 2097152 bytes \(limits\.client_frame\)/.test(first.error),
              `60 MB prompt ${i + 1}: ${first.error}`);
      h.check(closed.code === 1009 && /limits\.client_frame/.test(closed.reason), `60 MB prompt ${i + 1}: closed ${closed.code} "${closed.reason}"`);
    }

    // The same inputs on the OpenAI routes.
    const model = node.status.model.name;
    let r = await post(port, '/v1/completions', `{"model": "${model}", "prompt": ${nested}}`);
    h.check(r.status === 400 && /limits\.max_json_depth/.test(JSON.parse(r.body).error.message), `/v1/completions nested 60,000 deep: ${r.status}`);
    r = await post(port, '/v1/completions', `{"model": "${model}", "prompt": \u201chello\u201d}`);
    h.check(r.status === 400 && /not valid JSON/.test(JSON.parse(r.body).error.message), `/v1/completions in curly quotes: ${r.status}`);
    r = await post(port, '/v1/chat/completions',
                   JSON.stringify({ model, messages: [{ role: 'user', content: 'b'.repeat(1_500_000) }] }));
    h.check(r.status === 400 && /1500000 bytes; the limit is 1048576 \(limits\.max_prompt_bytes\)/.test(JSON.parse(r.body).error.message),
            `a 1.5 MB chat message: ${r.status} ${r.body.slice(0, 160)}`);
    r = await post(port, '/v1/completions', JSON.stringify({ model, prompt: 'c'.repeat(3_000_000) }));
    h.check(r.status === 413 && /request body over 2097152 bytes \(limits\.http_body\)/.test(r.body), `a 3 MB body: ${r.status} ${r.body}`);
    r = await post(port, '/v1/completions', JSON.stringify({ model, prompt: PROMPT, max_tokens: MAX, temperature: 0 }));
    h.check(r.status === 200 && JSON.parse(r.body).usage.completion_tokens === ref.length,
            `/v1/completions then serves a normal prompt (${r.status})`);
  });
  h.check(changedA.length === 0, `no worker was dropped during the crash inputs (worker sets seen besides ${ids}: ${JSON.stringify(changedA)})`);

  // Hygiene: origins, files, log fields.
  for (const p of ['/ws/generate', '/ws/worker']) {
    const headers = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
                      'Sec-WebSocket-Version': '13', Origin: 'http://evil.example' };
    const r = await request(port, 'GET', p, { headers });
    h.check(r.status === 403 && /websocket origin 'http:\/\/evil\.example' is not allowed/.test(r.body), `${p} from http://evil.example: ${r.status}`);
  }
  for (const p of ['/package.json', '/node_modules/onnxruntime-web/package.json', '/node/worker.mjs'])
    h.check((await request(port, 'GET', p)).status === 404, `${p} is not served`);
  for (const p of ['/', '/browser/main.mjs', '/core/wire.mjs', '/ort/ort.wasm.min.mjs'])
    h.check((await request(port, 'GET', p)).status === 200, `${p} (the worker page) is served`);

  const forged = 'FORGED node: planner stopped';
  const evil = h.startWorker(port, `evil\n${forged}`, '1000000', path.join(dirA, 'evil-cache'));
  const withEvil = await h.waitStatus(port, 'the worker with a newline in its name to join', 30000,
                                      (s) => s.workers.some((w) => w.name.startsWith('evil')));
  const shown = withEvil.workers.find((w) => w.name.startsWith('evil')).name;
  h.check(shown === `evil\\n${forged}`, `/api/status shows the name escaped: ${JSON.stringify(shown)}`);
  evil.kill('SIGKILL');
  h.check(JSON.stringify(await generate(client)) === JSON.stringify(ref), 'a normal prompt at the end still gives the whole model\'s tokens');
  h.check((await h.getJson(port, '/api/status')).replans.length >= replans, 'the node still answers /api/status');
  const logA = fs.readFileSync(node.logFile, 'utf8');
  h.check(!logA.split('\n').some((l) => l.startsWith(forged)), 'the worker name forged no log line');
  h.check(!/worker=\d+ name=[ab] disconnect/.test(logA), 'the node log shows no worker of the plan disconnected');
  await h.stopNode(node);
  node = undefined;

  // ---- B: limits raised so that 60 MB prompts reach the tokenizer ----
  const dirB = path.join(dir, 'b');
  fs.mkdirSync(dirB);
  const raised = { client_frame: '"128MiB"', max_prompt_bytes: '"128MiB"' };
  node = await h.startNode(tessera, h.writeConfig(dirB, { modelDir, workers, restart: 'never', limits: raised }), dirB);
  const idsB = workerIds(node.status);
  const changedB = await watchWorkers(node.port, idsB, async () => {
    const big = JSON.stringify({ prompt: 'y'.repeat(SIXTY_MB) });
    const bytesBefore = await bytesIn(node.port);
    const order = [];
    const bigs = [0, 1].map(async (i) => {
      const c = await openClient(node.port);
      c.ws.send(big);
      const m = await c.next(180000);
      order.push(`60 MB prompt ${i + 1}`);
      c.ws.close();
      return m;
    });
    // Once the gateway has read both frames (their parsing and tokenising take
    // seconds), a normal prompt must not wait for them.
    await waitBytesIn(node.port, bytesBefore + 2 * big.length);
    const normal = await generate(await openClient(node.port));
    order.push('normal prompt');
    const answers = await Promise.all(bigs);
    for (const [i, m] of answers.entries())
      h.check(m.code === 'prompt_too_long' && /prompt is 60000001 tokens; the context holds 256/.test(m.error),
              `tokenised 60 MB prompt ${i + 1}: ${m.error}`);
    h.check(JSON.stringify(normal) === JSON.stringify(ref), 'a normal prompt during the tokenising gives the whole model\'s tokens');
    h.check(order[0] === 'normal prompt', `the normal prompt finished first, not starved by the tokenising (${order.join(', ')})`);
  });
  h.check(changedB.length === 0, `no worker was dropped while two 60 MB prompts were tokenised (${JSON.stringify(changedB)})`);
  const clientB = await openClient(node.port);
  h.check(JSON.stringify(await generate(clientB)) === JSON.stringify(ref), 'then a normal prompt gives the whole model\'s tokens');
  h.check(!/disconnect reason=/.test(fs.readFileSync(node.logFile, 'utf8')), 'the node log shows no worker disconnected');
  await h.stopNode(node);
  node = undefined;
  h.killAll();
  h.removeDir(dir);
  console.log('PASS e2e_hard_limits');
  process.exit(0);
} catch (e) {
  await h.fail(e, dir, { nodes: [node] });
}
