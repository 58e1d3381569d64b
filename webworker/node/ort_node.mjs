// onnxruntime-node side of loading: stages from a split directory (the session
// reads the external data file beside the .onnx), the whole model for reference.
import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { validateManifest } from '../core/manifest.mjs';
import { StageRunner, createSession } from '../core/stage_runner.mjs';
import { Pipeline, wholeModelRunner } from '../core/pipeline.mjs';

export { ort };

export function sessionOptions({ threads } = {}) {
  const o = { graphOptimizationLevel: 'all', interOpNumThreads: 1, logSeverityLevel: 3 };
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
