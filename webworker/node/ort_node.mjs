// onnxruntime-node side of loading: stages from a split directory (the session
// reads the external data file beside the .onnx), the whole model for reference.
import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { validateManifest } from '../core/manifest.mjs';
import { StageRunner, createSession } from '../core/stage_runner.mjs';
import { Pipeline, wholeModelRunner } from '../core/pipeline.mjs';

export { ort };

// Intra-op threads do not spin-wait between runs (TESSERA_ORT_SPIN=1 turns it
// back on): several sessions or worker processes share the cores, and spinning
// pools starve each other (measured 2-5x slower per token on a busy 2-core box).
export function sessionOptions({ threads } = {}) {
  const spin = process.env.TESSERA_ORT_SPIN === '1' ? '1' : '0';
  const o = {
    graphOptimizationLevel: 'all', interOpNumThreads: 1, logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: spin }, inter_op: { allow_spinning: spin } } },
  };
  if (threads) o.intraOpNumThreads = threads;
  return o;
}

export function readManifest(splitDir) {
  const file = path.join(splitDir, 'manifest.json');
  let json;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${e.message}`);
  }
  return validateManifest(json, file);
}

export async function loadStage(dir, stage, config, opts = {}) {
  const session = await createSession(ort, path.join(dir, stage.file), sessionOptions(opts));
  return new StageRunner(ort, session, stage, { config });
}

export async function loadPipeline(splitDir, opts = {}) {
  const manifest = readManifest(splitDir);
  const config = manifest.model.config ?? {};
  const runners = [];
  for (const s of manifest.stages) runners.push(await loadStage(splitDir, s, config, opts));
  return { manifest, pipeline: new Pipeline(ort, runners) };
}

export function readConfig(modelDir) {
  return JSON.parse(readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
}

export async function loadWholeModel(modelDir, opts = {}) {
  const config = readConfig(modelDir);
  const session = await createSession(ort, path.join(modelDir, 'model.onnx'), sessionOptions(opts));
  return { config, pipeline: new Pipeline(ort, [wholeModelRunner(ort, session, config)]) };
}
