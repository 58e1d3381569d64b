// The stage plans the chaining tests cover, as `tessera model split --stages` lists,
// and where their splits live: ${models}/${model}-split/${plan}-${head}/.
import path from 'node:path';

export function plansFor(numLayers) {
  const n = numLayers;
  const list = (cuts) => cuts.slice(0, -1).map((c, i) => `${c}:${cuts[i + 1]}`).join(',');
  const plans = { one: `0:${n}` };
  if (n >= 2) plans.two_equal = list([0, Math.floor(n / 2), n]);
  if (n >= 3) {
    // uneven thirds: a small first stage, a large middle one
    const a = Math.max(1, Math.floor(n / 4));
    const b = Math.max(a + 1, n - Math.max(1, Math.floor(n / 6)));
    plans.three_uneven = list([0, a, b, n]);
  }
  if (n >= 2) plans.per_layer = list([...Array(n + 1).keys()]);
  return plans;
}

// Which (plan, head) splits each test needs.
export function splitsFor(numLayers) {
  const plans = plansFor(numLayers);
  const out = [];
  for (const [plan, stages] of Object.entries(plans)) {
    out.push({ plan, head: 'logits', stages });
    out.push({ plan, head: 'greedy', stages });
    if (plan === 'one' || plan === 'three_uneven') out.push({ plan, head: 'sample', stages });
  }
  return out;
}

export const splitDir = (models, model, plan, head) => path.join(models, `${model}-split`, `${plan}-${head}`);
