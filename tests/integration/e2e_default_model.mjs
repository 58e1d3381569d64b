// End to end on the shipped default model: `tessera model build --from-hf
// models/kjv-bierce-19m`, then the real `tessera node` with the three local
// workers of configs/local.toml (same memory budgets) on 127.0.0.1. No worker
// holds the model alone, so the plan has several stages with unequal layer
// counts; every pair of the three workers serves it too (a node per pair), so
// losing any one worker leaves a plan. Greedy replies to English prompts equal the
// whole model in onnxruntime-node token for token (prompts tokenized by the
// model's tokenizer.json) and read as English words.
// (Logits of the chained stages against the whole model: js/chain_kjv-bierce-19m.)
//   node e2e_default_model.mjs TESSERA_BINARY
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';

const [tessera] = process.argv.slice(2);
h.watchdog(600000, 'e2e_default_model');
const dir = h.tmpDir('tessera-e2e-default-');
const MAX = 32;
const prompts = ['And God said unto Moses,', 'In the beginning', 'CYNIC, n.', 'The heart of man is'];
const COMMON = new Set(('the and of to a in that he is it for his was with as not be by all they shall unto i ' +
                        'them him which but have from this are or an when who no so on my me thou thee ye will').split(' '));

// The [[workers.local]] entries of the default config, as written there.
function localWorkers() {
  const toml = fs.readFileSync(path.join(h.repoRoot, 'configs', 'local.toml'), 'utf8');
  return toml.split('[[workers.local]]').slice(1).map((block) => ({
    name: /name\s*=\s*"([^"]+)"/.exec(block)[1],
    memory: /memory\s*=\s*"([^"]+)"/.exec(block)[1],
  }));
}

let node;
try {
  const modelDir = path.join(dir, 'model');
  execFileSync(tessera, ['model', 'build', '--from-hf', path.join(h.repoRoot, 'models', 'kjv-bierce-19m'), '--out', modelDir],
               { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120000 });
  const eos = JSON.parse(fs.readFileSync(path.join(modelDir, 'generation_config.json'), 'utf8')).eos_token_id;
  const ids = {};
  for (const p of prompts) ids[p] = JSON.parse(execFileSync(tessera, ['model', 'tokenize', modelDir, p]).toString()).ids;
  const refs = h.reference(modelDir, MAX, ids, eos);

  const workers = localWorkers();
  h.check(workers.length === 3, `configs/local.toml has three local workers (${workers.map((w) => `${w.name} ${w.memory}`).join(', ')})`);
  const config = h.writeConfig(dir, { modelDir, workers, context: 512 });
  node = await h.startNode(tessera, config, dir);
  const stages = node.status.plan.stages;
  const layers = stages.map((s) => s.layers[1] - s.layers[0]);
  h.check(stages.length >= 2 && new Set(layers).size > 1,
          `the plan is uneven: ${stages.map((s) => `worker ${s.worker} [${s.layers[0]},${s.layers[1]})`).join(' ')}`);

  for (const p of prompts) {
    const r = await h.prompt(tessera, node.port, p, { 'max-tokens': MAX });
    h.check(JSON.stringify(r.tokens) === JSON.stringify(refs[p]),
            `greedy "${p}" equals the whole model (${r.tokens.length} tokens): ${JSON.stringify(r.text)}`);
    // Readable: mostly letters and spaces, and many of the words are common English ones
    // (random tokens of this vocabulary would be word pieces, rarely a run of these).
    const words = r.text.toLowerCase().split(/[^a-z']+/).filter(Boolean);
    const common = words.filter((w) => COMMON.has(w)).length;
    const plain = r.text.replace(/[^A-Za-z \n]/g, '').length;
    h.check(words.length >= 8 && common >= 0.25 * words.length && plain >= 0.9 * r.text.length,
            `"${p}" reads as English (${words.length} words, ${common} common ones, ${plain}/${r.text.length} letters or spaces)`);
  }

  const stopped = await h.stopNode(node);
  h.check(stopped.code === 0, `SIGTERM stops the node cleanly (exit ${stopped.code}, signal ${stopped.signal})`);
  node = null;

  // Losing any one worker leaves enough memory: each pair alone plans and serves the same reply.
  for (let i = 0; i < 3; ++i) {
    const pair = workers.filter((_, j) => j !== i);
    const pairDir = path.join(dir, `without-${workers[i].name}`);
    fs.mkdirSync(pairDir);
    node = await h.startNode(tessera, h.writeConfig(pairDir, { modelDir, workers: pair, context: 512 }), pairDir);
    const plan = node.status.plan.stages.map((s) => `worker ${s.worker} [${s.layers[0]},${s.layers[1]})`).join(' ');
    const r = await h.prompt(tessera, node.port, prompts[0], { 'max-tokens': MAX });
    h.check(JSON.stringify(r.tokens) === JSON.stringify(refs[prompts[0]]),
            `without ${workers[i].name}: ${pair.map((w) => w.name).join(' + ')} plan ${plan} and reply as the whole model`);
    await h.stopNode(node);
    node = null;
  }
  h.removeDir(dir);
  console.log('PASS e2e_default_model');
} catch (e) {
  await h.fail(e, dir, { nodes: [node] });
}
process.exit(0);
