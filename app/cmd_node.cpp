// Placeholder: replaced when the capability behind `tessera node` lands.
#include <cstdio>
#include "app/commands.hpp"

namespace tessera::app {
int run_node_command(const arg_list&) {
  std::fputs("tessera node: not available in this build yet\n", stderr);
  return 1;
}
}  // namespace tessera::app
