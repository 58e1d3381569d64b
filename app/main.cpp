// tessera: one executable, one sub-command per capability.
#include <cstdio>
#include <functional>
#include <map>
#include <string>

#include "app/cli_args.hpp"
#include "app/commands.hpp"

namespace {

const char* kUsage =
    "usage: tessera <command> [options]\n"
    "\n"
    "commands:\n"
    "  model build   --preset NAME --out DIR [--seed N] [--dtype fp32|fp16] [overrides]\n"
    "  model inspect FILE [--json]\n"
    "  model split   FILE --stages 0:2,2:5,... --out DIR [--head logits|greedy|sample]\n"
    "  plan          --model DIR_OR_ONNX --workers workers.json [--objective latency|throughput]\n"
    "  node          --config configs/local.toml [--listen HOST:PORT]\n"
    "  prompt        [--url ws[s]://127.0.0.1:PORT/ws/generate] [--key KEY] [--ca FILE] TEXT\n"
    "  keys          add NAME [--concurrent N] [--tokens-per-minute N] | list | revoke NAME  (API keys)\n"
    "  tokens        add NAME | list | revoke NAME  (worker join tokens)\n"
    "  certs         --out DIR [--host NAME_OR_IP ...]  (a local CA and a node certificate)\n"
    "\n"
    "Run `tessera <command> --help` for a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace tessera::app;
  const std::map<std::string, std::function<int(const arg_list&)>> commands = {
      {"model", run_model_command},
      {"plan", run_plan_command},
      {"node", run_node_command},
      {"prompt", run_prompt_command},
      {"keys", run_keys_command},
      {"tokens", run_tokens_command},
      {"certs", run_certs_command},
  };
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  auto it = commands.find(argv[1]);
  if (it == commands.end()) {
    std::fprintf(stderr, "tessera: unknown command '%s'\n\n%s", argv[1], kUsage);
    return 2;
  }
  try {
    return it->second(arg_list(argv + 2, argv + argc));
  } catch (const usage_error& e) {
    std::fprintf(stderr, "tessera %s: %s\n", argv[1], e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessera %s: error: %s\n", argv[1], e.what());
    return 1;
  }
}
