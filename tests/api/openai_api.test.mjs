// The OpenAI-compatible HTTP API of a real node, driven by the official
// `openai` npm client: completions and chat, streamed and whole; greedy
// replies equal /ws/generate's (whose tokens equal the whole model's); stop,
// seed, usage, n, errors in OpenAI's shape; the README's curl lines; a client
// that hangs up mid-stream leaves no sequence on any worker; /health.
//   node openai_api.test.mjs TESSERA_BINARY [PRESET]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import * as h from '../integration/harness.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
h.watchdog(540000, 'api_openai_client');
const dir = h.tmpDir('tessera-api-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const config = h.writeConfig(dir, { modelDir, workers: [{ name: 'a', memory: '160MB' }, { name: 'b', memory: '160MB' }] });
const MAX = 16;
const prompts = ['The quick brown fox', 'Hello, world'];

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// Every chunk of a streamed call.
async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

// A call that must fail: its status and OpenAI error fields.
async function refused(call) {
  try {
    await call();
  } catch (e) {
    return { status: e.status, param: e.param, code: e.code, message: e.message };
  }
  throw new Error('the call was accepted');
}

let node;
try {
  const refs = h.reference(modelDir, MAX, prompts);
  node = await h.startNode(tessera, config, dir);
  const port = node.port;
  const model = node.status.model.name;
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0, timeout: 60000 });

  const health = await fetch(`http://127.0.0.1:${port}/health`);
  h.check(health.status === 200 && (await health.json()).status === 'ok', '/health is 200 while a plan serves');
  const models = await client.models.list();
  h.check(models.data.some((m) => m.id === model), `/v1/models lists ${model}`);

  // Greedy completions equal /ws/generate's reply, whose tokens equal the whole model's.
  for (const p of prompts) {
    const ws = await h.prompt(tessera, port, p, { 'max-tokens': MAX });
    h.check(same(ws.tokens, refs[p]), `/ws/generate "${p}" equals the whole model`);
    const whole = await client.completions.create({ model, prompt: p, max_tokens: MAX, temperature: 0 });
    const c = whole.choices[0];
    h.check(whole.object === 'text_completion' && c.text === ws.text, `completion "${p}" equals the model's greedy text`);
    h.check(whole.usage.completion_tokens === refs[p].length && whole.usage.prompt_tokens > 0 &&
            whole.usage.total_tokens === whole.usage.prompt_tokens + whole.usage.completion_tokens,
            `completion "${p}" usage ${JSON.stringify(whole.usage)}`);
    h.check(c.finish_reason === (refs[p].length === MAX ? 'length' : 'stop'), `finish_reason ${c.finish_reason}`);
    const chunks = await collect(await client.completions.create({
      model, prompt: p, max_tokens: MAX, stream: true, stream_options: { include_usage: true } }));
    const text = chunks.map((k) => k.choices[0]?.text ?? '').join('');
    const last = chunks[chunks.length - 1];
    h.check(text === ws.text, `streamed completion "${p}" equals the whole one (${chunks.length} chunks)`);
    h.check(last.choices.length === 0 && same(last.usage, whole.usage), 'the stream ends with the usage chunk');
    h.check(chunks[chunks.length - 2].choices[0].finish_reason === c.finish_reason, 'the chunk before it has the finish_reason');
  }

  // Chat: the first delta carries the role; whole and streamed agree; no usage chunk unless asked.
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }];
  const chat = await client.chat.completions.create({ model, messages, max_tokens: MAX });
  h.check(chat.object === 'chat.completion' && chat.choices[0].message.role === 'assistant' &&
          chat.choices[0].message.content.length > 0, `chat reply ${JSON.stringify(chat.choices[0].message.content)}`);
  const chatChunks = await collect(await client.chat.completions.create({ model, messages, max_tokens: MAX, stream: true }));
  h.check(chatChunks[0].object === 'chat.completion.chunk' && chatChunks[0].choices[0].delta.role === 'assistant',
          'the first chat chunk carries the role');
  h.check(chatChunks.map((k) => k.choices[0].delta.content ?? '').join('') === chat.choices[0].message.content,
          'the streamed chat reply equals the whole one');
  h.check(chatChunks.every((k) => !k.usage) && chatChunks.at(-1).choices[0].finish_reason === chat.choices[0].finish_reason,
          'no usage chunk without stream_options; the last chunk has the finish_reason');

  // stop: the reply ends before the stop string's first occurrence.
  const full = (await h.prompt(tessera, port, prompts[0], { 'max-tokens': MAX })).text;
  const stopAt = full.slice(4, 6);
  const stopped = await client.completions.create({ model, prompt: prompts[0], max_tokens: MAX, stop: [stopAt] });
  h.check(stopped.choices[0].text === full.slice(0, full.indexOf(stopAt)) && stopped.choices[0].finish_reason === 'stop',
          `stop ${JSON.stringify(stopAt)} cuts the reply (${JSON.stringify(stopped.choices[0].text)})`);

  // seed: the same seed gives the same sampled reply.
  const sampled = { model, prompt: 'Once upon a time', max_tokens: MAX, temperature: 0.9, top_p: 0.95, top_k: 40, seed: 1234 };
  const s1 = await client.completions.create(sampled);
  const s2 = await client.completions.create(sampled);
  h.check(s1.choices[0].text.length > 0 && s1.choices[0].text === s2.choices[0].text, 'a seeded sampled reply repeats');

  // n: several choices, each with its index; greedy ones are all the model's reply.
  const many = await client.completions.create({ model, prompt: prompts[1], max_tokens: MAX, n: 3, temperature: 0 });
  h.check(many.choices.length === 3 && many.choices.every((c, i) => c.index === i && c.text === many.choices[0].text),
          'n=3 gives three greedy choices');
  h.check(many.usage.completion_tokens === 3 * refs[prompts[1]].length, `n=3 usage counts every choice (${many.usage.completion_tokens})`);

  // Errors in OpenAI's shape.
  const tools = await refused(() => client.chat.completions.create({
    model, messages, tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }));
  h.check(tools.status === 400 && tools.param === 'tools' && tools.code === 'unsupported_parameter', `tools: ${tools.message}`);
  const bias = await refused(() => client.completions.create({ model, prompt: 'x', logit_bias: { 1: 5 } }));
  h.check(bias.status === 400 && bias.param === 'logit_bias', `logit_bias: ${bias.message}`);
  const temp = await refused(() => client.completions.create({ model, prompt: 'x', temperature: 7 }));
  h.check(temp.status === 400 && temp.param === 'temperature', `temperature 7: ${temp.message}`);
  const other = await refused(() => client.chat.completions.create({ model: 'gpt-4o', messages }));
  h.check(other.status === 404 && other.code === 'model_not_found', `unknown model: ${other.message}`);
  const long = await refused(() => client.completions.create({ model, prompt: 'x'.repeat(400), max_tokens: 4 }));
  h.check(long.status === 400 && /context/.test(long.message), `a prompt past the context: ${long.message}`);

  // The README's curl lines, as written there but for the port and the model.
  const readme = fs.readFileSync(path.join(h.repoRoot, 'README.md'), 'utf8');
  const curls = readme.split('\n').filter((l) => l.startsWith('curl -N http://127.0.0.1:8080/v1/'));
  h.check(curls.length === 2, 'the README has two curl examples');
  for (const line of curls) {
    const cmd = line.replace('127.0.0.1:8080', `127.0.0.1:${port}`).replace('"MODEL"', JSON.stringify(model));
    const out = execFileSync('bash', ['-c', `${cmd} -sS --max-time 60`]).toString();
    const events = out.split('\n\n').filter(Boolean);
    h.check(events.at(-1) === 'data: [DONE]' && events.slice(0, -1).every((e) => e.startsWith('data: {')),
            `curl -N gets ${events.length} SSE events ending with [DONE]`);
  }

  // A client that hangs up mid-stream: the request ends and every ledger is back to zero.
  const before = await h.getJson(port, '/api/status');
  const abort = new AbortController();
  const long_stream = await client.completions.create(
    { model, prompt: prompts[0], max_tokens: 200, stream: true }, { signal: abort.signal });
  let seen = 0;
  try {
    for await (const c of long_stream) {
      if (c.choices.length > 0 && ++seen === 3) {
        abort.abort();
        break;
      }
    }
  } catch {}
  h.check(seen === 3, `the client hung up after three chunks (${seen} seen)`);
  // The request ends either cancelled (failed +1) or, where a loaded machine
  // delivers the TCP close only after the last of its 200 tokens, completed
  // (done +1); either way once, with every ledger back to zero. That a hang-up
  // stops generation early is proven under load by integration_e2e_aborted_requests.
  const after = await h.settle(port, 'the aborted request to end and release its sequences', 10000,
    (s) => s.requests.active === 0 &&
           (s.requests.failed - before.requests.failed) + (s.requests.done - before.requests.done) === 1 &&
           s.workers.every((w) => w.kv_sequences === 0 && (w.worker_kv_sequences ?? 0) === 0),
    (s) => `active ${s.requests.active}, failed +${s.requests.failed - before.requests.failed}, ` +
           `done +${s.requests.done - before.requests.done}, ` +
           `kv ${s.workers.map((w) => `${w.kv_sequences}/${w.worker_kv_sequences}`).join(' ')}`);
  const generated = after.requests.tokens_generated - before.requests.tokens_generated;
  if (after.requests.failed > before.requests.failed)
    h.check(generated < 200, `generation stopped after the hang-up, before max_tokens (${generated} of 200 tokens)`);
  else
    console.log(`# the reply's ${generated} tokens were all made before the node saw the hang-up (a loaded machine)`);

  // No worker: /health is 503 with the reason.
  for (const pid of h.childPids(node.child.pid)) process.kill(pid, 'SIGKILL');
  let unhealthy;
  for (const deadline = Date.now() + 15000; Date.now() < deadline;) {
    const r = await fetch(`http://127.0.0.1:${port}/health`);
    unhealthy = { status: r.status, body: await r.json() };
    if (r.status === 503) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  h.check(unhealthy.status === 503, `/health turns 503 once the workers are gone (${JSON.stringify(unhealthy)})`);
  h.check(unhealthy.body.reason.length > 0, `/health 503 says why: ${unhealthy.body.reason}`);

  const exit = await h.stopNode(node);
  h.check(exit.code === 0, `SIGTERM stops the node (exit ${exit.code})`);
  node = null;
  h.removeDir(dir);
  console.log('PASS api_openai_client');
} catch (e) {
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
