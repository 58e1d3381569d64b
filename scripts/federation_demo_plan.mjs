#!/usr/bin/env node
// Waits (bounded) until every node given shows the same ready plan of the
// federation's one pool in /api/status, then prints the workers per node and
// the plan with each stage's node. Used by scripts/federation-demo.sh.
//   node scripts/federation_demo_plan.mjs TIMEOUT_S http://127.0.0.1:PORT ...
const [timeoutArg, ...bases] = process.argv.slice(2);
if (!bases.length) {
  console.error('usage: federation_demo_plan.mjs TIMEOUT_S http://HOST:PORT ...');
  process.exit(2);
}
const deadline = Date.now() + Number(timeoutArg) * 1000;
const pool = (s) => s?.federation?.pool;
const status = (base) => fetch(`${base}/api/status`).then((r) => r.json()).catch((e) => ({ error: e.message }));

let last = '';
let all;
for (;;) {
  all = await Promise.all(bases.map(status));
  const same = all.every((s) => s.ready && pool(s) && JSON.stringify(pool(s).stages) === JSON.stringify(pool(all[0]).stages));
  if (same && pool(all[0]).stages.length > 0) break;
  const now = all.map((s, i) => `${bases[i]}: ${s.error ?? (s.ready ? 'ready' : s.reason)}`).join('; ');
  if (now !== last) console.log(`  waiting: ${now}`);
  last = now;
  if (Date.now() > deadline) {
    console.error(`the pool did not settle within ${timeoutArg} s (last: ${last})`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 250));  // polling an HTTP endpoint, not synchronising threads
}

const s = all[0];
const p = pool(s);
const names = new Map(s.workers.map((w) => [String(w.id), w.name]));
console.log(`leader ${p.leader}, epoch ${p.epoch}; model ${s.model.name}: ${s.model.num_layers} layers, plan v${s.plan_version}`);
for (const [node, ids] of Object.entries(p.workers))
  console.log(`  node ${node}: workers ${ids.map((id) => names.get(String(id)) ?? id).join(', ')}`);
console.log('  stage  node  worker   layers');
p.stages.forEach((st, i) =>
  console.log(`  ${String(i).padEnd(6)} ${String(st.node).padEnd(5)} ${String(names.get(String(st.worker)) ?? st.worker).padEnd(8)} [${st.layers[0]}, ${st.layers[1]})`));
const nodes = new Set(p.stages.map((st) => st.node));
console.log(`the plan crosses ${nodes.size} node${nodes.size === 1 ? '' : 's'}; every node shows the same plan`);
