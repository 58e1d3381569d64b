// Creating a stage session in onnxruntime-web: the graph as bytes and each
// external data file passed by the name the graph refers to (no file system).
import { createSession } from './stage_runner.mjs';

// files: [{ name, bytes }], files[0] the .onnx graph.
export function createWebSession(ort, files, options = {}, timeoutMs = 120000) {
  const [graph, ...data] = files;
  const externalData = data.map((f) => ({ path: f.name, data: f.bytes }));
  return createSession(ort, graph.bytes, externalData.length ? { ...options, externalData } : options, timeoutMs);
}
