// A strict reader of Prometheus' text exposition format (version 0.0.4), for
// tests: every rule it checks is from the format's specification. Returns
// { families: Map(name -> {type, help, samples: [{name, labels, value}]}) }
// or throws an Error naming the line that breaks a rule.
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text, where) {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad value "${text}"`);
  return Number(text);
}

// `{a="x",b="y\"z"}` starting at text[i] === '{' -> [labels, index after '}'].
function parseLabels(text, i, where) {
  const labels = {};
  ++i;
  for (;;) {
    if (text[i] === '}') return [labels, i + 1];
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without '='`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`${where}: bad label name "${name}"`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: label ${name} value not quoted`);
    let value = '';
    let j = eq + 2;
    for (;; ++j) {
      if (j >= text.length) throw new Error(`${where}: unterminated value of label ${name}`);
      const c = text[j];
      if (c === '"') break;
      if (c === '\\') {
        const e = text[++j];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else throw new Error(`${where}: bad escape "\\${e}" in label ${name}`);
      } else {
        value += c;
      }
    }
    labels[name] = value;
    i = j + 1;
    if (text[i] === ',') ++i;
    else if (text[i] !== '}') throw new Error(`${where}: expected ',' or '}' after label ${name}`);
  }
}

function familyOf(sampleName, type) {
  if (type !== 'histogram') return sampleName;
  for (const suffix of ['_bucket', '_sum', '_count'])
    if (sampleName.endsWith(suffix)) return sampleName.slice(0, -suffix.length);
  return sampleName;
}

export function parseStrict(text) {
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const families = new Map();
  let current = null;  // the family whose samples may follow
  const seenSeries = new Set();
  text.slice(0, -1).split('\n').forEach((line, n) => {
    const where = `line ${n + 1} "${line}"`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return;  // a plain comment
      const [, what, name, rest] = m;
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
      let f = families.get(name);
      if (f && f !== current) throw new Error(`${where}: family ${name} appears in two places`);
      if (!f) {
        f = { type: 'untyped', help: undefined, samples: [], typed: false };
        families.set(name, f);
      }
      if (what === 'HELP') {
        if (f.help !== undefined) throw new Error(`${where}: second HELP for ${name}`);
        f.help = rest.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      } else {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type "${rest}"`);
        if (f.typed) throw new Error(`${where}: second TYPE for ${name}`);
        if (f.samples.length) throw new Error(`${where}: TYPE after samples of ${name}`);
        f.type = rest;
        f.typed = true;
      }
      current = f;
      return;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`${where}: no value`);
    const sampleName = line.slice(0, nameEnd);
    if (!NAME.test(sampleName)) throw new Error(`${where}: bad metric name`);
    let labels = {};
    let i = nameEnd;
    if (line[i] === '{') [labels, i] = parseLabels(line, i, where);
    if (line[i] !== ' ') throw new Error(`${where}: expected a space before the value`);
    const parts = line.slice(i + 1).split(' ');
    if (parts.length > 2) throw new Error(`${where}: trailing text`);
    const value = parseValue(parts[0], where);
    const famName = [...families.keys()].find((k) => k === familyOf(sampleName, families.get(k).type)) ?? sampleName;
    let f = families.get(famName);
    if (!f) {
      f = { type: 'untyped', help: undefined, samples: [], typed: false };
      families.set(famName, f);
      current = f;
    }
    if (f !== current) throw new Error(`${where}: sample of ${famName} away from its family`);
    const key = sampleName + JSON.stringify(Object.entries(labels).sort());
    if (seenSeries.has(key)) throw new Error(`${where}: series twice`);
    seenSeries.add(key);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`${where}: counter below 0`);
    f.samples.push({ name: sampleName, labels, value });
  });
  for (const [name, f] of families) {
    if (f.type === 'counter' && !name.endsWith('_total')) throw new Error(`counter ${name} does not end in _total`);
    if (f.type === 'histogram') checkHistogram(name, f);
  }
  return { families };
}

// Buckets of each series ascend in `le` with non-decreasing counts, end at
// +Inf, and +Inf equals _count; _sum and _count exist.
function checkHistogram(name, f) {
  const series = new Map();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    if (!series.has(key)) series.set(key, { buckets: [], sum: undefined, count: undefined });
    const x = series.get(key);
    if (s.name === `${name}_bucket`) {
      if (le === undefined) throw new Error(`${name}_bucket without le`);
      x.buckets.push([parseValue(le, `${name} le`), s.value]);
    } else if (s.name === `${name}_sum`) x.sum = s.value;
    else if (s.name === `${name}_count`) x.count = s.value;
    else throw new Error(`histogram ${name} has a sample ${s.name}`);
  }
  for (const [key, x] of series) {
    const where = `histogram ${name}${key}`;
    if (x.sum === undefined || x.count === undefined) throw new Error(`${where}: no _sum or _count`);
    for (let i = 1; i < x.buckets.length; ++i) {
      if (!(x.buckets[i][0] > x.buckets[i - 1][0])) throw new Error(`${where}: le does not ascend`);
      if (x.buckets[i][1] < x.buckets[i - 1][1]) throw new Error(`${where}: bucket counts decrease`);
    }
    const last = x.buckets[x.buckets.length - 1];
    if (!last || last[0] !== Infinity) throw new Error(`${where}: no +Inf bucket`);
    if (last[1] !== x.count) throw new Error(`${where}: +Inf bucket ${last[1]} != _count ${x.count}`);
  }
}
