// Placeholder: replaced when the capability behind `tessera plan` lands.
#include <cstdio>
#include "app/commands.hpp"

namespace tessera::app {
int run_plan_command(const arg_list&) {
  std::fputs("tessera plan: not available in this build yet\n", stderr);
  return 1;
}
}  // namespace tessera::app
