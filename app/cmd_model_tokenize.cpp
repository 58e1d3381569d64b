// Placeholder: replaced when this part of `tessera model` lands.
#include <cstdio>
#include "app/commands.hpp"

namespace tessera::app {
int run_model_tokenize(const arg_list&) {
  std::fputs("tessera model: not available in this build yet\n", stderr);
  return 1;
}
}  // namespace tessera::app
