// The worker's KV budget and its prefix cache. Finished sequences the node asks
// to keep (Release{keep}) stay in the StageRunner as cached prefixes, in
// least-recently-used order; a Forward may fork a new sequence from one of them.
// Before a step or a fork grows the KV, cached sequences are evicted, least
// recently used first, until live + cached KV fits the budget; only when the
// live sequences alone would not fit is the step refused. The KV held never
// exceeds the budget.
//
//   const keeper = new KvKeeper(runner, budgetBytes);
//   keeper.makeRoom(seq, positionsAfter, { protect });  // throws StageError KV_BUDGET
//   keeper.keep(seq); keeper.trim();
//   keeper.takeEvicted();  // ids evicted since the last call (the worker reports them)
//   keeper.touch(seq); keeper.drop(seq);
import { StageError, ErrorCode } from './stage_runner.mjs';

export class KvKeeper {
  constructor(runner, budgetBytes) {
    this.runner = runner;
    this.budget = Math.max(0, Number(budgetBytes) || 0);
    this.cached = new Set();  // insertion order = least recently used first
    this.evictions = 0;
    this.evicted = [];
  }

  takeEvicted() {
    const out = this.evicted;
    this.evicted = [];
    return out;
  }

  isCached(seq) { return this.cached.has(seq); }

  // Marks a held sequence as a cached prefix (most recently used). False when
  // the runner holds no KV for it.
  keep(seq) {
    if (!this.runner.kvLength(seq)) return false;
    this.cached.delete(seq);
    this.cached.add(seq);
    return true;
  }

  // A fork read this cached sequence: it becomes the most recently used.
  touch(seq) {
    if (!this.cached.delete(seq)) return;
    this.cached.add(seq);
  }

  // The sequence is live again, or released: no longer a cached prefix.
  drop(seq) { this.cached.delete(seq); }

  clear() { this.cached.clear(); }

  cachedBytes() {
    let total = 0;
    for (const q of this.cached) total += this.runner.kvBytesOf(q);
    return total;
  }

  // Evicts cached sequences, least recently used first, until the KV held fits
  // the budget (after a sequence became cached).
  trim() {
    for (const q of [...this.cached]) {
      if (!this.budget || this.runner.kvBytes() <= this.budget) break;
      this.#evict(q);
    }
  }

  #evict(q) {
    this.runner.release(q);
    this.cached.delete(q);
    this.evictions += 1;
    this.evicted.push(q);
  }

  // Evicts cached sequences (least recently used first, never those in
  // `protect`) until the KV held, with `seq` grown or cut to `positions`, fits
  // the budget. Throws KV_BUDGET when even without any cached sequence the live
  // ones would not fit.
  makeRoom(seq, positions, { protect = [] } = {}) {
    const perPosition = this.runner.kvBytesPerPosition();
    const need = () => this.runner.kvBytes() - this.runner.kvBytesOf(seq) + positions * perPosition;
    if (!this.budget) return;
    for (const q of [...this.cached]) {
      if (need() <= this.budget) break;
      if (q === seq || protect.includes(q)) continue;
      this.#evict(q);
    }
    const total = need();
    if (total > this.budget) {
      throw new StageError(`KV budget exceeded: sequence ${seq} at ${positions} positions needs ${total} bytes of KV ` +
        `in all, budget ${this.budget} (${this.cached.size} cached sequences left, ${this.cachedBytes()} bytes)`,
      ErrorCode.KV_BUDGET);
    }
  }
}
