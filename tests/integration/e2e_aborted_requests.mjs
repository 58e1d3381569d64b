// 100 clients of /ws/generate hang up mid-stream (half with a close frame,
// half by dropping the TCP connection), ten at a time, each after its first
// few tokens. Nothing may leak: once they are gone, no request is active, the
// node's ledger and every worker's own count hold no sequence, the node's
// running actors are back to the baseline taken before any client, /metrics
// counts every request once (none failed), and a new request still gets the
// whole model's greedy reply.
//   node e2e_aborted_requests.mjs TESSERA_BINARY [PRESET]
import path from 'node:path';
import * as h from './harness.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
const { connectWebSocket } = await import(path.join(h.repoRoot, 'webworker', 'node', 'ws_client.mjs'));
h.watchdog(600000, 'e2e_aborted_requests');
const dir = h.tmpDir('tessera-aborted-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
// 32 MiB of scratch per stage: 35.6 MB holds about half of the tiny model with
// its KV, so the two workers serve a stage each and every step is relayed.
const config = h.writeConfig(dir, { modelDir, workers: [{ name: 'a', memory: '35600KB' }, { name: 'b', memory: '35600KB' }] });
const CLIENTS = 100;
const AT_ONCE = 10;

let baseline;
const leakView = (s) => `active ${s.requests?.active}, actors ${s.actors?.running} (baseline ${baseline}), ` +
  s.workers.map((w) => `${w.name} kv_sequences=${w.kv_sequences} worker_kv_sequences=${w.worker_kv_sequences}`).join(', ');
const noLeak = (s) => s.requests?.active === 0 && s.actors?.running === baseline &&
  s.workers.every((w) => w.kv_sequences === 0 && (w.worker_kv_sequences ?? 0) === 0);

// tessera_requests_total by outcome, from /metrics.
async function outcomes(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const count = (o) => Number(new RegExp(`^tessera_requests_total\\{outcome="${o}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
  return { completed: count('completed'), failed: count('failed'), cancelled: count('cancelled') };
}

// One client: asks for a long reply, hangs up after `after` tokens. Resolves
// false when the reply ended first (the model drew its end token): the caller
// asks again with another prompt.
async function abortedClient(port, i, attempt) {
  const ws = await connectWebSocket(`ws://127.0.0.1:${port}/ws/generate`);
  const after = 1 + (i % 4);
  let tokens = 0;
  const hungUp = await new Promise((resolve, reject) => {
    ws.onclose = ({ code, reason }) => reject(new Error(`client ${i}: the node closed the socket (${code} ${reason})`));
    ws.onmessage = (data) => {
      const m = JSON.parse(data);
      if (m.error) return reject(new Error(`client ${i}: ${m.error}`));
      if (m.done) return resolve(false);
      if ('token' in m && ++tokens === after) resolve(true);
    };
    ws.send(JSON.stringify({ prompt: `client ${i}.${attempt} asks a long question`, max_tokens: 200 }));
  });
  ws.onclose = () => {};
  if (!hungUp) ws.close(1000, 'done');
  else if (i % 2) ws.close(1000, 'bye');
  else ws.socket.destroy();
  return hungUp;
}

// Client i hangs up mid-stream (asking again until a reply outlasts its wait).
async function hangUp(port, i) {
  for (let attempt = 0; attempt < 20; ++attempt)
    if (await abortedClient(port, i, attempt)) return attempt;
  throw new Error(`client ${i}: 20 replies all ended within ${1 + (i % 4)} tokens`);
}

let node;
try {
  const ref = h.reference(modelDir, 12, ['The quick brown fox']);
  node = await h.startNode(tessera, config, dir);
  const port = node.port;
  const s0 = await h.settle(port, 'both workers serving', 60000, (s) => s.ready && s.workers.length === 2 && s.actors,
                            (s) => `ready ${s.ready}, ${s.workers.length} workers`);
  baseline = s0.actors.running;
  h.check(s0.plan.stages.length === 2, `baseline: ${baseline} actors running, two stages (${s0.plan.stages.map((x) => x.layers).join(' ')})`);
  const o0 = await outcomes(port);

  let retries = 0;
  for (let start = 0; start < CLIENTS; start += AT_ONCE) {
    const batch = [];
    for (let i = start; i < Math.min(CLIENTS, start + AT_ONCE); ++i) batch.push(hangUp(port, i));
    retries += (await Promise.all(batch)).reduce((a, b) => a + b, 0);
  }
  console.log(`# ${CLIENTS} clients hung up mid-stream (${retries} replies ended before their hang-up and were asked again)`);
  const settled = await h.settle(port, 'every aborted request to leave nothing behind', 30000, noLeak, leakView);
  h.check(settled.actors.running === baseline, `no leak: ${leakView(settled)}`);
  // Each request is counted once: cancelled, or completed when its end token
  // came before the hang-up reached it (and the replies that ended first).
  const o1 = await outcomes(port);
  const d = { completed: o1.completed - o0.completed, failed: o1.failed - o0.failed, cancelled: o1.cancelled - o0.cancelled };
  h.check(d.failed === 0 && d.cancelled > 0 && d.cancelled + d.completed === CLIENTS + retries,
          `/metrics counts every request once: ${JSON.stringify(d)} for ${CLIENTS + retries} requests`);

  const again = await h.prompt(tessera, port, 'The quick brown fox', { 'max-tokens': 12 });
  h.check(JSON.stringify(again.tokens) === JSON.stringify(ref['The quick brown fox']),
          'a request after the hang-ups gets the whole model\'s greedy reply');
  const exit = await h.stopNode(node);
  h.check(exit.code === 0, `SIGTERM stops the node (exit ${exit.code})`);
  node = null;
  h.removeDir(dir);
  console.log('PASS e2e_aborted_requests');
} catch (e) {
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
