// `tessera model <sub>`: dispatches to the model tool's sub-commands.
#include <cstdio>
#include <functional>
#include <map>

#include "app/cli_args.hpp"
#include "app/commands.hpp"

namespace tessera::app {

int run_model_build(const arg_list& args);     // cmd_model_build.cpp
int run_model_inspect(const arg_list& args);   // cmd_model_graph.cpp
int run_model_split(const arg_list& args);     // cmd_model_graph.cpp
int run_model_tokenize(const arg_list& args);  // cmd_model_tokenize.cpp

int run_model_command(const arg_list& args) {
  const std::map<std::string, std::function<int(const arg_list&)>> subs = {
      {"build", run_model_build},
      {"inspect", run_model_inspect},
      {"split", run_model_split},
      {"tokenize", run_model_tokenize},
  };
  if (args.empty()) throw usage_error("expected one of: build, inspect, split, tokenize");
  auto it = subs.find(args[0]);
  if (it == subs.end()) throw usage_error("unknown sub-command '" + args[0] + "' (build, inspect, split, tokenize)");
  return it->second(arg_list(args.begin() + 1, args.end()));
}

}  // namespace tessera::app
