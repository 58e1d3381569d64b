#include "actors/backend_tolerance.hpp"

#include <algorithm>

#include "actors/node_config.hpp"

namespace tessera::actors {

std::string backend_of(const std::string& device_kind) {
  if (device_kind.find("webgpu") != std::string::npos)
    return "webgpu";
  if (device_kind.find("wasm") != std::string::npos)
    return "wasm";
  if (device_kind.find("cpu") != std::string::npos)
    return "cpu";
  return "other";
}

double backend_tolerances::of(const std::string& a, const std::string& b) const {
  auto known = [](const std::string& x) { return x == "cpu" || x == "wasm" || x == "webgpu"; };
  if (!known(a) || !known(b))
    return std::max({same, cpu_wasm, cpu_webgpu, wasm_webgpu});
  if (a == b)
    return same;
  auto has = [&](const char* x) { return a == x || b == x; };
  if (has("cpu") && has("wasm"))
    return cpu_wasm;
  if (has("cpu") && has("webgpu"))
    return cpu_webgpu;
  return wasm_webgpu;
}

backend_tolerances tolerances_of(const node_config& cfg) {
  return {cfg.verify_tolerance, cfg.verify_tolerance_cpu_wasm, cfg.verify_tolerance_cpu_webgpu,
          cfg.verify_tolerance_wasm_webgpu};
}

}  // namespace tessera::actors
