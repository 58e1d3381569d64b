// The sub-commands of the `tessera` executable. Each takes the arguments after
// its own name and returns the process exit code (0 ok, 1 failure, 2 usage).
#pragma once

#include <string>
#include <vector>

namespace tessera::app {

using arg_list = std::vector<std::string>;

int run_model_command(const arg_list& args);   // model build | inspect | split | tokenize
int run_plan_command(const arg_list& args);    // plan
int run_node_command(const arg_list& args);    // node
int run_prompt_command(const arg_list& args);  // prompt
int run_keys_command(const arg_list& args);    // keys add | list | revoke
int run_tokens_command(const arg_list& args);  // tokens add | list | revoke
int run_certs_command(const arg_list& args);   // certs

}  // namespace tessera::app
