// Tokenizer throughput, C++ vs the JavaScript reference, in one run: builds ~1 MB of mixed
// text (English, code, emoji, CJK, accented text, whitespace runs) from samples.json, encodes
// it with @lenml/tokenizers and with tokenizer_bench (C++) for each real tokenizer, and prints
// MB/s and the ratio. Usage: node bench.mjs PATH/TO/tokenizer_bench [MB]
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { models, loadModel } from './reference.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const bench = process.argv[2];
const megabytes = Number(process.argv[3] ?? 1);
if (!bench) throw new Error('usage: node bench.mjs PATH/TO/tokenizer_bench [MB]');

// Deterministic mixed text: the samples in a seeded shuffled order until the size is reached.
const samples = JSON.parse(readFileSync(join(here, 'samples.json'), 'utf8'));
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const parts = [];
let bytes = 0;
while (bytes < megabytes * 1e6) {
  const s = samples[Math.floor(rand() * samples.length)] + (rand() < 0.3 ? '\n\n' : ' ');
  parts.push(s);
  bytes += Buffer.byteLength(s);
}
const text = parts.join('');
const dir = mkdtempSync(join(tmpdir(), 'tessera-tokbench-'));
const file = join(dir, 'text.txt');
writeFileSync(file, text);
const size = Buffer.byteLength(text);

console.log(`text: ${(size / 1e6).toFixed(2)} MB mixed (${samples.length} samples)`);
console.log('| tokenizer | tokens | C++ MB/s (best of 3) | JS MB/s (best of 3) | C++ / JS | C++ first pass MB/s | JS first pass MB/s |');
console.log('|---|---|---|---|---|---|---|');
for (const m of models) {
  const { dir: modelDir, tokenizer } = await loadModel(m);
  let best = Infinity;
  let first = 0;
  let tokens = 0;
  for (let r = 0; r < 3; ++r) {
    const t0 = process.hrtime.bigint();
    tokens = tokenizer.encode(text, { add_special_tokens: false }).length;
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r === 0) first = sec;
    best = Math.min(best, sec);
  }
  const js = size / 1e6 / best;
  const cpp = JSON.parse(execFileSync(bench, [modelDir, file, '3'], { encoding: 'utf8' }));
  const same = cpp.tokens === tokens ? '' : ` (token counts differ: ${cpp.tokens} vs ${tokens})`;
  console.log(`| ${m.name} | ${tokens} | ${cpp.mb_per_s.toFixed(2)} | ${js.toFixed(2)} | ${(cpp.mb_per_s / js).toFixed(1)}x${same} | ${cpp.first_pass_mb_per_s.toFixed(2)} | ${(size / 1e6 / first).toFixed(2)} |`);
}
rmSync(dir, { recursive: true, force: true });
