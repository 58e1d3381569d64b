// Importing Hugging Face checkpoints: a checkpoint written in HF layout (tensor names, shapes,
// F32 / BF16, one file or shards) from seeded weights imports to exactly the weights of the
// seeded build; bad checkpoints fail with an error naming the problem and write nothing.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>

#include "model/base/model_error.hpp"
#include "model/build/hf_import.hpp"
#include "model/build/safetensors.hpp"
#include "model/tokenizer/tokenizer.hpp"

namespace fs = std::filesystem;
using namespace tessera::model;

namespace {

struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& name)
      : path(fs::temp_directory_path() / ("tessera_hfimp_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Seeded weights rounded through bfloat16: what a BF16 checkpoint of them holds.
class bf16_rounded final : public weight_source {
public:
  explicit bf16_rounded(std::unique_ptr<weight_source> inner) : inner_(std::move(inner)) {}
  std::vector<float> load(const std::string& n, const std::vector<int64_t>& s) override {
    auto v = inner_->load(n, s);
    for (auto& x : v) x = bfloat16_to_float(float_to_bfloat16(x));
    return v;
  }
  std::string describe() const override { return "bf16(" + inner_->describe() + ")"; }

private:
  std::unique_ptr<weight_source> inner_;
};

llama_config small_config() {
  llama_config c = preset_config("tiny");
  return c;
}

// The graph (nodes, inputs, outputs, initializer references) without the model's doc string,
// which names the weight source.
std::string graph_of(const fs::path& model_onnx) {
  onnx::ModelProto m;
  std::ifstream in(model_onnx, std::ios::binary);
  REQUIRE(m.ParseFromIstream(&in));
  m.clear_doc_string();
  return m.SerializeAsString();
}

void write_byte_tokenizer(const fs::path& dir) { std::ofstream(dir / "tokenizer.json") << byte_tokenizer_json(); }

build_options quiet() {
  build_options o;
  o.run_checker = true;
  return o;
}

}  // namespace

TEST_CASE("safetensors round-trips F32 exactly and BF16/F16 to the nearest representable value") {
  temp_dir d("st");
  const std::vector<float> v = {0.0f, -1.5f, 3.14159265f, 1e-3f, 65504.0f, -2.5e-7f};
  write_safetensors((d.path / "a.safetensors").string(),
                    {{"x", {2, 3}, "F32", v}, {"y", {6}, "BF16", v}, {"z", {3, 2}, "F16", v}});
  safetensors_file f((d.path / "a.safetensors").string());
  REQUIRE(f.tensors().size() == 3);
  CHECK(f.read_float32(*f.find("x")) == v);
  const auto y = f.read_float32(*f.find("y"));
  const auto z = f.read_float32(*f.find("z"));
  for (std::size_t i = 0; i < v.size(); ++i) {
    CHECK(y[i] == Approx(v[i]).epsilon(1.0 / 128));
    CHECK(z[i] == Approx(v[i]).epsilon(1.0 / 1024).margin(1e-7));
  }
  CHECK(fp16_to_float(float_to_fp16(1.0f)) == 1.0f);
  CHECK(bfloat16_to_float(float_to_bfloat16(-2.0f)) == -2.0f);
  CHECK(std::isinf(fp16_to_float(float_to_fp16(1e6f))));
}

TEST_CASE("malformed safetensors files are errors naming the file and the fault") {
  temp_dir d("stbad");
  const auto p = (d.path / "m.safetensors").string();
  write_safetensors(p, {{"w", {4, 4}, "F32", std::vector<float>(16, 1.0f)}});
  const std::string good = slurp(p);
  auto write = [&](const std::string& bytes) { std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes; };

  write(good.substr(0, 5));
  CHECK_THROWS_WITH(safetensors_file(p), Catch::Contains("truncated") && Catch::Contains("m.safetensors"));
  write(good.substr(0, 20));
  CHECK_THROWS_WITH(safetensors_file(p), Catch::Contains("header length") && Catch::Contains("past the end"));
  write(good.substr(0, good.size() - 8));  // data cut short: the tensor's range ends past the data
  CHECK_THROWS_WITH(safetensors_file(p), Catch::Contains("'w'") && Catch::Contains("out of range"));

  std::string bad_dtype = good;
  bad_dtype.replace(bad_dtype.find("\"F32\""), 5, "\"Q4K\"");
  write(bad_dtype);
  CHECK_THROWS_WITH(safetensors_file(p), Catch::Contains("unknown dtype 'Q4K'"));

  std::string bad_json = good;
  bad_json[8] = '[';
  write(bad_json);
  CHECK_THROWS_WITH(safetensors_file(p), Catch::Contains("not valid JSON") || Catch::Contains("not a JSON object"));

  std::string bad_shape = good;
  bad_shape.replace(bad_shape.find("[4,4]"), 5, "[4,5]");
  write(bad_shape);
  CHECK_THROWS_WITH(safetensors_file(p), Catch::Contains("needs 80 bytes"));
}

TEST_CASE("an F32 checkpoint imports to the bit-identical weights and graph of the seeded build") {
  temp_dir d("f32");
  const auto config = small_config();
  auto seeded = seeded_weight_source(7);
  build_llama_model(config, *seeded, (d.path / "seeded").string(), quiet());

  auto again = seeded_weight_source(7);
  write_hf_checkpoint(config, *again, (d.path / "hf").string(), "F32", 1);
  write_byte_tokenizer(d.path / "hf");
  const auto r = build_from_hf((d.path / "hf").string(), (d.path / "imported").string(), weight_dtype::fp32);
  CHECK(r.parameter_count == config.parameter_count());
  CHECK(slurp(d.path / "imported" / "model.onnx.data") == slurp(d.path / "seeded" / "model.onnx.data"));
  CHECK(graph_of(d.path / "imported" / "model.onnx") == graph_of(d.path / "seeded" / "model.onnx"));
  CHECK(load_tokenizer((d.path / "imported").string())->vocab_size() == 259);
}

TEST_CASE("a sharded BF16 checkpoint with Qwen2 biases, tied embeddings and Llama-3 rope scaling imports exactly") {
  temp_dir d("bf16");
  auto config = small_config();
  config.model_type = "qwen2";
  config.attention_bias = true;
  config.tie_word_embeddings = true;
  config.rope_scaling = rope_scaling_config{};
  config.max_position_embeddings = 16384;

  bf16_rounded reference(seeded_weight_source(11));
  build_llama_model(config, reference, (d.path / "seeded").string(), quiet());

  bf16_rounded again(seeded_weight_source(11));
  write_hf_checkpoint(config, again, (d.path / "hf").string(), "BF16", 3);
  write_byte_tokenizer(d.path / "hf");
  REQUIRE(fs::exists(d.path / "hf" / "model.safetensors.index.json"));
  REQUIRE(fs::exists(d.path / "hf" / "model-00003-of-00003.safetensors"));
  build_from_hf((d.path / "hf").string(), (d.path / "imported").string(), weight_dtype::fp32);
  CHECK(slurp(d.path / "imported" / "model.onnx.data") == slurp(d.path / "seeded" / "model.onnx.data"));
  CHECK(graph_of(d.path / "imported" / "model.onnx") == graph_of(d.path / "seeded" / "model.onnx"));

  // --dtype fp16 gives the same bytes as the seeded fp16 build.
  build_options fp16 = quiet();
  fp16.dtype = weight_dtype::fp16;
  bf16_rounded third(seeded_weight_source(11));
  build_llama_model(config, third, (d.path / "seeded16").string(), fp16);
  build_from_hf((d.path / "hf").string(), (d.path / "imported16").string(), weight_dtype::fp16);
  CHECK(slurp(d.path / "imported16" / "model.onnx.data") == slurp(d.path / "seeded16" / "model.onnx.data"));
}

TEST_CASE("bad checkpoints fail with an error naming the problem and leave no output") {
  temp_dir d("bad");
  const auto config = small_config();
  const auto hf = d.path / "hf";
  const auto out = d.path / "out";
  auto fresh = [&]() {
    fs::remove_all(hf);
    auto w = seeded_weight_source(3);
    write_hf_checkpoint(config, *w, hf.string(), "BF16", 2);
    write_byte_tokenizer(hf);
  };
  auto edit_config = [&](auto&& change) {
    auto j = nlohmann::json::parse(slurp(hf / "config.json"));
    change(j);
    std::ofstream(hf / "config.json", std::ios::trunc) << j.dump();
  };
  auto fails_with = [&](const std::string& needle) {
    CHECK_THROWS_WITH(build_from_hf(hf.string(), out.string(), weight_dtype::fp32), Catch::Contains(needle));
    CHECK_FALSE(fs::exists(out));
  };

  fresh();
  edit_config([](auto& j) { j["architectures"] = {"GPT2LMHeadModel"}; });
  fails_with("unsupported architecture 'GPT2LMHeadModel'");

  fresh();
  edit_config([](auto& j) { j.erase("hidden_size"); });
  fails_with("hidden_size");

  fresh();
  {  // drop one tensor from the index: the import names it
    auto j = nlohmann::json::parse(slurp(hf / "model.safetensors.index.json"));
    j["weight_map"].erase("model.layers.1.mlp.up_proj.weight");
    std::ofstream(hf / "model.safetensors.index.json", std::ios::trunc) << j.dump();
  }
  fails_with("no tensor 'model.layers.1.mlp.up_proj.weight'");

  fresh();
  {  // truncate a shard
    const auto shard = hf / "model-00002-of-00002.safetensors";
    const auto bytes = slurp(shard);
    std::ofstream(shard, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  }
  fails_with("out of range");

  fresh();
  edit_config([](auto& j) { j["mlp_bias"] = true; });
  fails_with("mlp_bias");

  fresh();
  {  // an extra tensor (the o_proj bias of a biased Llama variant) is refused, by name
    const auto shard = hf / "model-00002-of-00002.safetensors";
    std::vector<safetensors_entry> entries;
    {
      safetensors_file f(shard.string());
      for (const auto& [name, t] : f.tensors()) entries.push_back({name, t.shape, "F32", f.read_float32(t)});
    }
    entries.push_back({"model.layers.0.self_attn.o_proj.bias", {config.hidden_size}, "F32",
                       std::vector<float>(static_cast<std::size_t>(config.hidden_size), 0.5f)});
    write_safetensors(shard.string(), entries);
  }
  fails_with("'model.layers.0.self_attn.o_proj.bias'");

  fresh();
  std::ofstream(hf / "tokenizer.json", std::ios::trunc) << R"({"model": {"type": "WordPiece", "vocab": {}}})";
  fails_with("unsupported tokenizer model type \"WordPiece\"");

  fresh();
  fs::remove(hf / "tokenizer.json");
  fails_with("no tokenizer.json or tokenizer.model");
}
