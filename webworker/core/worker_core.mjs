// The worker's protocol loop, shared by the browser page and the Node process.
// It speaks net/proto/worker.proto over one WebSocket: Hello on connect; Welcome
// starts the heartbeat; Assign downloads the shard files (sha256-checked, cached
// by the shell's store, Progress frames), loads the stage and answers Loaded;
// Forward cuts the sequence's KV to `position`, runs the stage and answers Result;
// Release drops a sequence's KV or keeps it as a cached prefix (Release.keep;
// core/kv_keeper.mjs: LRU within the KV budget, evictions reported in Evicted
// frames), and a Forward may fork from a cached prefix (fork_from); PlanNews (a re-plan started serving) goes into a
// bounded history (status.replans, newest first). Heartbeats carry how many
// sequences, KV positions and bytes the worker holds, and what its cache holds. Frames are handled one at a time, in order,
// except a Probe (a link probe of the node), which is echoed the moment it arrives.
//
// The shell supplies (see node/worker.mjs, browser/main.mjs):
//   ort, deviceKind, threads, name, memoryBytes, sessionOptions,
//   hiddenDtype ('float32' default, or 'float16': boundary tensors sent as FLOAT16)
//   connect(url) -> transport { send(Uint8Array), close(code, reason), onmessage(data, binary), onclose({code, reason}) }
//   store: { cachedShardIds(), has(id, file), writer(id, file) -> { write(chunk), commit(sha256Hex), abort() }, markComplete(id, files) }
//   createSession(id, files) -> ORT session for the stage (files[0] is the graph)
//   fetch (defaults to globalThis.fetch), log(level, msg)
//   onPlanNews(entry) (optional): called with each re-plan's history entry ({ version, why, text, ... })
import * as wire from './wire.mjs';
import { StageRunner, StageError, ErrorCode } from './stage_runner.mjs';
import { KvKeeper } from './kv_keeper.mjs';
import { stageFromSession } from './manifest.mjs';
import { measureSpeed } from './benchmark.mjs';
import { ReplanHistory } from './plan_news.mjs';

const now = () => (globalThis.performance ?? Date).now();

export class WorkerCore {
  constructor(shell, { onStatus = () => {}, benchmark = true } = {}) {
    this.shell = shell;
    this.onStatus = onStatus;
    this.benchmark = benchmark;
    this.log = shell.log ?? ((level, msg) => console.log(`[${level}] ${msg}`));
    this.fetch = shell.fetch ?? globalThis.fetch.bind(globalThis);
    this.runner = null;
    this.assign = null;
    this.queue = Promise.resolve();
    this.status = {
      state: 'idle', layers: null, shard: '', tokensServed: 0, stepsServed: 0, bytesDone: 0, bytesTotal: 0,
      kvSequences: 0, kvTokens: 0, replans: [],
    };
    this.replans = new ReplanHistory();
    this.flopsPerS = 0;
  }

  #setStatus(patch) {
    Object.assign(this.status, patch);
    try { this.onStatus({ ...this.status }); } catch { /* a UI error must not stop the worker */ }
  }

  // Measures speed once (cached across reconnects).
  async measure() {
    if (!this.benchmark) return this.flopsPerS;
    if (!this.flopsPerS) {
      const r = await measureSpeed(this.shell.ort, this.shell.sessionOptions ?? {});
      this.flopsPerS = r.flopsPerS;
      this.log('info', `benchmark flops_per_s=${(r.flopsPerS / 1e9).toFixed(2)}G runs=${r.runs} ms_per_run=${r.msPerRun.toFixed(2)}`);
    }
    return this.flopsPerS;
  }

  // Connects, serves until the socket closes; resolves with { code, reason }.
  async run(url) {
    this.url = url;
    const u = new URL(url);
    this.httpBase = `${u.protocol === 'wss:' ? 'https:' : 'http:'}//${u.host}/`;
    this.joinToken = u.searchParams.get('token');  // shard downloads present it too
    const flops = await this.measure();
    // a new connection may be a restarted node reusing sequence ids: keep the
    // loaded stage (a re-Assign of it is instant) but no KV
    this.runner?.releaseAll();
    this.keeper?.clear();
    this.#setStatus({ state: 'connecting' });
    const ws = await this.shell.connect(url);
    this.ws = ws;
    const closed = new Promise((resolve) => {
      ws.onclose = (info) => {
        this.#stopHeartbeat();
        this.#setStatus({ state: 'disconnected' });
        this.log('info', `socket closed code=${info.code} reason=${info.reason || '-'}`);
        resolve(info);
      };
    });
    ws.onmessage = (data, binary) => {
      if (!binary) {
        this.#sendError(ErrorCode.BAD_FRAME, 'text frames are not part of the worker protocol');
        return;
      }
      let msg;
      try {
        msg = wire.decodeToWorker(data);
      } catch (e) {
        this.log('warn', `malformed frame bytes=${data.length}: ${e.message}`);
        this.#sendError(ErrorCode.BAD_FRAME, `malformed frame: ${e.message}`);
        return;
      }
      // A link probe is answered at once, ahead of queued frames: the node times
      // the link, not the queue.
      if (msg.body === 'probe') return this.#send({ echo: { seq: msg.probe.seq, payload: msg.probe.payload } });
      this.queue = this.queue.then(() => this.#handle(msg)).catch((e) => this.log('error', `handler: ${e.stack ?? e}`));
    };
    this.#send({
      hello: {
        protocol_version: wire.PROTOCOL_VERSION, device_kind: this.shell.deviceKind, memory_bytes: this.shell.memoryBytes,
        flops_per_s: flops, cached_shards: await this.shell.store.cachedShardIds(), name: this.shell.name ?? '',
        threads: this.shell.threads ?? 0,
      },
    });
    this.#setStatus({ state: 'connected' });
    return closed;
  }

  close(code = 1000, reason = 'worker stopping') {
    this.#stopHeartbeat();
    this.ws?.close(code, reason);
  }

  #send(msg) {
    if (!this.ws) return;
    this.ws.send(wire.encodeFromWorker(msg));
  }

  #sendError(code, message, f = {}) {
    this.#send({ error: { code, message, request_id: f.request_id ?? 0, sequence_id: f.sequence_id ?? 0 } });
  }

  async #handle(msg) {
    switch (msg.body) {
      case 'welcome': return this.#welcome(msg.welcome);
      case 'assign': return this.#assign(msg.assign);
      case 'forward': return this.#forward(msg.forward);
      case 'release': return this.#release(msg.release);
      case 'heartbeat': return undefined;
      case 'plan_news': return this.#planNews(msg.plan_news);
      case 'error':
        this.log('warn', `node error code=${msg.error.code}: ${msg.error.message}`);
        return undefined;
      default: return undefined;
    }
  }

  #welcome(w) {
    if (w.protocol_version !== wire.PROTOCOL_VERSION) {
      this.log('error', `node speaks protocol ${w.protocol_version}, this worker ${wire.PROTOCOL_VERSION}`);
      this.close(1002, `protocol version ${w.protocol_version} unsupported`);
      return;
    }
    this.workerId = w.worker_id;
    this.#stopHeartbeat();
    const every = Math.max(50, Math.floor((w.heartbeat_ms || 5000) / 2));
    this.heartbeat = setInterval(() => this.#beat(), every);
    this.#setStatus({ state: 'connected', workerId: w.worker_id });
    this.log('info', `welcome worker_id=${w.worker_id} heartbeat_ms=${w.heartbeat_ms}`);
  }

  // What the worker holds right now: { sequences, kvTokens } of live sequences (the
  // node's leak check compares these), and kvBytes (live and cached), cachedSequences,
  // cachedBytes, evictions, kvBudget of its prefix cache.
  kvHeld() {
    const k = this.keeper;
    const seqs = (this.runner?.sequences() ?? []).filter((q) => !k?.isCached(q));
    let kvTokens = 0;
    for (const q of seqs) kvTokens += this.runner.kvLength(q);
    return {
      sequences: seqs.length, kvTokens, kvBytes: this.runner?.kvBytes() ?? 0, cachedSequences: k?.cached.size ?? 0,
      cachedBytes: k?.cachedBytes() ?? 0, evictions: k?.evictions ?? 0, kvBudget: k?.budget ?? 0,
    };
  }

  #beat() {
    const h = this.kvHeld();
    const { sequences, kvTokens } = h;
    this.#send({
      heartbeat: {
        unix_ms: Date.now(), sequences, kv_tokens: kvTokens, kv_bytes: h.kvBytes, cached_sequences: h.cachedSequences,
        cached_bytes: h.cachedBytes, evictions: h.evictions, kv_budget: h.kvBudget,
      },
    });
    if (sequences !== this.status.kvSequences || kvTokens !== this.status.kvTokens)
      this.#setStatus({ kvSequences: sequences, kvTokens });
  }

  #planNews(n) {
    const entry = this.replans.add(n, this.workerId);
    try { this.shell.onPlanNews?.(entry); } catch { /* a shell's display error must not stop the worker */ }
    this.#setStatus({ replans: this.replans.list() });
  }

  #stopHeartbeat() {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  async #assign(a) {
    if (this.runner && this.assign?.shard_id === a.shard_id) {
      // Already loaded (a reconnect, or a standby now asked to serve it).
      if (this.assign.standby && !a.standby) this.log('info', `serving shard=${a.shard_id} it stood by for`);
      this.assign = a;
      if (a.kv_budget) this.keeper.budget = Number(a.kv_budget);
      this.#setStatus({ state: a.standby ? 'standby' : 'serving' });
      this.#send({ loaded: { shard_id: a.shard_id, ok: true } });
      return;
    }
    if (!a.files.length) {
      this.#send({ loaded: { shard_id: a.shard_id, ok: false, error: 'Assign has no files' } });
      return;
    }
    const layers = [a.layer_begin, a.layer_end];
    let downloadMs = 0;
    let loadMs = 0;
    try {
      if (this.runner) {
        await this.runner.dispose();
        this.runner = null;
        this.keeper = null;
        this.assign = null;
      }
      const t0 = now();
      await this.#download(a);
      downloadMs = now() - t0;
      this.#setStatus({ state: 'loading', shard: a.shard_id, layers });
      const t1 = now();
      const session = await this.shell.createSession(a.shard_id, a.files);
      const stage = stageFromSession(session, { file: a.files[0].name, layers });
      this.runner = new StageRunner(this.shell.ort, session, stage);
      this.keeper = new KvKeeper(this.runner, kvBudgetOf(a, this.shell.memoryBytes));
      this.assign = a;
      loadMs = now() - t1;
    } catch (e) {
      this.log('error', `load shard=${a.shard_id} failed: ${e.message}`);
      this.#setStatus({ state: 'error', error: e.message });
      this.#send({ loaded: { shard_id: a.shard_id, ok: false, error: e.message, download_ms: downloadMs, load_ms: loadMs } });
      return;
    }
    this.log('info', `loaded shard=${a.shard_id} layers=${layers[0]}-${layers[1]}${a.standby ? ' (standing by)' : ''} download_ms=${downloadMs.toFixed(0)} load_ms=${loadMs.toFixed(0)}`);
    this.#setStatus({ state: a.standby ? 'standby' : 'serving', shard: a.shard_id, layers, head: a.head });
    this.#send({ loaded: { shard_id: a.shard_id, ok: true, download_ms: downloadMs, load_ms: loadMs } });
  }

  async #download(a) {
    const { store } = this.shell;
    const missing = [];
    for (const f of a.files) if (!(await store.has(a.shard_id, f))) missing.push(f);
    const total = missing.reduce((s, f) => s + Number(f.bytes || 0), 0);
    let done = 0;
    let lastSent = 0;
    const progress = (force) => {
      const t = now();
      if (!force && t - lastSent < 200) return;
      lastSent = t;
      this.#send({ progress: { shard_id: a.shard_id, bytes_done: done, bytes_total: total } });
      this.#setStatus({ state: 'downloading', shard: a.shard_id, bytesDone: done, bytesTotal: total });
    };
    if (missing.length) progress(true);
    for (const f of missing) {
      const url = new URL(f.url, this.httpBase).toString();
      const fetchUrl = new URL(url);
      if (this.joinToken) fetchUrl.searchParams.set('token', this.joinToken);
      const res = await this.fetch(fetchUrl.toString());
      if (!res.ok) throw new StageError(`download ${url}: HTTP ${res.status}`, ErrorCode.LOAD_FAILED);
      const sink = await store.writer(a.shard_id, f);
      let got = 0;
      try {
        const reader = res.body.getReader();
        for (;;) {
          const { done: end, value } = await reader.read();
          if (end) break;
          await sink.write(value);
          got += value.length;
          done += value.length;
          progress(false);
        }
        if (f.bytes && got !== Number(f.bytes))
          throw new StageError(`download ${url}: got ${got} bytes, Assign says ${f.bytes}`, ErrorCode.LOAD_FAILED);
        await sink.commit(f.sha256);
      } catch (e) {
        await sink.abort?.();
        throw e;
      }
    }
    if (missing.length) progress(true);
    await store.markComplete(a.shard_id, a.files);
  }

  async #forward(f) {
    const runner = this.runner;
    if (!runner) return this.#sendError(ErrorCode.NOT_LOADED, 'no stage loaded', f);
    if (f.shard_id && f.shard_id !== this.assign.shard_id)
      return this.#sendError(ErrorCode.NOT_LOADED, `worker serves shard ${this.assign.shard_id}, Forward is for ${f.shard_id}`, f);
    const { ort } = this.shell;
    try {
      const inputs = {};
      if (runner.dataInputNames.includes('input_ids')) {
        if (!f.token_ids.length) throw new StageError('first stage needs token_ids', ErrorCode.BAD_INPUT);
        if (f.seq_len && f.seq_len !== f.token_ids.length)
          throw new StageError(`seq_len ${f.seq_len} but ${f.token_ids.length} token_ids`, ErrorCode.BAD_INPUT);
        const ids = BigInt64Array.from(f.token_ids, (t) => BigInt(t));
        inputs.input_ids = new ort.Tensor('int64', ids, [1, ids.length]);
      } else {
        for (const t of f.tensors) {
          const r = wire.readWireTensor(t);
          inputs[r.name] = new ort.Tensor(r.dtype, r.data, r.dims);
        }
      }
      this.#prepareKv(f);
      const { outputs, seqLen, computeMs } = await runner.step(f.sequence_id, {
        position: f.position, inputs, sampling: runner.sample ? f.sampling ?? undefined : undefined,
      });
      const result = {
        request_id: f.request_id, sequence_id: f.sequence_id, step: f.step, compute_ms: computeMs,
        shard_id: this.assign.shard_id, tensors: [], token_ids: [], logits: [],
      };
      for (const [name, t] of Object.entries(outputs)) {
        if (name === 'next_token') result.token_ids = Array.from(t.data, (v) => Number(v));
        else if (name === 'logits') result.logits.push(wire.makeWireTensor(name, t.type, t.dims, t.data));
        else if (this.shell.hiddenDtype === 'float16' && t.type === 'float32') result.tensors.push(wire.makeWireTensorF16(name, t.dims, t.data));
        else result.tensors.push(wire.makeWireTensor(name, t.type, t.dims, t.data));
      }
      this.#send({ result });
      this.#setStatus({ tokensServed: this.status.tokensServed + seqLen, stepsServed: this.status.stepsServed + 1 });
    } catch (e) {
      const code = e instanceof StageError ? e.code : ErrorCode.RUN_FAILED;
      this.log('warn', `forward request=${f.request_id} seq=${f.sequence_id} step=${f.step} failed: ${e.message}`);
      this.#sendError(code, e.message, f);
    }
    return undefined;
  }

  // Before a Forward runs: the sequence is live (not a cached prefix), starts
  // from its fork when it names one, and cached KV makes room for its new positions.
  #prepareKv(f) {
    const { runner, keeper } = this;
    const seq = f.sequence_id;
    keeper.drop(seq);
    try {
      if (f.fork_from) {
        const have = runner.kvLength(f.fork_from);
        if (have < f.fork_length)
          throw new StageError(`cache miss: sequence ${f.fork_from} holds ${have} KV positions, fork asks for ${f.fork_length}`, ErrorCode.CACHE_MISS);
        keeper.makeRoom(seq, f.fork_length, { protect: [f.fork_from] });
        keeper.touch(f.fork_from);
        runner.fork(f.fork_from, seq, f.fork_length);
      }
      const seqLen = f.seq_len || f.token_ids.length || Number(f.tensors[0]?.shape[1] ?? 0);
      keeper.makeRoom(seq, f.position + seqLen);
    } finally {
      this.#reportEvicted();
    }
  }

  // Tells the node which cached sequences are gone (its index drops them).
  #reportEvicted() {
    const ids = this.keeper?.takeEvicted() ?? [];
    if (!ids.length) return;
    this.log('info', `evicted cached sequences=${ids.join(',')} budget=${this.keeper.budget}`);
    this.#send({ evicted: { sequence_ids: ids } });
  }

  #release(r) {
    if (!this.runner) return;
    if (r.keep && this.keeper.keep(r.sequence_id)) {
      this.keeper.trim();
      this.#reportEvicted();
      return;
    }
    this.keeper.drop(r.sequence_id);
    this.runner.release(r.sequence_id);
  }
}

// The KV budget of a stage: the Assign's, else the memory left beside the shard's files.
export function kvBudgetOf(assign, memoryBytes) {
  if (assign.kv_budget) return Number(assign.kv_budget);
  const files = assign.files.reduce((s, f) => s + Number(f.bytes || 0), 0);
  return Math.max(0, Number(memoryBytes || 0) - files);
}

// "2GB", "512MiB", "1.5G", "1000000" -> bytes, with the node config's units
// (actors/node_config.cpp): K/M/G/T and KB/MB/GB/TB are powers of 1000,
// KiB/MiB/GiB/TiB powers of 1024. Throws naming the bad value.
export function parseBytes(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(i?)b?|b)?\s*$/i.exec(String(text));
  if (!m || (m[3] && !/b\s*$/i.test(String(text)))) {
    throw new Error(`'${text}' is not a size (e.g. 2GB, 512MiB, 1000000)`);
  }
  const power = { k: 1, m: 2, g: 3, t: 4 }[(m[2] ?? '').toLowerCase()] ?? 0;
  return Math.round(Number(m[1]) * (m[3] ? 1024 : 1000) ** power);
}
