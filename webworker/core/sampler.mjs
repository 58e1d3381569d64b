// Reference token sampler in JavaScript, mirroring the sample head the cutter
// puts in the last stage: logits of the last position / temperature, softmax,
// keep the top_k largest (0 = off), then the smallest prefix of the sorted
// distribution whose mass reaches top_p (1 = off), renormalise, and pick by
// inverse CDF with the uniform `random` in [0, 1). temperature <= 0 is greedy.
// Deterministic PRNG for reproducible random streams, too.

export function sampleToken(logitsRow, { temperature = 1, top_k = 0, top_p = 1, random = 0 }) {
  const n = logitsRow.length;
  if (!(temperature > 0)) {
    let best = 0;
    for (let i = 1; i < n; ++i) if (logitsRow[i] > logitsRow[best]) best = i;
    return best;
  }
  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => logitsRow[b] - logitsRow[a] || a - b);
  const k = top_k > 0 ? Math.min(Number(top_k), n) : n;
  const t = Math.fround(temperature);
  const max = Math.fround(logitsRow[order[0]] / t);
  const probs = new Float64Array(k);
  let sum = 0;
  for (let i = 0; i < k; ++i) {
    probs[i] = Math.exp(Math.fround(logitsRow[order[i]] / t) - max);
    sum += probs[i];
  }
  let keep = k;
  if (top_p < 1) {
    let cum = 0;
    for (let i = 0; i < k; ++i) {
      cum += probs[i] / sum;
      if (cum >= top_p) { keep = i + 1; break; }
    }
  }
  let kept = 0;
  for (let i = 0; i < keep; ++i) kept += probs[i];
  const target = random * kept;
  let cum = 0;
  for (let i = 0; i < keep; ++i) {
    cum += probs[i];
    if (target < cum) return order[i];
  }
  return order[keep - 1];
}

// mulberry32: a small seeded PRNG giving floats in [0, 1) (float32-representable).
export function randomStream(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.fround((((t ^ (t >>> 14)) >>> 0) >>> 8) / 16777216);
  };
}
