#!/usr/bin/env node
// Waits until a node's /api/status says it is ready to serve (bounded), then
// prints its workers and plan as a table. Used by scripts/demo.sh.
//   node scripts/demo_plan.mjs http://127.0.0.1:PORT [timeout_s]
const [base, timeoutArg] = process.argv.slice(2);
if (!base) {
  console.error('usage: demo_plan.mjs http://HOST:PORT [timeout_s]');
  process.exit(2);
}
const deadline = Date.now() + Number(timeoutArg ?? 300) * 1000;

async function status() {
  const res = await fetch(`${base}/api/status`);
  if (!res.ok) throw new Error(`/api/status answered ${res.status}`);
  return res.json();
}

let last = '';
let s;
for (;;) {
  try {
    s = await status();
    if (s.ready) break;
    if (s.reason !== last) console.log(`  waiting: ${s.reason}`);
    last = s.reason;
  } catch (e) {
    if (e.message !== last) console.log(`  waiting: ${e.message}`);
    last = e.message;
  }
  if (Date.now() > deadline) {
    console.error(`the node was not ready in time (last: ${last})`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 250));  // polling an HTTP endpoint, not synchronising threads
}

const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;
const byId = new Map(s.workers.map((w) => [String(w.id), w]));
console.log(`model ${s.model.name}: ${s.model.num_layers} layers, plan v${s.plan_version} ` +
            `(${s.plan.objective}, predicted ${s.plan.predicted_ms_per_token.toFixed(2)} ms/token)`);
console.log('  worker          layers    memory used / budget   predicted ms/token');
for (const st of s.plan.stages) {
  const w = byId.get(String(st.worker));
  const name = w ? `${w.name} (#${w.id})` : String(st.worker);
  console.log(`  ${name.padEnd(15)} ${`[${st.layers[0]}, ${st.layers[1]})`.padEnd(9)} ` +
              `${`${mb(st.memory_bytes)} / ${mb(st.memory_budget)}`.padEnd(22)} ${st.predicted_ms.toFixed(2)}`);
}
