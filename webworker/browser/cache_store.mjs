// The browser worker's shard cache in Cache Storage (so a returning participant
// does not download again), keyed by content id:
//   /tessera-shards/<id>/<name>       file bytes (stored after the sha256 matched)
//   /tessera-shards/<id>/.complete    JSON list of {name, sha256, bytes}
// Falls back to memory only where Cache Storage is unavailable. Bytes of the
// shard being loaded are kept in memory too, so loading reads no cache back.
const CACHE = 'tessera-shards-v1';
const key = (id, name) => new URL(`/tessera-shards/${encodeURIComponent(id)}/${encodeURIComponent(name)}`, location.origin).toString();

async function sha256Hex(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class CacheStore {
  constructor() {
    this.memory = new Map();  // key -> Uint8Array (recent downloads)
    this.cache = null;
  }

  async open() {
    try {
      if (globalThis.caches) this.cache = await caches.open(CACHE);
    } catch {
      this.cache = null;
    }
    return this;
  }

  async #json(k) {
    const r = await this.cache?.match(k);
    return r ? r.json() : null;
  }

  async cachedShardIds() {
    if (!this.cache) return [];
    const ids = [];
    for (const req of await this.cache.keys()) {
      const m = /\/tessera-shards\/([^/]+)\/\.complete$/.exec(new URL(req.url).pathname);
      if (m) ids.push(decodeURIComponent(m[1]));
    }
    return ids;
  }

  async has(id, f) {
    if (this.memory.has(key(id, f.name))) return true;
    const m = await this.#json(key(id, '.complete'));
    const e = m?.files?.find((x) => x.name === f.name);
    if (!e || (f.sha256 && e.sha256 !== f.sha256.toLowerCase())) return false;
    return !!(await this.cache.match(key(id, f.name)));
  }

  async writer(id, f) {
    const chunks = [];
    let size = 0;
    return {
      write: (chunk) => { chunks.push(chunk); size += chunk.length; },
      commit: async (sha256) => {
        const bytes = new Uint8Array(size);
        let off = 0;
        for (const c of chunks) { bytes.set(c, off); off += c.length; }
        chunks.length = 0;
        const got = await sha256Hex(bytes);
        if (sha256 && got !== sha256.toLowerCase()) throw new Error(`sha256 mismatch for ${id}/${f.name}: got ${got}, expected ${sha256}`);
        this.memory.set(key(id, f.name), bytes);
        if (this.cache) {
          try {
            await this.cache.put(key(id, f.name), new Response(bytes, { headers: { 'Content-Type': 'application/octet-stream' } }));
          } catch (e) {
            console.warn(`Cache Storage put failed for ${id}/${f.name}: ${e.message}`);
          }
        }
      },
      abort: () => { chunks.length = 0; },
    };
  }

  async markComplete(id, files) {
    if (!this.cache) return;
    const list = files.map((f) => ({ name: f.name, sha256: (f.sha256 || '').toLowerCase(), bytes: Number(f.bytes || 0) }));
    await this.cache.put(key(id, '.complete'), new Response(JSON.stringify({ files: list }), { headers: { 'Content-Type': 'application/json' } }));
  }

  // [{ name, bytes }] for createWebSession; keeps only this shard in memory.
  async files(id, files) {
    const out = [];
    for (const f of files) {
      const k = key(id, f.name);
      let bytes = this.memory.get(k);
      if (!bytes) {
        const r = await this.cache?.match(k);
        if (!r) throw new Error(`shard file ${id}/${f.name} is not cached`);
        bytes = new Uint8Array(await r.arrayBuffer());
      }
      out.push({ name: f.name, bytes });
    }
    for (const k of [...this.memory.keys()]) if (!k.includes(`/tessera-shards/${encodeURIComponent(id)}/`)) this.memory.delete(k);
    return out;
  }

  // Forget in-memory bytes (after the session holds its own copy).
  dropMemory() { this.memory.clear(); }
}
