// manifest.json (written by `tessera model split`, format in team RULES "Shared
// contracts"): validation and the facts a stage runner derives from it — which
// inputs carry KV, their empty shapes, which inputs are the head's.

export class ManifestError extends Error {}

const KV_PAST = /^past_key_values\.(\d+)\.(key|value)$/;
export const SAMPLE_INPUTS = ['temperature', 'top_k', 'top_p', 'random'];
export const RUNTIME_INPUTS = ['attention_mask', 'position_ids'];

// Checks the fields a worker relies on; returns the manifest object itself.
export function validateManifest(m, where = 'manifest.json') {
  const fail = (msg) => { throw new ManifestError(`${where}: ${msg}`); };
  if (!m || typeof m !== 'object') fail('not a JSON object');
  if (!m.model || typeof m.model !== 'object') fail('missing "model"');
  if (!Array.isArray(m.stages) || m.stages.length === 0) fail('"stages" must be a non-empty array');
  let expect = 0;
  m.stages.forEach((s, i) => {
    if (typeof s.file !== 'string' || !s.file) fail(`stages[${i}].file missing`);
    if (!Array.isArray(s.layers) || s.layers.length !== 2) fail(`stages[${i}].layers must be [begin, end]`);
    if (s.layers[0] !== expect) fail(`stages[${i}].layers [${s.layers}] does not start at ${expect}`);
    if (!(s.layers[1] > s.layers[0])) fail(`stages[${i}].layers [${s.layers}] is empty`);
    expect = s.layers[1];
    for (const k of ['inputs', 'outputs'])
      if (!Array.isArray(s[k])) fail(`stages[${i}].${k} must be an array`);
  });
  if (m.model.num_layers !== undefined && expect !== m.model.num_layers)
    fail(`stages cover [0, ${expect}) but the model has ${m.model.num_layers} layers`);
  return m;
}

// Number of KV heads and head dim, from the model config (HF key names).
export function kvGeometry(config = {}) {
  const heads = config.num_attention_heads;
  const kvHeads = config.num_key_value_heads ?? heads;
  const headDim = config.head_dim ?? (config.hidden_size && heads ? config.hidden_size / heads : undefined);
  return { kvHeads, headDim };
}

// For every past_key_values.* input of a stage: { past, present, dtype, emptyDims }.
// Empty dims: the input's declared shape with batch = 1 and past length = 0;
// symbolic dims elsewhere are filled from the config (kv heads at 1, head dim at 3).
export function kvSlots(stage, config = {}) {
  const { kvHeads, headDim } = kvGeometry(config);
  const slots = [];
  for (const inp of stage.inputs) {
    const m = KV_PAST.exec(inp.name);
    if (!m) continue;
    const shape = inp.shape ?? [];
    if (shape.length !== 4) throw new ManifestError(`KV input ${inp.name} has rank ${shape.length}, expected 4`);
    const dims = shape.map((d, i) => {
      if (i === 0) return 1;
      if (i === 2) return 0;
      if (typeof d === 'number') return d;
      const fromConfig = i === 1 ? kvHeads : headDim;
      if (!Number.isInteger(fromConfig))
        throw new ManifestError(`KV input ${inp.name} dim ${i} is symbolic ('${d}') and the config does not give it`);
      return fromConfig;
    });
    slots.push({ past: inp.name, present: `present.${m[1]}.${m[2]}`, dtype: inp.dtype ?? 'float32', emptyDims: dims });
  }
  return slots;
}

// Inputs the caller must supply each step: input_ids or the boundary tensors.
export function dataInputs(stage) {
  return stage.inputs
    .map((i) => i.name)
    .filter((n) => !KV_PAST.test(n) && !RUNTIME_INPUTS.includes(n) && !SAMPLE_INPUTS.includes(n));
}

export function hasSampleInputs(stage) {
  return stage.inputs.some((i) => i.name === 'random');
}

// Outputs that leave the stage (everything except present.*).
export function dataOutputs(stage) {
  return stage.outputs.map((o) => o.name).filter((n) => !n.startsWith('present.'));
}

// A stage description built from an ORT session's metadata (for a worker that
// got only the shard files, and for the whole model). Symbolic KV dims that the
// metadata leaves open are filled from `config` by kvSlots.
export function stageFromSession(session, { file = 'stage.onnx', layers = [0, 0] } = {}, config = {}) {
  const { kvHeads, headDim } = kvGeometry(config);
  const meta = (list, names) => names.map((name, i) => {
    const m = list?.[i];
    if (m && m.name === name && m.isTensor) return { name, dtype: m.type, shape: [...m.shape] };
    if (KV_PAST.test(name)) return { name, dtype: 'float32', shape: ['batch', kvHeads, 'past_sequence', headDim] };
    return { name, dtype: 'unknown', shape: [] };
  });
  return {
    file, layers,
    inputs: meta(session.inputMetadata, session.inputNames),
    outputs: meta(session.outputMetadata, session.outputNames),
  };
}
