// Re-plans as the worker hears of them (ToWorker.plan_news): a bounded history,
// newest first, and one readable line per plan, e.g.
//   plan v3 — worker 4 (big) joined; … · you: [0,4) → [0,6) · worker 7 (laptop): new [6,12) · dropped: worker 2
// "you" is this worker (its id comes from Welcome). Pure: no DOM, no sockets.

export const REPLAN_HISTORY = 20;

const range = (a, b) => `[${a},${b})`;
const sameId = (a, b) => a !== undefined && a !== null && String(a) === String(b);

// One line for one PlanNews. `names` maps worker id (string) -> name for workers
// seen in earlier news, so dropped workers can be named too.
export function describePlanNews(news, selfId, names = new Map()) {
  const who = (id, name) => {
    if (sameId(id, selfId)) return 'you';
    const n = name || names.get(String(id));
    return n ? `worker ${id} (${n})` : `worker ${id}`;
  };
  const parts = [`plan v${news.plan_version}${news.why ? ` — ${news.why}` : ''}`];
  let mine = false;
  for (const s of news.stages ?? []) {
    mine ||= sameId(s.worker_id, selfId);
    const now = range(s.layer_begin, s.layer_end);
    let what;
    if (!s.had_previous) what = `new ${now}`;
    else if (s.previous_begin === s.layer_begin && s.previous_end === s.layer_end) what = `kept ${now}`;
    else what = `${range(s.previous_begin, s.previous_end)} → ${now}`;
    parts.push(`${who(s.worker_id, s.worker_name)}: ${what}`);
  }
  const dropped = news.dropped ?? [];
  if (dropped.length) parts.push(`dropped: ${dropped.map((id) => who(id)).join(', ')}`);
  if (!mine && selfId !== undefined && !dropped.some((id) => sameId(id, selfId))) parts.push('you: idle');
  return parts.join(' · ');
}

// The history a worker keeps: add() returns the entry it stored.
export class ReplanHistory {
  constructor(limit = REPLAN_HISTORY) {
    this.limit = limit;
    this.entries = [];  // newest first: { version, why, text, atMs, stages, dropped }
    this.names = new Map();
  }

  add(news, selfId, atMs = Date.now()) {
    const entry = {
      version: news.plan_version, why: news.why ?? '', text: describePlanNews(news, selfId, this.names), atMs,
      stages: (news.stages ?? []).map((s) => ({ ...s })), dropped: [...(news.dropped ?? [])],
    };
    for (const s of news.stages ?? []) if (s.worker_name) this.names.set(String(s.worker_id), s.worker_name);
    this.entries.unshift(entry);
    if (this.entries.length > this.limit) this.entries.length = this.limit;
    return entry;
  }

  list() { return this.entries.map((e) => ({ ...e })); }
}
