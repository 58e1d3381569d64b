// tessera prompt [--url ws[s]://127.0.0.1:8080/ws/generate] [--key KEY] [--ca FILE] [options] TEXT
// Sends one request to /ws/generate (or, with --http, a streamed POST to
// /v1/completions or /v1/chat/completions) and streams the reply to stdout;
// status lines and timings go to stderr. Exit 1 on an error message or a lost
// connection.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli_args.hpp"
#include "app/commands.hpp"
#include "net/sse_client.hpp"
#include "net/ws_client.hpp"

namespace tessera::app {

namespace {

const char* kPromptUsage =
    "usage: tessera prompt [--url ws[s]://127.0.0.1:8080/ws/generate] [--key KEY] [--ca FILE] [options] TEXT\n"
    "       tessera prompt --http [--chat] [--url http://127.0.0.1:8080] [options] TEXT\n"
    "  --http             POST /v1/completions with stream=true (OpenAI API) instead of the WebSocket\n"
    "  --chat             with --http: POST /v1/chat/completions, TEXT as the user message\n"
    "  --url URL          ws:// or wss:// (TLS) address of the node's /ws/generate\n"
    "  --key KEY          API key (default: $TESSERA_API_KEY) when the node requires one (also with --http)\n"
    "  --ca FILE          PEM CA to trust for wss:// (e.g. the ca.pem of `tessera certs`)\n"
    "  --max-tokens N     reply length limit (default: the node's)\n"
    "  --temperature T    0 = greedy (default 0)\n"
    "  --top-k K --top-p P --seed S   sampling controls\n"
    "  --stop STRING      stop when the reply contains STRING\n"
    "  --timeout-ms MS    give up when nothing arrives for MS (default 120000)\n"
    "  --json             print the raw JSON messages (with --http: each event's data), one per line\n"
    "  --model NAME       with --http: the model field (default: the node's model)\n"
    "  --quiet            no timings on stderr\n";

void print_final(const std::string& finish_reason, const nlohmann::json& usage) {
  std::fprintf(stderr, "[%s: prompt %d tokens, reply %d tokens]\n", finish_reason.c_str(),
               usage.value("prompt_tokens", 0), usage.value("completion_tokens", 0));
}

// The --http path: one streamed POST; the same output as the WebSocket path
// (text on stdout, [status: reason] and the final line on stderr).
int prompt_over_http(const cli_args& cli, nlohmann::json request, std::chrono::milliseconds timeout, bool raw,
                     bool quiet) {
  const bool chat = cli.has("--chat");
  if (cli.has("--ca"))
    throw usage_error("--http speaks plain http:// only; for a TLS node use the WebSocket path (wss:// with --ca)");
  const char* env_key = std::getenv("TESSERA_API_KEY");
  const std::string key = cli.get_or("--key", env_key ? env_key : "");
  std::string base = cli.get_or("--url", "http://127.0.0.1:8080");
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  for (const char* suffix : {"/v1/chat/completions", "/v1/completions", "/v1"})
    if (base.size() >= std::strlen(suffix) && base.compare(base.size() - std::strlen(suffix), std::string::npos, suffix) == 0) {
      base.erase(base.size() - std::strlen(suffix));
      break;
    }
  const std::string url = base + (chat ? "/v1/chat/completions" : "/v1/completions");
  request["model"] = cli.get_or("--model", "");
  if (request["model"] == "") {  // the model the node serves
    net::sse_client models;
    const int status = models.send("GET", base + "/v1/models", "", std::chrono::seconds(10), key);
    auto list = nlohmann::json::parse(models.rest(timeout), nullptr, false);
    if (status != 200 || !list.is_object() || !list.contains("data") || list["data"].empty())
      throw std::runtime_error(base + "/v1/models lists no model (HTTP " + std::to_string(status) + ")");
    request["model"] = list["data"][0].value("id", "");
  }
  if (chat) {
    request["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", request["prompt"]}}});
    request.erase("prompt");
  }
  request["stream"] = true;
  request["stream_options"] = {{"include_usage", true}};

  net::sse_client client;
  const int status = client.send("POST", url, request.dump(), std::chrono::seconds(10), key);
  if (status != 200) {
    auto body = client.rest(timeout);
    auto j = nlohmann::json::parse(body, nullptr, false);
    std::string message = body.substr(0, 300);
    if (j.is_object() && j.contains("error") && j["error"].is_object())
      message = j["error"].value("message", message);
    std::cerr << "tessera prompt: error: HTTP " << status << ": " << message << std::endl;
    return 1;
  }
  std::string finish_reason;
  nlohmann::json usage = nlohmann::json::object();
  net::sse_event e;
  while (client.next(e, timeout)) {
    if (e.comment) {  // ": queued — reason", ": recovering — reason"
      if (!raw) {
        const auto dash = e.data.find(" \xe2\x80\x94 ");
        std::cerr << "[" << (dash == std::string::npos ? e.data : e.data.substr(0, dash) + ": " + e.data.substr(dash + 5))
                  << "]" << std::endl;
      }
      continue;
    }
    if (e.data == "[DONE]") {
      if (!raw)
        std::cout << std::endl;
      if (!quiet && !raw)
        print_final(finish_reason, usage);
      return 0;
    }
    if (raw)
      std::cout << e.data << std::endl;
    auto j = nlohmann::json::parse(e.data, nullptr, false);
    if (j.is_discarded())
      throw std::runtime_error("the node sent malformed JSON: " + e.data.substr(0, 200));
    if (j.contains("error")) {
      std::cerr << "tessera prompt: error: " << j["error"].value("message", e.data) << std::endl;
      return 1;
    }
    if (j.contains("usage") && j["usage"].is_object())
      usage = j["usage"];
    if (!j.contains("choices") || j["choices"].empty())
      continue;
    const auto& c = j["choices"][0];
    const auto& text = chat ? c.value("delta", nlohmann::json::object()).value("content", nlohmann::json()) : c.value("text", nlohmann::json());
    if (text.is_string() && !raw)
      std::cout << text.get<std::string>() << std::flush;
    if (c.contains("finish_reason") && c["finish_reason"].is_string())
      finish_reason = c["finish_reason"].get<std::string>();
  }
  throw std::runtime_error(url + " ended the stream without data: [DONE]");
}

}  // namespace

int run_prompt_command(const arg_list& args) {
  cli_args cli(args,
               {"--url", "--key", "--ca", "--max-tokens", "--temperature", "--top-k", "--top-p", "--seed", "--stop",
                "--timeout-ms", "--model"},
               {"--help", "--json", "--quiet", "--http", "--chat"});
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

  if (cli.has("--http"))
    return prompt_over_http(cli, std::move(request), timeout, raw, quiet);
  if (cli.has("--chat") || cli.has("--model"))
    throw usage_error("--chat and --model go with --http");
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
