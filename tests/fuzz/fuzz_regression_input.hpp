// Where the regression tests find the inputs a fuzz target once crashed on.
#pragma once

#include <string>

namespace tessera::fuzz {

// tests/fuzz/regressions/<target>/<name> (TESSERA_FUZZ_DIR is tests/fuzz, set by CMake).
inline std::string regression_input(const std::string& target, const std::string& name) {
  return std::string(TESSERA_FUZZ_DIR) + "/regressions/" + target + "/" + name;
}

}  // namespace tessera::fuzz
