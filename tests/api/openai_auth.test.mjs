// API keys on the OpenAI-compatible API of a real node ([auth] keys_file),
// driven by the official `openai` npm client: no key and a wrong key get 401
// (`invalid_api_key`, the client's AuthenticationError); a valid key is served;
// a key over its concurrent-request limit and one over its tokens-per-minute
// limit get 429 (`rate_limit_exceeded`, RateLimitError), streamed or not; the
// same limit refuses a /ws/generate request with an error frame. The node
// starts without workers, so a first request waits in the queue (holding its
// key's one concurrent slot) for as long as the test needs.
//   node openai_auth.test.mjs TESSERA_BINARY [PRESET]
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import OpenAI from 'openai';
import * as h from '../integration/harness.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
h.watchdog(300000, 'api_openai_auth');
const dir = h.tmpDir('tessera-api-auth-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const keysFile = path.join(dir, 'keys');
const addKey = (name, ...limits) =>
  execFileSync(tessera, ['keys', 'add', name, '--file', keysFile, ...limits], { stdio: ['ignore', 'pipe', 'pipe'] })
    .toString().trim();
const free = addKey('free');
const oneAtATime = addKey('one-at-a-time', '--concurrent', '1');
const tiny = addKey('tiny-budget', '--tokens-per-minute', '20');
const config = h.writeConfig(dir, {
  modelDir, workers: [], auth: { keys_file: `"${keysFile}"` },
});
const MAX = 16;

async function refused(call) {
  try {
    await call();
  } catch (e) {
    return { status: e.status, code: e.code, type: e.constructor.name, message: e.message };
  }
  throw new Error('the call was accepted');
}

let node;
try {
  node = await h.startNode(tessera, config, dir, { waitReady: false });
  // /api/status stays open: the node listens on loopback only.
  const model = (await h.waitStatus(node.port, 'the model name', 30000, (st) => st.model?.name)).model.name;
  const baseURL = `http://127.0.0.1:${node.port}/v1`;
  const client = (apiKey) => new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });
  const ask = (apiKey, extra = {}) =>
    client(apiKey).completions.create({ model, prompt: 'The quick brown fox', max_tokens: MAX, temperature: 0, ...extra });

  const none = await refused(() => ask('none'));
  h.check(none.status === 401 && none.code === 'invalid_api_key' && none.type === 'AuthenticationError',
          `a made-up key gets 401 invalid_api_key: ${JSON.stringify(none)}`);
  const noHeader = await fetch(`${baseURL}/completions`, { method: 'POST', body: '{}' });
  const noHeaderBody = await noHeader.json();
  h.check(noHeader.status === 401 && /missing API key/.test(noHeaderBody.error.message) &&
          noHeaderBody.error.code === 'invalid_api_key', `no Authorization header: 401 naming it (${noHeaderBody.error.message})`);
  const models = await refused(() => client('tsk_00000000_' + '0'.repeat(40)).models.list());
  h.check(models.status === 401, `/v1/models needs a key too (${models.status})`);

  // Concurrent-request limit 1: a call waiting for capacity holds the key's
  // slot, so a second call gets 429, streamed or not.
  const waiting = ask(oneAtATime);
  await h.waitStatus(node.port, 'the first call to wait in the queue', 30000, (st) => st.requests.active === 1);
  const busy = await refused(() => ask(oneAtATime));
  h.check(busy.status === 429 && busy.code === 'rate_limit_exceeded' && busy.type === 'RateLimitError' &&
          /1 concurrent/.test(busy.message), `second concurrent call: 429 rate_limit_exceeded (${busy.message})`);
  const busyStream = await refused(() => ask(oneAtATime, { stream: true }));
  h.check(busyStream.status === 429, `a streamed call over the limit gets HTTP 429 too (${busyStream.status})`);
  h.startWorker(node.port, 'a', '160MB', path.join(dir, 'cache'));
  const first = await waiting;
  h.check(first.choices[0].text.length > 0, 'the waiting call is served once a worker joins');
  const after = await ask(oneAtATime);
  h.check(after.choices[0].text.length > 0, 'once the first call ended, the key is served again');

  const ok = await ask(free);
  h.check(ok.choices[0].text.length > 0 && ok.usage.completion_tokens > 0, `a valid key is served: ${JSON.stringify(ok.usage)}`);
  h.check((await client(free).models.list()).data.some((m) => m.id === model), '/v1/models with a valid key');

  // Tokens-per-minute limit 20: one call of 16 + prompt tokens uses it up.
  const spent = await ask(tiny);
  h.check(spent.usage.total_tokens >= 20, `the first call used ${spent.usage.total_tokens} tokens`);
  const over = await refused(() => ask(tiny));
  h.check(over.status === 429 && over.code === 'rate_limit_exceeded' && /tokens per minute/.test(over.message),
          `over the tokens-per-minute limit: 429 (${over.message})`);

  // The same key limit on /ws/generate: an error frame naming the limit.
  const ws = await h.prompt(tessera, node.port, 'Hello', { 'max-tokens': 4, key: tiny }).catch((e) => e);
  h.check(ws instanceof Error && /rate limit exceeded: .*tokens per minute/.test(ws.message),
          `/ws/generate over the limit is refused with the reason: ${ws.message}`);
  const wsNoKey = await h.prompt(tessera, node.port, 'Hello', { 'max-tokens': 4 }).catch((e) => e);
  h.check(wsNoKey instanceof Error && /missing API key/.test(wsNoKey.message),
          `/ws/generate without a key is refused with the reason: ${wsNoKey.message}`);
  const wsOk = await h.prompt(tessera, node.port, 'Hello', { 'max-tokens': 4, key: free });
  h.check(wsOk.tokens.length === 4, '/ws/generate with a valid key is served');

  const code = await h.stopNode(node);
  h.check(code.code === 0, `node exited 0 (${JSON.stringify(code)})`);
  h.removeDir(dir);
  console.log('PASS api_openai_auth');
} catch (e) {
  await h.fail(e, dir, { nodes: [node] });
}
