// Numerics of built models, checked in onnxruntime-node by the scripts in model/
// (they need `webworker/node_modules`, installed by `make deps`):
// KV-cache decode == full pass, left padding, and an independent JS forward pass.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include "model/build/llama_builder.hpp"
#include "model/build/llama_config.hpp"
#include "model/build/weight_source.hpp"

namespace fs = std::filesystem;
using namespace tessera::model;

namespace {

const fs::path repo_root = fs::path(__FILE__).parent_path().parent_path().parent_path();

struct run_result {
  int exit_code;
  std::string output;
};

run_result run(const std::string& command) {
  run_result r{-1, {}};
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

struct built_model {
  fs::path dir;
  built_model(const std::string& name, const llama_config& c, weight_dtype dtype) {
    dir = fs::temp_directory_path() / ("tessera-numerics-" + std::to_string(::getpid()) + "-" + name);
    auto src = seeded_weight_source(11);
    build_options o;
    o.dtype = dtype;
    build_llama_model(c, *src, dir.string(), o);
  }
  ~built_model() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

void check_script(const std::string& script, const fs::path& dir, const std::string& extra = "") {
  REQUIRE(fs::exists(repo_root / "webworker" / "node_modules" / "onnxruntime-node"));  // run `make deps`
  const auto r = run("node " + (repo_root / "model" / "build" / script).string() + " " + dir.string() + " " + extra);
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("FAIL") == std::string::npos);
  CHECK(r.output.find("ok") != std::string::npos);
}

}  // namespace

TEST_CASE("tiny fp32: KV-cache decode, chunked prefill and left padding match the full pass within 1e-4") {
  built_model m("tiny32", preset_config("tiny"), weight_dtype::fp32);
  check_script("llama_check.mjs", m.dir, "--prompt-len 16");
}

TEST_CASE("tiny fp32 and fp16: onnxruntime agrees with an independent JS forward pass") {
  built_model a("ref32", preset_config("tiny"), weight_dtype::fp32);
  check_script("llama_reference.mjs", a.dir);
  built_model b("ref16", preset_config("tiny"), weight_dtype::fp16);
  check_script("llama_reference.mjs", b.dir);
  check_script("llama_check.mjs", b.dir);
}

TEST_CASE("rope scaling, attention bias, tied embeddings and 3-way GQA agree with the JS reference") {
  auto c = preset_config("tiny");
  c.num_hidden_layers = 2;
  c.hidden_size = 96;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.rope_theta = 500000;
  c.rope_scaling = rope_scaling_config{};
  c.rope_scaling->original_max_position_embeddings = 16;
  c.attention_bias = true;
  c.tie_word_embeddings = true;
  built_model m("variants", c, weight_dtype::fp32);
  check_script("llama_reference.mjs", m.dir, "--prompt-len 20");
  check_script("llama_check.mjs", m.dir, "--prompt-len 20");
}
