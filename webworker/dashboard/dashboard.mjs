// The node's dashboard: reads GET /api/events (Server-Sent Events; each
// `status` event is {"status": /api/status, "live": /api/live}) and redraws
// the workers, the plan as a bar of layer ranges, the requests in flight with
// latency percentiles, and the timeline of re-plans, recoveries, joins and
// leaves. Plain DOM, no framework.

const $ = (id) => document.getElementById(id);
const COLOURS = ['#3461c1', '#2e7d4f', '#c77d1a', '#8a3fb4', '#1a8fa0', '#b23b6a', '#5b6b1f', '#6a4a2f'];

export function formatBytes(n) {
  if (!(n > 0)) return '0 B';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  const i = Math.min(units.length - 1, Math.floor(Math.log(n) / Math.log(1000)));
  return `${(n / 1000 ** i).toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function backendOf(device) {
  if (device === 'node-cpu') return 'onnxruntime-node';
  if (device === 'wasm' || device === 'webgpu') return `onnxruntime-web (${device})`;
  return device || '?';
}

const ms = (v) => (v > 0 ? `${v.toFixed(1)} ms` : '–');

function cells(tr, values) {
  tr.replaceChildren(...values.map((v) => {
    const td = document.createElement('td');
    td.textContent = v;
    return td;
  }));
}

function drawWorkers(status) {
  const stages = new Map((status.plan?.stages ?? []).map((s) => [String(s.worker), s]));
  const link = status.link;
  const rows = status.workers.map((w) => {
    const tr = document.createElement('tr');
    tr.dataset.workerId = String(w.id);
    tr.dataset.name = w.name;
    const stage = stages.get(String(w.id));
    const used = stage ? formatBytes(stage.memory_bytes) : '0 B';
    const budget = formatBytes(stage?.memory_budget || w.memory_bytes);
    const linkText = link ? `${link.rtt_ms} ms, ${formatBytes(link.bytes_per_s)}/s${link.measured ? '' : ' (assumed)'}` : '–';
    const layers = w.layers ? `[${w.layers[0]},${w.layers[1]})${w.loaded ? '' : ' loading'}`
      : w.standby_for ? `standby [${w.standby_for[0]},${w.standby_for[1]})` : 'idle';
    cells(tr, [w.id, w.name, w.device, backendOf(w.device), `${used} / ${budget}`,
               `${(w.flops_per_s / 1e9).toFixed(1)} GFLOP/s`, linkText, layers, w.kv_sequences]);
    tr.children[7].className = 'layers';
    return tr;
  });
  $('workers').tBodies[0].replaceChildren(...rows);
}

function drawPlan(status) {
  const n = status.model?.num_layers || 0;
  const names = new Map(status.workers.map((w) => [String(w.id), w.name]));
  $('plan-version').textContent = status.plan_version ? `v${status.plan_version}` : '';
  const stages = (status.plan?.stages ?? []).slice().sort((a, b) => a.layers[0] - b.layers[0]);
  $('plan-bar').replaceChildren(...stages.map((s, i) => {
    const div = document.createElement('div');
    div.className = 'stage';
    div.dataset.workerId = String(s.worker);
    div.dataset.layers = `${s.layers[0]},${s.layers[1]}`;
    div.style.flex = `${Math.max(1, s.layers[1] - s.layers[0])} 0 0`;
    div.style.background = COLOURS[i % COLOURS.length];
    div.textContent = `${names.get(String(s.worker)) ?? `worker ${s.worker}`} [${s.layers[0]},${s.layers[1]})`;
    div.title = `${s.predicted_ms?.toFixed?.(2) ?? '?'} ms predicted`;
    return div;
  }));
  $('plan-note').textContent = stages.length
    ? `${n} layers over ${stages.length} stages, ${status.plan.predicted_ms_per_token?.toFixed(2)} ms/token predicted`
    : (status.plan?.reason || status.reason || 'no plan');
  const ready = $('plan-state');
  ready.textContent = status.ready ? 'serving' : status.reason;
  ready.className = `pill ${status.ready ? 'ok' : 'bad'}`;
  $('model').textContent = status.model?.name ?? '';
  document.body.dataset.planVersion = String(status.plan_version ?? 0);
  document.body.dataset.ready = String(!!status.ready);
}

function drawLive(live) {
  const rows = (live.requests ?? []).map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.requestId = String(r.id);
    cells(tr, [r.id, r.state, r.tokens, r.tokens_per_s ? r.tokens_per_s.toFixed(1) : '–', `${r.age_s.toFixed(1)} s`]);
    return tr;
  });
  $('requests').tBodies[0].replaceChildren(...rows);
  const lat = live.latency ?? {};
  $('ttft-p50').textContent = ms(lat.ttft_ms?.p50);
  $('ttft-p95').textContent = ms(lat.ttft_ms?.p95);
  $('tpot-p50').textContent = ms(lat.per_token_ms?.p50);
  $('tpot-p95').textContent = ms(lat.per_token_ms?.p95);
  const c = live.counters ?? {};
  for (const [key, id] of [['completed', 'count-completed'], ['failed', 'count-failed'], ['cancelled', 'count-cancelled'],
    ['tokens', 'count-tokens'], ['replans', 'count-replans'], ['recoveries', 'count-recoveries'], ['queue_depth', 'count-queue']])
    $(id).textContent = String(c[key] ?? 0);
  const items = (live.timeline ?? []).slice().reverse().map((e) => {
    const li = document.createElement('li');
    li.dataset.kind = e.kind;
    const t = document.createElement('time');
    t.textContent = new Date(e.t_ms).toLocaleTimeString();
    li.append(t, `${e.kind}: ${e.text}`);
    return li;
  });
  $('timeline').replaceChildren(...items);
}

function connect() {
  const feed = new EventSource('/api/events');
  const state = $('feed-state');
  let updates = 0;
  feed.onopen = () => { state.textContent = 'live'; state.className = 'pill ok'; };
  feed.onerror = () => { state.textContent = 'reconnecting'; state.className = 'pill bad'; };
  feed.addEventListener('status', (ev) => {
    const { status, live } = JSON.parse(ev.data);
    drawPlan(status);
    drawWorkers(status);
    drawLive(live);
    document.body.dataset.updates = String(++updates);
  });
}

if (typeof document !== 'undefined') connect();
