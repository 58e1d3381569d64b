// Placeholder: replaced when the capability behind `tessera prompt` lands.
#include <cstdio>
#include "app/commands.hpp"

namespace tessera::app {
int run_prompt_command(const arg_list&) {
  std::fputs("tessera prompt: not available in this build yet\n", stderr);
  return 1;
}
}  // namespace tessera::app
