// The Node worker's shard cache on disk, keyed by content id:
//   DIR/<shard id>/<file name>     the stage files, as the graph refers to them
//   DIR/<shard id>/.complete       JSON list of {name, sha256, bytes} once all are in
// Files are written to a temporary name while hashing and renamed after the
// sha256 matches, so a crash never leaves a file that looks complete.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const SAFE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

function safe(kind, name) {
  if (!SAFE.test(name) || name.includes('..')) throw new Error(`unsafe ${kind} '${name}' (letters, digits, . _ - only)`);
  return name;
}

export class DiskStore {
  constructor(dir) {
    this.dir = path.resolve(dir);
    mkdirSync(this.dir, { recursive: true });
  }

  shardDir(id) { return path.join(this.dir, safe('shard id', id)); }
  filePath(id, name) { return path.join(this.shardDir(id), safe('file name', name)); }

  #manifest(id) {
    try {
      return JSON.parse(readFileSync(path.join(this.shardDir(id), '.complete'), 'utf8'));
    } catch {
      return null;
    }
  }

  async cachedShardIds() {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir).filter((id) => SAFE.test(id) && this.#manifest(id));
  }

  async has(id, f) {
    const m = this.#manifest(id);
    const entry = m?.files?.find((e) => e.name === f.name);
    if (!entry || (f.sha256 && entry.sha256 !== f.sha256.toLowerCase())) return false;
    try {
      return !f.bytes || statSync(this.filePath(id, f.name)).size === Number(f.bytes);
    } catch {
      return false;
    }
  }

  async writer(id, f) {
    const final = this.filePath(id, f.name);
    mkdirSync(path.dirname(final), { recursive: true });
    const tmp = `${final}.part-${process.pid}`;
    const out = createWriteStream(tmp);
    const hash = createHash('sha256');
    const finished = new Promise((resolve, reject) => { out.on('finish', resolve); out.on('error', reject); });
    return {
      write: (chunk) => {
        hash.update(chunk);
        if (!out.write(chunk)) return new Promise((r) => out.once('drain', r));
        return undefined;
      },
      commit: async (sha256) => {
        out.end();
        await finished;
        const got = hash.digest('hex');
        if (sha256 && got !== sha256.toLowerCase()) {
          rmSync(tmp, { force: true });
          throw new Error(`sha256 mismatch for ${id}/${f.name}: got ${got}, expected ${sha256}`);
        }
        renameSync(tmp, final);
      },
      abort: async () => {
        out.destroy();
        rmSync(tmp, { force: true });
      },
    };
  }

  async markComplete(id, files) {
    const list = files.map((f) => ({ name: f.name, sha256: (f.sha256 || '').toLowerCase(), bytes: Number(f.bytes || 0) }));
    const file = path.join(this.shardDir(id), '.complete');
    writeFileSync(`${file}.tmp`, JSON.stringify({ files: list }));
    renameSync(`${file}.tmp`, file);
  }
}
