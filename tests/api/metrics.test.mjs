// /metrics of a real node in Prometheus' text format: read by an npm parser
// (parse-prometheus-text-format) and by a strict checker of the format's rules
// (prometheus_check.mjs, shown to reject broken copies), and moved by real
// requests by exactly the right amounts: requests by outcome (completed,
// failed, cancelled), tokens, the TTFT and per-token histograms, the per-stage
// step histogram, relayed bytes, then a worker SIGKILLed under a request:
// a leave, a re-plan, a recovery. Queue depth and requests in flight end at 0.
//   node metrics.test.mjs TESSERA_BINARY [PRESET]
import path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import * as h from '../integration/harness.mjs';
import { parseStrict } from './prometheus_check.mjs';

const [tessera, preset = 'tiny'] = process.argv.slice(2);
h.watchdog(540000, 'api_metrics');
const dir = h.tmpDir('tessera-metrics-');
const modelDir = h.buildModel(tessera, preset, path.join(dir, 'model'));
const config = h.writeConfig(dir, {
  modelDir, restart: 'never', heartbeatMs: 300, heartbeatTimeoutMs: 1500,
  // 32 MiB of scratch per stage: 35.6 MB holds about half of the tiny model
  // with its KV, so two workers serve two stages and the third stands by.
  workers: [{ name: 'a', memory: '35600KB' }, { name: 'b', memory: '35600KB' }, { name: 'c', memory: '35600KB' }],
});
const MAX = 12;

let port;
async function scrape() {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const type = res.headers.get('content-type');
  if (!type.startsWith('text/plain; version=0.0.4')) throw new Error(`/metrics content type ${type}`);
  const text = await res.text();
  const strict = parseStrict(text);
  const parsed = parsePrometheusTextFormat(text);
  return { text, strict, parsed };
}

// The value of one sample, from the strict reader (0 when the series is absent:
// a labelled series appears with its first sample). `suffix`: a histogram's
// "count" or "sum".
function value(sc, name, labels = {}, suffix = '') {
  const fam = sc.strict.families.get(name);
  if (!fam) return 0;
  const sample = suffix ? `${name}_${suffix}` : name;
  const same = (l) => JSON.stringify(Object.entries(l).sort()) === JSON.stringify(Object.entries(labels).sort());
  return fam.samples.find((x) => x.name === sample && same(x.labels))?.value ?? 0;
}

// Both readers agree on every family's type and on every counter's and gauge's
// values (the npm parser keeps no labels of histogram series, so those are
// compared by their unlabelled ones only).
function readersAgree(sc) {
  for (const f of sc.parsed) {
    const mine = sc.strict.families.get(f.name);
    if (!mine || mine.type !== f.type.toLowerCase()) return `${f.name}: ${f.type} vs ${mine?.type}`;
    if (f.type === 'HISTOGRAM') {
      const unlabelled = mine.samples.every((x) => x.name.endsWith('_bucket') ? Object.keys(x.labels).length === 1 : !Object.keys(x.labels).length);
      if (unlabelled && Number(f.metrics[0].count) !== value(sc, f.name, {}, 'count'))
        return `${f.name}_count ${f.metrics[0].count} vs ${value(sc, f.name, {}, 'count')}`;
      continue;
    }
    for (const m of f.metrics)
      if (Number(m.value) !== value(sc, f.name, m.labels ?? {})) return `${f.name}${JSON.stringify(m.labels ?? {})}: ${m.value}`;
  }
  return sc.parsed.length === sc.strict.families.size ? '' : `${sc.parsed.length} vs ${sc.strict.families.size} families`;
}

const completion = async (body, signal) => fetch(`http://127.0.0.1:${port}/v1/completions`, {
  method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal });

let node;
try {
  node = await h.startNode(tessera, config, dir);
  port = node.port;
  const model = node.status.model.name;
  const stages = node.status.plan.stages.length;

  const m0 = await scrape();
  const names = m0.parsed.map((f) => f.name);
  h.check(readersAgree(m0) === '', `the npm parser and the strict reader agree (${readersAgree(m0) || 'types and values'})`);
  for (const want of ['tessera_requests_total', 'tessera_tokens_generated_total', 'tessera_time_to_first_token_seconds',
    'tessera_time_per_output_token_seconds', 'tessera_queue_depth', 'tessera_replans_total', 'tessera_worker_joins_total',
    'tessera_worker_leaves_total', 'tessera_recoveries_total', 'tessera_relayed_bytes_total', 'tessera_requests_active',
    'tessera_workers', 'tessera_gateway_http_requests_total'])
    h.check(names.includes(want) && m0.strict.families.has(want), `/metrics has ${want} (both parsers)`);
  h.check(m0.parsed.find((f) => f.name === 'tessera_time_to_first_token_seconds').type === 'HISTOGRAM' &&
          m0.strict.families.get('tessera_requests_total').help.length > 0, 'types and help texts are read back');
  h.check(value(m0, 'tessera_worker_joins_total') === 3 && value(m0, 'tessera_workers') === 3,
          'three workers joined');
  h.check(stages === 2, `two stages serve (${JSON.stringify(node.status.plan.stages.map((x) => x.layers))})`);
  h.check(value(m0, 'tessera_replans_total') >= 1, `a plan was made (${value(m0, 'tessera_replans_total')} re-plans)`);

  // The strict checker rejects broken copies of this very exposition.
  const broken = {
    'a histogram without its +Inf bucket': m0.text.replace(/^tessera_time_to_first_token_seconds_bucket\{le="\+Inf"\}.*\n/m, ''),
    'a second TYPE line': m0.text.replace('# TYPE tessera_queue_depth gauge\n', '# TYPE tessera_queue_depth gauge\n# TYPE tessera_queue_depth gauge\n'),
    'a label value with a bad escape': m0.text.replace('outcome="completed"', 'outcome="comp\\leted"'),
    'a counter without _total': m0.text.replaceAll('tessera_recoveries_total', 'tessera_recoveries'),
    'a series twice': `${m0.text}tessera_queue_depth 0\n`,
  };
  for (const [what, text] of Object.entries(broken)) {
    let threw = false;
    try { parseStrict(text); } catch { threw = true; }
    h.check(text !== m0.text && threw, `the strict checker rejects ${what}`);
  }

  // Three whole completions: counters move by their usage.
  const replies = [];
  for (const prompt of ['The quick brown fox', 'Hello, world', 'Once upon a time'])
    replies.push((await (await completion({ model, prompt, max_tokens: MAX, temperature: 0 })).json()).usage);
  const tokens = replies.reduce((n, u) => n + u.completion_tokens, 0);
  // One request that fails inside the runtime: a prompt past the context.
  const long = await completion({ model, prompt: 'x'.repeat(400), max_tokens: 4 });
  h.check(long.status === 400, `a prompt past the context is refused (${long.status})`);
  const m1 = await scrape();
  h.check(readersAgree(m1) === '', `after the requests the two readers still agree ${readersAgree(m1)}`);
  // The prefix cache's series agree with /api/status (the index, and each
  // worker's Heartbeat once the planner's view of it has caught up).
  const st1 = await h.settle(port, 'every serving worker to report its KV budget', 15000,
    (s) => s.workers.filter((w) => w.cache?.kv_budget > 0).length >= stages,
    (s) => s.workers.map((w) => `${w.id}:${w.cache?.kv_budget}`).join(' '));
  const mc = await scrape();
  h.check(value(mc, 'tessera_prefix_cache_lookups_total') === st1.prefix_cache.lookups &&
          value(mc, 'tessera_prefix_cache_hits_total') === st1.prefix_cache.hits && st1.prefix_cache.lookups >= 1,
          `prefix_cache_lookups_total ${value(mc, 'tessera_prefix_cache_lookups_total')} and hits_total equal /api/status (${st1.prefix_cache.lookups}, ${st1.prefix_cache.hits})`);
  const budgets = st1.workers.filter((w) => w.cache?.kv_budget > 0);
  h.check(budgets.every((w) => value(mc, 'tessera_worker_kv_budget_bytes', { worker: String(w.id) }) === w.cache.kv_budget),
          `tessera_worker_kv_budget_bytes{worker} equals each serving worker's budget in /api/status (${budgets.map((w) => `${w.id}:${w.cache.kv_budget}`).join(' ')})`);
  const d = (name, labels, suffix) => value(m1, name, labels, suffix) - value(m0, name, labels, suffix);
  h.check(d('tessera_requests_total', { outcome: 'completed' }) === 3, 'requests_total{outcome="completed"} +3');
  h.check(d('tessera_requests_total', { outcome: 'failed' }) === 1, 'requests_total{outcome="failed"} +1');
  h.check(d('tessera_tokens_generated_total') === tokens, `tokens_generated_total +${tokens} (the usage of the replies)`);
  h.check(d('tessera_time_to_first_token_seconds', {}, 'count') === 3, 'time_to_first_token_seconds_count +3');
  h.check(d('tessera_time_to_first_token_seconds', {}, 'sum') > 0, 'time_to_first_token_seconds_sum grew');
  h.check(d('tessera_time_per_output_token_seconds', {}, 'count') === tokens - 3,
          `time_per_output_token_seconds_count +${tokens - 3} (every token but each first)`);
  h.check(m1.strict.families.get('tessera_stage_step_seconds')?.type === 'histogram', '/metrics has tessera_stage_step_seconds');
  for (let s = 0; s < stages; ++s)
    h.check(d('tessera_stage_step_seconds', { stage: String(s) }, 'count') === tokens,
            `stage_step_seconds{stage="${s}"}_count +${tokens} (one step per token)`);
  // Stage 0 relays one hidden state per position: the prompt's at prefill, one per decode step.
  const positions = replies.reduce((n, u) => n + u.prompt_tokens + u.completion_tokens - 1, 0);
  h.check(d('tessera_relayed_bytes_total') === positions * 64 * 4,
          `relayed_bytes_total +${d('tessera_relayed_bytes_total')}: ${positions} positions of the 64-dim fp32 hidden state`);
  h.check(value(m1, 'tessera_queue_depth') === 0 && value(m1, 'tessera_requests_active') === 0,
          'queue depth and requests in flight are 0 between requests');

  // A client that hangs up mid-stream: cancelled +1. A loaded machine may
  // deliver the close only after the reply's last token (then it counts as
  // completed), so it hangs up again, up to 5 times, until one is cancelled;
  // every attempt counts exactly once.
  let cancelled = false;
  let m2, p2, p1 = m1;
  for (let attempt = 1; attempt <= 5 && !cancelled; ++attempt) {
    const abort = new AbortController();
    const res = await completion({ model, prompt: 'The quick brown fox', max_tokens: 200, stream: true }, abort.signal);
    const reader = res.body.getReader();
    let got = '';
    while (!got.includes('data: {')) got += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    m2 = await h.settle(port, 'the hung-up request to end', 15000, (s) => s.requests.active === 0, (s) => JSON.stringify(s.requests));
    p2 = await scrape();
    const grew = (o) => value(p2, 'tessera_requests_total', { outcome: o }) - value(p1, 'tessera_requests_total', { outcome: o });
    h.check(grew('completed') + grew('cancelled') === 1 && grew('failed') === 0,
            `attempt ${attempt}: the hung-up request counts once (completed +${grew('completed')}, cancelled +${grew('cancelled')})`);
    cancelled = grew('cancelled') === 1;
    p1 = p2;
  }
  h.check(cancelled, `requests_total{outcome="cancelled"} +1 (${m2.requests.failed} failed or cancelled in /api/status)`);

  // A serving worker SIGKILLed under a long request: leave +1, a re-plan, a
  // recovery, the request completes. The worker is stopped (SIGSTOP) before the
  // request starts, so the request is surely still in flight on it when it is
  // killed, however fast this machine runs the model.
  const before = await scrape();
  const serving = (await h.getJson(port, '/api/status')).workers.filter((w) => w.layers);
  const victim = serving[serving.length - 1];
  const victimPid = h.workerPid(node.child.pid, victim.name);
  process.kill(victimPid, 'SIGSTOP');
  const long2 = completion({ model, prompt: 'The quick brown fox', max_tokens: 120, temperature: 0 });
  const live = async () => (await fetch(`http://127.0.0.1:${port}/api/live`)).json();
  let l;
  for (const deadline = Date.now() + 30000; Date.now() < deadline;) {
    l = await live();
    if (l.requests.length === 1) break;
    await new Promise((r) => setTimeout(r, 20));  // poll interval
  }
  process.kill(victimPid, 'SIGKILL');
  h.check(l.requests.length === 1, `/api/live shows the request in flight (${JSON.stringify(l.requests)})`);
  const done = await (await long2).json();
  h.check(done.choices?.[0]?.finish_reason !== undefined, `the long request completes after the kill (${done.usage?.completion_tokens} tokens)`);
  const after = await scrape();
  const dd = (name, labels) => value(after, name, labels) - value(before, name, labels);
  h.check(dd('tessera_worker_leaves_total') === 1, 'worker_leaves_total +1');
  h.check(dd('tessera_replans_total') >= 1, `replans_total +${dd('tessera_replans_total')}`);
  h.check(dd('tessera_recoveries_total') >= 1, `recoveries_total +${dd('tessera_recoveries_total')}`);
  h.check(dd('tessera_requests_total', { outcome: 'completed' }) === 1, 'requests_total{outcome="completed"} +1');
  const timeline = (await live()).timeline.map((e) => e.kind);
  h.check(['join', 'plan', 'leave', 'recovery'].every((k) => timeline.includes(k)), `/api/live's timeline has joins, plans, a leave and a recovery`);
  h.check(value(after, 'tessera_queue_depth') === 0 && value(after, 'tessera_workers') === 2, 'queue depth 0, two workers left');

  const exit = await h.stopNode(node);
  h.check(exit.code === 0, `SIGTERM stops the node (exit ${exit.code})`);
  node = null;
  h.removeDir(dir);
  console.log('PASS api_metrics');
} catch (e) {
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
