// onnxruntime-node behind a worker thread. onnxruntime-node creates sessions
// and runs them synchronously on the calling thread (measured: a 64 MB session
// create held the event loop ~1.1 s, one 2-GFLOP run ~110 ms), so a worker that
// computed on its main thread could not answer heartbeats while it worked. This
// module exposes the subset of the `ort` API the worker core uses —
// `Tensor`, `InferenceSession.create(pathOrBytes, options)`, `session.run(feeds)`,
// `session.release()`, `inputNames`/`outputNames`/`inputMetadata`/`outputMetadata`
// — with every session living in its own worker thread. Feeds are copied to the
// thread; outputs come back transferred (no copy).
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

const plain = (t) => ({ type: t.type, dims: [...t.dims], data: t.data });
const tensor = (p) => new ort.Tensor(p.type, p.data, p.dims);

class ThreadSession {
  constructor(worker) {
    this.worker = worker;
    this.calls = new Map();
    this.nextId = 1;
    this.dead = null;
    worker.on('message', (m) => {
      const call = this.calls.get(m.id);
      if (!call) return;
      this.calls.delete(m.id);
      if (m.error) call.reject(new Error(m.error));
      else call.resolve(m.result);
    });
    const failAll = (why) => {
      this.dead = why;
      for (const c of this.calls.values()) c.reject(new Error(why));
      this.calls.clear();
    };
    worker.on('error', (e) => failAll(`ORT thread failed: ${e.message}`));
    worker.on('exit', (code) => failAll(`ORT thread exited with code ${code}`));
  }

  call(msg, transfer = []) {
    if (this.dead) return Promise.reject(new Error(this.dead));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  async run(feeds) {
    const plainFeeds = {};
    for (const [name, t] of Object.entries(feeds)) plainFeeds[name] = plain(t);
    const outputs = await this.call({ op: 'run', feeds: plainFeeds });
    const result = {};
    for (const [name, p] of Object.entries(outputs)) result[name] = tensor(p);
    return result;
  }

  async release() {
    if (this.dead) return;
    try {
      await this.call({ op: 'release' });
    } finally {
      await this.worker.terminate();
    }
  }
}

// Starts a thread, creates the session there; rejects with ORT's message.
async function createThreadSession(source, options = {}) {
  const session = new ThreadSession(new Worker(new URL(import.meta.url)));
  // bytes are copied once, then moved to the thread; a path goes as it is
  const src = source instanceof Uint8Array ? source.slice() : source;
  try {
    Object.assign(session, await session.call({ op: 'create', source: src, options },
                                              src instanceof Uint8Array ? [src.buffer] : []));
  } catch (e) {
    await session.worker.terminate();
    throw e;
  }
  return session;
}

export const threadedOrt = Object.freeze({
  Tensor: ort.Tensor,
  InferenceSession: Object.freeze({ create: createThreadSession }),
});

// The thread side: one session per thread, one call at a time (postMessage order).
if (!isMainThread && parentPort) {
  let session = null;
  parentPort.on('message', async (m) => {
    try {
      if (m.op === 'create') {
        session = await ort.InferenceSession.create(m.source, m.options);
        const meta = {
          inputNames: session.inputNames, outputNames: session.outputNames,
          inputMetadata: session.inputMetadata, outputMetadata: session.outputMetadata,
        };
        parentPort.postMessage({ id: m.id, result: structuredClone(meta) });
      } else if (m.op === 'run') {
        const feeds = {};
        for (const [name, p] of Object.entries(m.feeds)) feeds[name] = tensor(p);
        const result = await session.run(feeds);
        const outputs = {};
        const transfer = [];
        for (const [name, t] of Object.entries(result)) {
          outputs[name] = plain(t);
          if (!transfer.includes(t.data.buffer)) transfer.push(t.data.buffer);
        }
        parentPort.postMessage({ id: m.id, result: outputs }, transfer);
      } else if (m.op === 'release') {
        await session?.release();
        session = null;
        parentPort.postMessage({ id: m.id, result: {} });
      }
    } catch (e) {
      parentPort.postMessage({ id: m.id, error: e.message });
    }
  });
}
