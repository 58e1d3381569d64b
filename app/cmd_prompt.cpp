// tessera prompt [--url ws[s]://127.0.0.1:8080/ws/generate] [--key KEY] [--ca FILE] [options] TEXT
// Sends one request to /ws/generate and streams the reply to stdout; status
// lines and timings go to stderr. Exit 1 on an error message or a lost socket.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli_args.hpp"
#include "app/commands.hpp"
#include "net/ws_client.hpp"

namespace tessera::app {

namespace {

const char* kPromptUsage =
    "usage: tessera prompt [--url ws://127.0.0.1:8080/ws/generate] [options] TEXT\n"
    "  --url URL          ws:// or wss:// (TLS) address of the node's /ws/generate\n"
    "  --key KEY          API key (default: $TESSERA_API_KEY) when the node requires one\n"
    "  --ca FILE          PEM CA to trust for wss:// (e.g. the ca.pem of `tessera certs`)\n"
    "  --max-tokens N     reply length limit (default: the node's)\n"
    "  --temperature T    0 = greedy (default 0)\n"
    "  --top-k K --top-p P --seed S   sampling controls\n"
    "  --stop STRING      stop when the reply contains STRING\n"
    "  --timeout-ms MS    give up when nothing arrives for MS (default 120000)\n"
    "  --json             print the raw JSON messages, one per line\n"
    "  --quiet            no timings on stderr\n";

}  // namespace

int run_prompt_command(const arg_list& args) {
  cli_args cli(args,
               {"--url", "--key", "--ca", "--max-tokens", "--temperature", "--top-k", "--top-p", "--seed", "--stop",
                "--timeout-ms"},
               {"--help", "--json", "--quiet"});
  if (cli.has("--help")) {
    std::fputs(kPromptUsage, stdout);
    return 0;
  }
  if (cli.positionals().size() != 1)
    throw usage_error("expected exactly one prompt TEXT (quote it)");
  nlohmann::json request = {{"prompt", cli.positionals()[0]}};
  if (cli.has("--max-tokens"))
    request["max_tokens"] = cli.get_int("--max-tokens", 0);
  if (cli.has("--temperature"))
    request["temperature"] = cli.get_double("--temperature", 0);
  if (cli.has("--top-k"))
    request["top_k"] = cli.get_int("--top-k", 0);
  if (cli.has("--top-p"))
    request["top_p"] = cli.get_double("--top-p", 1);
  if (cli.has("--seed"))
    request["seed"] = cli.get_int("--seed", 0);
  if (auto stop = cli.get("--stop"))
    request["stop"] = *stop;
  auto timeout = std::chrono::milliseconds(cli.get_int("--timeout-ms", 120000));
  bool raw = cli.has("--json");
  bool quiet = cli.has("--quiet");

  net::ws_client client;
  auto url = cli.get_or("--url", "ws://127.0.0.1:8080/ws/generate");
  net::ws_connect_options connect_options;
  connect_options.ca_file = cli.get_or("--ca", "");
  const char* env_key = std::getenv("TESSERA_API_KEY");
  connect_options.api_key = cli.get_or("--key", env_key ? env_key : "");
  client.connect(url, std::chrono::seconds(10), connect_options);
  client.send_text(request.dump());
  for (;;) {
    auto r = client.read(timeout);
    if (r.what == net::ws_read_result::kind::timeout)
      throw std::runtime_error("no message from " + url + " for " + std::to_string(timeout.count()) + " ms");
    if (r.what == net::ws_read_result::kind::closed)
      throw std::runtime_error("the node closed the socket (" + std::to_string(r.close_code) + " " +
                               r.close_reason + ")");
    if (r.what == net::ws_read_result::kind::error)
      throw std::runtime_error("connection to " + url + " failed: " + r.error);
    if (raw)
      std::cout << r.payload << std::endl;
    auto j = nlohmann::json::parse(r.payload, nullptr, false);
    if (j.is_discarded())
      throw std::runtime_error("the node sent malformed JSON: " + r.payload.substr(0, 200));
    if (j.contains("error")) {
      std::cerr << "tessera prompt: error: " << j["error"].get<std::string>() << std::endl;
      client.close();
      return 1;
    }
    if (j.contains("status") && !raw) {
      std::cerr << "[" << j["status"].get<std::string>();
      if (j.contains("reason"))
        std::cerr << ": " << j["reason"].get<std::string>();
      std::cerr << "]" << std::endl;
    }
    if (j.contains("text") && !raw)
      std::cout << j["text"].get<std::string>() << std::flush;
    if (j.value("done", false)) {
      if (!raw)
        std::cout << std::endl;
      if (!quiet && !raw) {
        const auto& t = j["timings"];
        const auto& u = j["usage"];
        std::fprintf(stderr,
                     "[%s: prompt %d tokens, reply %d tokens; queue %.1f ms, first token %.1f ms, "
                     "%.2f ms/token, overhead %.3f ms/token over %d stages]\n",
                     j.value("finish_reason", "").c_str(), u.value("prompt_tokens", 0),
                     u.value("completion_tokens", 0), t.value("queue_ms", 0.0), t.value("ttft_ms", 0.0),
                     t.value("per_token_ms", 0.0), t.value("overhead_ms_per_token", 0.0), t.value("stages", 0));
      }
      client.close();
      return 0;
    }
  }
}

}  // namespace tessera::app
