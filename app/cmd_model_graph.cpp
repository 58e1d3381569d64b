// `tessera model inspect FILE [--json]` and
// `tessera model split FILE --stages 0:2,2:5 --out DIR [--head logits|greedy|sample] [--no-check]`:
// thin shells over model/graph/graph_inspector.hpp and model/graph/graph_cutter.hpp.
#include <chrono>
#include <cstdio>
#include <string>

#include "app/cli_args.hpp"
#include "app/commands.hpp"
#include "model/base/model_error.hpp"
#include "model/graph/graph_cutter.hpp"
#include "model/graph/graph_inspector.hpp"

namespace tessera::app {
namespace {

constexpr const char* k_inspect_usage = "usage: tessera model inspect FILE|DIR [--json]";
constexpr const char* k_split_usage =
    "usage: tessera model split FILE|DIR --stages 0:2,2:5,5:8 --out DIR [--head logits|greedy|sample] [--no-check]";

std::string one_model_argument(const cli_args& a, const char* usage) {
  if (a.positionals().size() != 1)
    throw usage_error(std::string(a.positionals().empty() ? "missing model FILE or DIR" : "expected one model FILE or DIR") +
                      "\n" + usage);
  return a.positionals()[0];
}

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MiB", double(bytes) / (1024.0 * 1024.0));
  return buf;
}

void print_table(const model::model_stats& s) {
  std::printf("model %s: %d layers, %s of parameters\n", s.name.c_str(), s.num_layers, mib(s.total_param_bytes).c_str());
  std::printf("%-8s %14s %16s %14s %16s  boundary tensors after\n", "part", "param bytes", "FLOPs/token", "KV B/token",
              "boundary B/token");
  auto names = [&](size_t b) {
    std::string out;
    for (const auto& t : s.boundaries.at(b)) out += (out.empty() ? "" : ", ") + t.name;
    return out;
  };
  std::printf("%-8s %14llu %16s %14s %16s\n", "prelude", (unsigned long long)s.prelude_param_bytes, "-", "-", "-");
  std::printf("%-8s %14llu %16llu %14s %16llu  %s\n", "embed", (unsigned long long)s.embed_param_bytes,
              (unsigned long long)s.embed_flops_per_token, "-", (unsigned long long)s.hidden_bytes_per_token,
              names(0).c_str());
  for (const auto& l : s.layers)
    std::printf("%-8s %14llu %16llu %14llu %16llu  %s\n", ("layer " + std::to_string(l.index)).c_str(),
                (unsigned long long)l.param_bytes, (unsigned long long)l.flops_per_token,
                (unsigned long long)l.kv_bytes_per_token, (unsigned long long)l.boundary_bytes_per_token,
                names(size_t(l.index) + 1).c_str());
  std::printf("%-8s %14llu %16llu %14s %16s\n", "head", (unsigned long long)s.head_param_bytes,
              (unsigned long long)s.head_flops_per_token, "-", "-");
  for (const auto& w : s.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
}

}  // namespace

int run_model_inspect(const arg_list& args) {
  const cli_args a(args, {}, {"--json", "--help"});
  if (a.has("--help")) {
    std::puts(k_inspect_usage);
    return 0;
  }
  auto stats = model::inspect_model(one_model_argument(a, k_inspect_usage));
  if (a.has("--json")) std::puts(model::model_stats_json(stats).c_str());
  else print_table(stats);
  return 0;
}

int run_model_split(const arg_list& args) {
  const cli_args a(args, {"--stages", "--out", "--head"}, {"--no-check", "--help"});
  if (a.has("--help")) {
    std::puts(k_split_usage);
    return 0;
  }
  const auto model_path = one_model_argument(a, k_split_usage);
  const auto stages_text = a.require("--stages");
  const auto out = a.require("--out");
  model::split_options options;
  try {
    options.head = model::parse_token_head(a.get_or("--head", "greedy"));
  } catch (const model::model_error& e) {
    throw usage_error(std::string("--head: ") + e.what());
  }
  options.run_checker = !a.has("--no-check");
  // The layer count is needed to validate the list; inspect is cheap (no weights read).
  auto stats = model::inspect_model(model_path);
  options.stages = model::parse_stage_list(stages_text, stats.num_layers);
  auto start = std::chrono::steady_clock::now();
  auto result = model::split_model(model_path, out, options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& w : result.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  for (const auto& s : result.stages)
    std::printf("stage %d:%d  %-24s %12llu bytes  id %.16s\n", s.layers.begin, s.layers.end, s.file.c_str(),
                (unsigned long long)s.bytes, s.id.c_str());
  std::printf("wrote %zu stages and manifest.json to %s in %.2f s (head %s)\n", result.stages.size(),
              result.out_dir.c_str(), seconds, model::to_string(options.head).c_str());
  return 0;
}

}  // namespace tessera::app
