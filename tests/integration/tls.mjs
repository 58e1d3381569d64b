// Helpers for tests of a node that serves https/wss: certificates from
// `tessera certs`, JSON over https trusting a CA, and a bounded wait.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { connectWebSocket } from '../../webworker/node/ws_client.mjs';

// `tessera certs --out DIR --host ...`; returns the file paths and the CA's PEM text.
export function makeCerts(tessera, dir, hosts = []) {
  execFileSync(tessera, ['certs', '--out', dir, ...hosts.flatMap((x) => ['--host', x])], { stdio: ['ignore', 'pipe', 'pipe'] });
  const file = (n) => path.join(dir, n);
  return { ca: file('ca.pem'), cert: file('node.pem'), key: file('node.key'), caPem: fs.readFileSync(file('ca.pem'), 'utf8') };
}

// base64 SHA-256 of the node certificate's public key (Chromium's --ignore-certificate-errors-spki-list).
export function spkiHash(certFile) {
  const leaf = new crypto.X509Certificate(fs.readFileSync(certFile));
  return crypto.createHash('sha256').update(leaf.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
}

// GET https://127.0.0.1:port/p as JSON, trusting caPem (undefined: Node's default CAs only).
export function httpsJson(port, p, caPem) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: p, ca: caPem, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => { try { resolve(JSON.parse(body)); } catch (e) { reject(e); } });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

// Resolves with probe()'s first truthy value (errors count as "not yet"); rejects after ms.
export async function until(what, ms, probe) {
  const deadline = Date.now() + ms;
  for (;;) {
    let v;
    try { v = await probe(); } catch { v = undefined; }
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// One /ws/generate request from Node (ws:// or wss:// trusting caPem): resolves
// { tokens, timings } when done, { error, code } on an error frame, or { closed, reason }.
export async function wsGenerate(url, caPem, prompt, maxTokens) {
  const ws = await connectWebSocket(url, { ca: caPem, timeoutMs: 5000 });
  const tokens = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${url}: no reply within 60 s`)), 60000);
    ws.onmessage = (data) => {
      const m = JSON.parse(data);
      if ('token' in m) tokens.push(m.token);
      if (m.error || m.done) {
        clearTimeout(t);
        ws.close(1000);
        resolve(m.error ? { error: m.error, code: m.code } : { tokens, timings: m.timings });
      }
    };
    ws.onclose = ({ code, reason }) => { clearTimeout(t); resolve({ closed: code, reason, tokens }); };
    ws.send(JSON.stringify({ prompt, max_tokens: maxTokens }));
  });
}
