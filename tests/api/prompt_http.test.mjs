// `tessera prompt --http` against a real node: the streamed POST
// /v1/completions prints the same text as the WebSocket path (greedy and
// seeded), --chat streams a chat reply equal to the API's whole one, --json
// prints each event's JSON, the final line gives the usage, and an error
// (an unknown model) exits 1 with OpenAI's message.
//   node prompt_http.test.mjs TESSERA_BINARY [PRESET]
import { spawn } from 'node:child_process';
import path from 'node:path';
import * as h from '../integration/harness.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
h.watchdog(300000, 'api_prompt_http');
const dir = h.tmpDir('tessera-prompt-http-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const config = h.writeConfig(dir, { modelDir, workers: [{ name: 'a', memory: '160MB' }, { name: 'b', memory: '160MB' }] });
const MAX = 16;

// Runs `tessera prompt ARGS`; resolves { code, out, err } (bounded by the watchdog).
function run(args) {
  return new Promise((resolve) => {
    const child = spawn(tessera, ['prompt', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

let node;
try {
  node = await h.startNode(tessera, config, dir);
  const port = node.port;
  const base = `http://127.0.0.1:${port}`;
  for (const [what, opts] of [['greedy', { 'max-tokens': MAX }],
    ['seeded', { 'max-tokens': MAX, temperature: 0.9, 'top-k': 40, seed: 7 }]]) {
    const ws = await h.prompt(tessera, port, 'Once upon a time', opts);
    const flags = Object.entries(opts).flatMap(([k, v]) => [`--${k}`, String(v)]);
    const r = await run(['--http', '--url', base, ...flags, 'Once upon a time']);
    h.check(r.code === 0 && r.out === `${ws.text}\n`, `${what}: --http prints the WebSocket path's text ${JSON.stringify(ws.text)}`);
    const want = `[${ws.done.finish_reason}: prompt ${ws.done.usage.prompt_tokens} tokens, reply ${ws.done.usage.completion_tokens} tokens]`;
    h.check(r.err.trim() === want, `${what}: stderr ends with the usage line ${want}`);
  }

  const json = await run(['--http', '--json', '--url', `${base}/v1`, '--max-tokens', String(MAX), 'Hello']);
  const lines = json.out.trim().split('\n').map((l) => JSON.parse(l));
  h.check(json.code === 0 && lines.length >= 2 && lines.every((l) => l.object === 'text_completion') &&
          lines.at(-1).usage?.completion_tokens > 0, `--json prints each of the ${lines.length} events' JSON, the usage last`);

  const whole = await (await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: node.status.model.name, messages: [{ role: 'user', content: 'Hi there' }], max_tokens: MAX }),
  })).json();
  const chat = await run(['--http', '--chat', '--url', base, '--max-tokens', String(MAX), '--quiet', 'Hi there']);
  h.check(chat.code === 0 && chat.out === `${whole.choices[0].message.content}\n` && chat.err === '',
          `--chat streams the chat reply ${JSON.stringify(whole.choices[0].message.content)}`);

  const bad = await run(['--http', '--url', base, '--model', 'gpt-4o', 'Hello']);
  h.check(bad.code === 1 && /HTTP 404: the model 'gpt-4o' does not exist/.test(bad.err), `an unknown model exits 1: ${bad.err.trim()}`);
  const refused = await run(['--http', '--url', 'http://127.0.0.1:1', 'Hello']);
  h.check(refused.code !== 0 && /127\.0\.0\.1:1/.test(refused.err), `no node at the URL: ${refused.err.trim()}`);

  const exit = await h.stopNode(node);
  h.check(exit.code === 0, `SIGTERM stops the node (exit ${exit.code})`);
  node = null;
  h.removeDir(dir);
  console.log('PASS api_prompt_http');
} catch (e) {
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
