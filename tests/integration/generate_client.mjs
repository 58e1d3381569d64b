// A /ws/generate client for tests and benchmarks that need request fields
// `tessera prompt` does not send (prompt_ids, "cache": false): one request per
// call on its own socket; resolves { tokens, done, statuses, ms_to_first } or
// rejects with the node's error frame.
import path from 'node:path';
import { repoRoot } from './harness.mjs';

const { connectWebSocket } = await import(path.join(repoRoot, 'webworker', 'node', 'ws_client.mjs'));

export async function generate(port, request, { timeoutMs = 120000 } = {}) {
  const ws = await connectWebSocket(`ws://127.0.0.1:${port}/ws/generate`);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const tokens = [];
    const statuses = [];
    let msToFirst;
    const timer = setTimeout(() => {
      ws.close(1000, 'timeout');
      reject(new Error(`no done frame within ${timeoutMs} ms for ${JSON.stringify(request).slice(0, 120)}`));
    }, timeoutMs);
    ws.onmessage = (data) => {
      const m = JSON.parse(data);
      if ('token' in m) {
        msToFirst ??= performance.now() - started;
        tokens.push(m.token);
      } else if (m.status) {
        statuses.push(m);
      } else if (m.done || m.error) {
        clearTimeout(timer);
        ws.close(1000, 'done');
        if (m.error) reject(new Error(`node error: ${m.error} (${m.code})`));
        else resolve({ tokens, done: m, statuses, ms_to_first: msToFirst });
      }
    };
    ws.onclose = ({ code }) => {
      clearTimeout(timer);
      reject(new Error(`socket closed (${code}) before done`));
    };
    ws.send(JSON.stringify(request));
  });
}
