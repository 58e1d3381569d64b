// Which runtime a worker computes with, and how far two holders' hidden
// states may differ by the pair of runtimes they use. ONNX Runtime's CPU
// kernels (onnxruntime-node), its WASM build (onnxruntime-web) and WebGPU
// round differently; spot checks and load probes compare two workers within
// the tolerance of their pair. The defaults come from
// bench/runtime/backend_tolerance.mjs (docs/benchmarks.md). CAF-free.
#pragma once

#include <string>

namespace tessera::actors {

struct node_config;

// "cpu", "wasm" or "webgpu" from a Hello's device (the Node worker says
// "node-cpu", the browser page "wasm" or "webgpu"); "other" for anything else.
std::string backend_of(const std::string& device_kind);

struct backend_tolerances {
  double same = 2e-3;          // two workers of one backend ([verify] tolerance)
  double cpu_wasm = 2e-3;      // [verify] tolerance_cpu_wasm
  double cpu_webgpu = 2e-3;    // [verify] tolerance_cpu_webgpu
  double wasm_webgpu = 2e-3;   // [verify] tolerance_wasm_webgpu

  // The tolerance for a pair, in either order. A pair with "other" (or any
  // unknown backend) gets the largest of the table: an unknown runtime is
  // compared as leniently as the loosest known pair.
  double of(const std::string& a, const std::string& b) const;
};

// The table from [verify] tolerance and tolerance_<pair>.
backend_tolerances tolerances_of(const node_config& cfg);

}  // namespace tessera::actors
