// The model builder: graph contract (names, types, opset), checker, determinism,
// fp16, overrides and the seeded weight source.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <unistd.h>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include "model/base/model_error.hpp"
#include "model/build/llama_builder.hpp"
#include "model/build/llama_config.hpp"
#include "model/build/llama_overrides.hpp"
#include "model/build/onnx_builder_graph.hpp"
#include "model/build/weight_source.hpp"

namespace fs = std::filesystem;
using namespace tessera::model;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("tessera-builder-test-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(counter()++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

onnx::ModelProto load_model(const fs::path& p) {
  onnx::ModelProto m;
  std::ifstream in(p, std::ios::binary);
  REQUIRE(m.ParseFromIstream(&in));
  return m;
}

std::string build(const fs::path& dir, const llama_config& c, uint64_t seed = 0,
                  weight_dtype dtype = weight_dtype::fp32) {
  auto src = seeded_weight_source(seed);
  build_options o;
  o.dtype = dtype;
  build_llama_model(c, *src, dir.string(), o);
  return dir.string();
}

const onnx::TensorProto* find_initializer(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

}  // namespace

TEST_CASE("the tiny preset builds a checked opset-17 IR-8 model with the shared input/output contract") {
  temp_dir tmp;
  const auto dir = tmp.path / "tiny";
  build(dir, preset_config("tiny"));
  REQUIRE(fs::exists(dir / "model.onnx"));
  REQUIRE(fs::exists(dir / "model.onnx.data"));
  CHECK(fs::file_size(dir / "model.onnx") + fs::file_size(dir / "model.onnx.data") < 1000000);
  CHECK_NOTHROW(onnx::checker::check_model((dir / "model.onnx").string()));

  const auto m = load_model(dir / "model.onnx");
  CHECK(m.ir_version() == 8);
  REQUIRE(m.opset_import_size() == 1);
  CHECK(m.opset_import(0).domain().empty());
  CHECK(m.opset_import(0).version() == 17);

  std::vector<std::string> inputs, outputs;
  for (const auto& i : m.graph().input()) inputs.push_back(i.name());
  for (const auto& o : m.graph().output()) outputs.push_back(o.name());
  std::vector<std::string> want_in = {"input_ids", "attention_mask", "position_ids"};
  std::vector<std::string> want_out = {"logits"};
  for (int i = 0; i < 4; ++i) {
    for (const char* kv : {"key", "value"}) {
      want_in.push_back("past_key_values." + std::to_string(i) + "." + kv);
      want_out.push_back("present." + std::to_string(i) + "." + kv);
    }
  }
  CHECK(inputs == want_in);
  CHECK(outputs == want_out);

  const auto& past = m.graph().input(3).type().tensor_type();
  CHECK(past.elem_type() == onnx::TensorProto::FLOAT);
  REQUIRE(past.shape().dim_size() == 4);
  CHECK(past.shape().dim(0).dim_param() == "batch");
  CHECK(past.shape().dim(1).dim_value() == 2);  // kv heads
  CHECK(past.shape().dim(2).dim_param() == "past_sequence");
  CHECK(past.shape().dim(3).dim_value() == 16);  // head dim
  CHECK(m.graph().input(0).type().tensor_type().elem_type() == onnx::TensorProto::INT64);
  const auto& logits = m.graph().output(0).type().tensor_type();
  REQUIRE(logits.shape().dim_size() == 3);
  CHECK(logits.shape().dim(2).dim_value() == 259);
}

TEST_CASE("weights are external initializers with Hugging Face names in MatMul layout") {
  temp_dir tmp;
  build(tmp.path / "m", preset_config("tiny"));
  const auto m = load_model(tmp.path / "m" / "model.onnx");
  for (const auto& t : m.graph().initializer()) {
    INFO(t.name());
    CHECK(t.data_location() == onnx::TensorProto::EXTERNAL);
    CHECK(t.raw_data().empty());
  }
  const auto* q = find_initializer(m, "model.layers.0.self_attn.q_proj.weight");
  const auto* k = find_initializer(m, "model.layers.3.self_attn.k_proj.weight");
  const auto* down = find_initializer(m, "model.layers.1.mlp.down_proj.weight");
  const auto* head = find_initializer(m, "lm_head.weight");
  REQUIRE(q);
  REQUIRE(k);
  REQUIRE(down);
  REQUIRE(head);
  CHECK(std::vector<int64_t>(k->dims().begin(), k->dims().end()) == std::vector<int64_t>{64, 32});
  CHECK(std::vector<int64_t>(down->dims().begin(), down->dims().end()) == std::vector<int64_t>{128, 64});
  CHECK(std::vector<int64_t>(head->dims().begin(), head->dims().end()) == std::vector<int64_t>{64, 259});
  for (const char* n : {"model.embed_tokens.weight", "model.norm.weight", "model.layers.2.input_layernorm.weight",
                        "model.layers.2.post_attention_layernorm.weight", "model.layers.2.mlp.gate_proj.weight",
                        "model.layers.2.mlp.up_proj.weight", "model.layers.2.self_attn.v_proj.weight",
                        "model.layers.2.self_attn.o_proj.weight"}) {
    INFO(n);
    CHECK(find_initializer(m, n));
  }
  // Every layer node is named after its layer.
  std::set<std::string> prefixes;
  for (const auto& n : m.graph().node()) {
    const auto& name = n.name();
    const bool known = name.rfind("/model/layers.", 0) == 0 || name.rfind("/model/rotary/", 0) == 0 ||
                       name.rfind("/model/mask/", 0) == 0 || name.rfind("/model/embed_tokens/", 0) == 0 ||
                       name.rfind("/model/norm/", 0) == 0 || name.rfind("/lm_head/", 0) == 0;
    INFO(name);
    CHECK(known);
  }
}

TEST_CASE("the prelude (mask, rotary tables) never depends on input_ids") {
  temp_dir tmp;
  build(tmp.path / "m", preset_config("tiny"));
  const auto m = load_model(tmp.path / "m" / "model.onnx");
  std::set<std::string> tainted = {"input_ids"};
  int prelude_nodes = 0;
  for (const auto& n : m.graph().node()) {  // nodes are in topological order
    bool from_ids = false;
    for (const auto& i : n.input()) from_ids |= tainted.count(i) > 0;
    if (from_ids)
      for (const auto& o : n.output()) tainted.insert(o);
    const bool prelude = n.name().rfind("/model/rotary/", 0) == 0 || n.name().rfind("/model/mask/", 0) == 0;
    if (prelude) {
      ++prelude_nodes;
      INFO(n.name());
      CHECK_FALSE(from_ids);
    }
  }
  CHECK(prelude_nodes > 10);
}

TEST_CASE("the same preset and seed give byte-identical files, another seed other weights") {
  temp_dir tmp;
  build(tmp.path / "a", preset_config("tiny"), 7);
  build(tmp.path / "b", preset_config("tiny"), 7);
  build(tmp.path / "c", preset_config("tiny"), 8);
  for (const char* f : {"model.onnx", "model.onnx.data", "config.json", "tokenizer.json"}) {
    INFO(f);
    CHECK(read_file(tmp.path / "a" / f) == read_file(tmp.path / "b" / f));
  }
  CHECK(read_file(tmp.path / "a" / "model.onnx.data") != read_file(tmp.path / "c" / "model.onnx.data"));
}

TEST_CASE("fp16 halves the weight data and casts every weight to float32 at use") {
  temp_dir tmp;
  build(tmp.path / "f32", preset_config("tiny"));
  build(tmp.path / "f16", preset_config("tiny"), 0, weight_dtype::fp16);
  const double ratio = double(fs::file_size(tmp.path / "f16" / "model.onnx.data")) /
                       double(fs::file_size(tmp.path / "f32" / "model.onnx.data"));
  CHECK(ratio > 0.48);
  CHECK(ratio < 0.52);
  CHECK_NOTHROW(onnx::checker::check_model((tmp.path / "f16" / "model.onnx").string()));
  const auto m = load_model(tmp.path / "f16" / "model.onnx");
  std::set<std::string> cast_inputs;
  for (const auto& n : m.graph().node())
    if (n.op_type() == "Cast") cast_inputs.insert(n.input(0));
  for (const auto& t : m.graph().initializer()) {
    INFO(t.name());
    CHECK(t.data_type() == onnx::TensorProto::FLOAT16);
    if (t.name() != "model.embed_tokens.weight") CHECK(cast_inputs.count(t.name()) == 1);
  }
  CHECK(m.graph().input(3).type().tensor_type().elem_type() == onnx::TensorProto::FLOAT);
  CHECK(m.graph().output(0).type().tensor_type().elem_type() == onnx::TensorProto::FLOAT);
  CHECK(read_file(tmp.path / "f16" / "config.json").find("\"torch_dtype\": \"float16\"") != std::string::npos);
}

TEST_CASE("config.json uses Hugging Face keys and tokenizer.json describes the byte tokenizer") {
  temp_dir tmp;
  build(tmp.path / "m", preset_config("tiny"));
  const auto j = nlohmann::json::parse(read_file(tmp.path / "m" / "config.json"));
  CHECK(j["architectures"][0] == "LlamaForCausalLM");
  CHECK(j["model_type"] == "llama");
  CHECK(j["num_hidden_layers"] == 4);
  CHECK(j["hidden_size"] == 64);
  CHECK(j["num_attention_heads"] == 4);
  CHECK(j["num_key_value_heads"] == 2);
  CHECK(j["intermediate_size"] == 128);
  CHECK(j["vocab_size"] == 259);
  CHECK(j["max_position_embeddings"] == 256);
  CHECK(j["head_dim"] == 16);
  CHECK(j["tie_word_embeddings"] == false);
  CHECK(j["torch_dtype"] == "float32");
  CHECK(from_hf_config_json(j).parameter_count() == preset_config("tiny").parameter_count());
  const auto t = nlohmann::json::parse(read_file(tmp.path / "m" / "tokenizer.json"));
  CHECK(t == nlohmann::json::parse(
                 R"({"tessera_tokenizer": "bytes", "vocab_size": 259, "bos_token_id": 256, "eos_token_id": 257, "pad_token_id": 258})"));
}

TEST_CASE("overrides apply and show in the graph and config.json") {
  llama_overrides o;
  o.layers = 2;
  o.hidden = 96;
  o.heads = 6;
  o.kv_heads = 3;
  o.ffn = 40;
  o.context = 64;
  const auto c = apply_overrides(preset_config("tiny"), o);
  CHECK(c.head_dim == 16);
  temp_dir tmp;
  build(tmp.path / "m", c);
  const auto m = load_model(tmp.path / "m" / "model.onnx");
  CHECK(m.graph().input_size() == 3 + 2 * 2);
  const auto* gate = find_initializer(m, "model.layers.1.mlp.gate_proj.weight");
  REQUIRE(gate);
  CHECK(std::vector<int64_t>(gate->dims().begin(), gate->dims().end()) == std::vector<int64_t>{96, 40});
  const auto j = nlohmann::json::parse(read_file(tmp.path / "m" / "config.json"));
  CHECK(j["num_key_value_heads"] == 3);
  CHECK(j["max_position_embeddings"] == 64);
}

TEST_CASE("attention bias and tied embeddings build and pass the checker") {
  llama_overrides o;
  o.attention_bias = true;
  o.tie_embeddings = true;
  const auto c = apply_overrides(preset_config("tiny"), o);
  temp_dir tmp;
  build(tmp.path / "m", c);
  CHECK_NOTHROW(onnx::checker::check_model((tmp.path / "m" / "model.onnx").string()));
  const auto m = load_model(tmp.path / "m" / "model.onnx");
  CHECK(find_initializer(m, "model.layers.0.self_attn.q_proj.bias"));
  CHECK(find_initializer(m, "model.layers.3.self_attn.v_proj.bias"));
  CHECK(find_initializer(m, "lm_head.weight"));  // the head keeps its own (copied) matrix
}

TEST_CASE("bad overrides are rejected with a message naming the flag") {
  const auto tiny = preset_config("tiny");
  auto fails_naming = [&](llama_overrides o, const std::string& flag) {
    try {
      apply_overrides(tiny, o);
      FAIL("accepted an override that should fail: " << flag);
    } catch (const model_error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(flag) != std::string::npos);
    }
  };
  llama_overrides o;
  o.layers = 0;
  fails_naming(o, "--layers");
  o = {};
  o.kv_heads = 3;
  fails_naming(o, "--kv-heads");
  o = {};
  o.hidden = 100;
  fails_naming(o, "--hidden");
  o = {};
  o.ffn = -4;
  fails_naming(o, "--ffn");
  o = {};
  o.head_dim = 15;
  fails_naming(o, "--head-dim");
  o = {};
  o.vocab = 100;
  fails_naming(o, "--vocab");
  o = {};
  o.rope_theta = -1.0;
  fails_naming(o, "--rope-theta");
  CHECK_THROWS_AS(preset_config("huge"), model_error);
  CHECK_THROWS_AS(parse_weight_dtype("int8"), model_error);
}

TEST_CASE("a directory that is not a model is never replaced and a failed build leaves no output") {
  temp_dir tmp;
  fs::create_directories(tmp.path / "precious");
  std::ofstream(tmp.path / "precious" / "notes.txt") << "keep me";
  CHECK_THROWS_AS(build(tmp.path / "precious", preset_config("tiny")), model_error);
  CHECK(fs::exists(tmp.path / "precious" / "notes.txt"));

  // A weight source that fails midway: no output directory, no temporary left behind.
  struct failing_source : weight_source {
    int calls = 0;
    std::vector<float> load(const std::string& name, const std::vector<int64_t>& shape) override {
      if (++calls > 5) throw model_error("missing tensor " + name);
      return std::vector<float>(element_count(shape), 0.5f);
    }
    std::string describe() const override { return "failing"; }
  } src;
  CHECK_THROWS_AS(build_llama_model(preset_config("tiny"), src, (tmp.path / "out").string()), model_error);
  CHECK_FALSE(fs::exists(tmp.path / "out"));
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp.path)) ++entries;
  CHECK(entries == 1);  // only "precious"
}

TEST_CASE("rebuilding into an existing model directory replaces it") {
  temp_dir tmp;
  build(tmp.path / "m", preset_config("tiny"), 1);
  const auto first = read_file(tmp.path / "m" / "model.onnx.data");
  build(tmp.path / "m", preset_config("tiny"), 2);
  CHECK(read_file(tmp.path / "m" / "model.onnx.data") != first);
}

TEST_CASE("seeded weights depend on name and seed, not on call order, with sensible scales") {
  auto a = seeded_weight_source(3), b = seeded_weight_source(3);
  const auto q1 = a->load("model.layers.0.self_attn.q_proj.weight", {64, 64});
  const auto n1 = a->load("model.layers.0.input_layernorm.weight", {64});
  const auto n2 = b->load("model.layers.0.input_layernorm.weight", {64});
  const auto q2 = b->load("model.layers.0.self_attn.q_proj.weight", {64, 64});
  CHECK(q1 == q2);
  CHECK(n1 == n2);
  CHECK(q1 != a->load("model.layers.1.self_attn.q_proj.weight", {64, 64}));
  double mean = 0, sq = 0;
  for (float v : q1) {
    mean += v;
    sq += double(v) * v;
  }
  mean /= q1.size();
  const double std = std::sqrt(sq / q1.size() - mean * mean);
  CHECK(std::abs(mean) < 0.02);
  CHECK(std > 0.1);  // 1/sqrt(64) = 0.125
  CHECK(std < 0.15);
  for (float v : n1) {
    CHECK(v > 0.7f);
    CHECK(v < 1.3f);
  }
}

TEST_CASE("float16 conversion rounds to nearest even and round-trips") {
  CHECK(float_to_fp16(1.0f) == 0x3C00);
  CHECK(float_to_fp16(-2.0f) == 0xC000);
  CHECK(float_to_fp16(65504.0f) == 0x7BFF);
  CHECK(float_to_fp16(1e6f) == 0x7C00);
  CHECK(float_to_fp16(5.960464477539063e-08f) == 0x0001);  // smallest subnormal
  CHECK(float_to_fp16(1.0f + 1.0f / 2048) == 0x3C00);       // tie -> even
  CHECK(float_to_fp16(1.0f + 3.0f / 2048) == 0x3C02);       // tie -> even (up)
  for (uint32_t h = 0; h < 0x7C00; ++h) {
    if (float_to_fp16(fp16_to_float(uint16_t(h))) != h) {
      FAIL("round trip of half " << h);
    }
  }
}

TEST_CASE("Llama-3 rope scaling changes only the low frequencies") {
  auto c = preset_config("tiny");
  const auto plain = rope_inverse_frequencies(c);
  c.rope_theta = 500000;
  const auto base = rope_inverse_frequencies(c);
  c.rope_scaling = rope_scaling_config{};
  c.rope_scaling->original_max_position_embeddings = 64;
  const auto scaled = rope_inverse_frequencies(c);
  REQUIRE(scaled.size() == 8);
  CHECK(plain[0] == 1.0f);
  CHECK(scaled[0] == base[0]);                         // high frequency kept
  CHECK(scaled[7] == Approx(base[7] / 8).epsilon(1e-6));  // low frequency divided by factor
}

TEST_CASE("layer boundaries carry value_info and shape inference types every node output") {
  temp_dir tmp;
  build(tmp.path / "m", preset_config("tiny"));
  auto m = load_model(tmp.path / "m" / "model.onnx");
  std::set<std::string> typed;
  for (const auto& vi : m.graph().value_info()) {
    CHECK(vi.type().tensor_type().shape().dim_size() == 3);
    CHECK(vi.type().tensor_type().shape().dim(2).dim_value() == 64);
    typed.insert(vi.name());
  }
  CHECK(typed.count("/model/embed_tokens/Gather/output_0") == 1);
  CHECK(typed.count("/model/layers.3/mlp_residual/Add/output_0") == 1);
  CHECK(typed.size() == 5);  // embedding + one per layer

  onnx::shape_inference::InferShapes(m);
  std::set<std::string> inferred;
  for (const auto& vi : m.graph().value_info())
    if (vi.type().tensor_type().elem_type() != 0) inferred.insert(vi.name());
  for (const auto& o : m.graph().output()) inferred.insert(o.name());
  for (const auto& n : m.graph().node()) {
    for (const auto& o : n.output()) {
      INFO(n.name() << " -> " << o);
      CHECK(inferred.count(o) == 1);
    }
  }
}

TEST_CASE("Hugging Face config.json of Llama-3.2 and Qwen2.5 shapes are read with their quirks") {
  const auto llama = from_hf_config_json(nlohmann::json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009], "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048,
    "intermediate_size": 8192, "max_position_embeddings": 131072, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16", "vocab_size": 128256})"));
  CHECK(llama.parameter_count() == 1235814400ull);  // Llama-3.2-1B
  REQUIRE(llama.rope_scaling);
  CHECK(llama.rope_scaling->factor == 32.0);
  CHECK(llama.eos_token_id == 128001);
  CHECK(llama.tie_word_embeddings);
  CHECK_FALSE(llama.attention_bias);

  const auto qwen = from_hf_config_json(nlohmann::json::parse(R"({
    "architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu", "hidden_size": 896, "intermediate_size": 4864,
    "max_position_embeddings": 32768, "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
    "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768,
    "tie_word_embeddings": true, "use_sliding_window": false, "vocab_size": 151936, "bos_token_id": 151643,
    "eos_token_id": 151643})"));
  CHECK(qwen.attention_bias);  // Qwen2 always has q/k/v biases
  CHECK(qwen.resolved_head_dim() == 64);
  CHECK(qwen.parameter_count() == 494032768ull);  // Qwen2.5-0.5B
  CHECK(to_hf_config_json(qwen, "float32")["architectures"][0] == "Qwen2ForCausalLM");

  auto bad = nlohmann::json::parse(R"({"hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1,
    "intermediate_size": 8, "vocab_size": 10})");
  try {
    from_hf_config_json(bad);
    FAIL("accepted a config without max_position_embeddings");
  } catch (const model_error& e) {
    CHECK(std::string(e.what()).find("max_position_embeddings") != std::string::npos);
  }
  bad["max_position_embeddings"] = 16;
  bad["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
  CHECK_THROWS_WITH(from_hf_config_json(bad), Catch::Contains("dynamic"));
}

TEST_CASE("a model with Llama-3 rope scaling, attention bias and tied embeddings passes the checker") {
  auto c = preset_config("tiny");
  c.rope_theta = 500000;
  c.rope_scaling = rope_scaling_config{};
  c.rope_scaling->original_max_position_embeddings = 16;
  c.attention_bias = true;
  c.tie_word_embeddings = true;
  temp_dir tmp;
  build(tmp.path / "m", c);
  CHECK_NOTHROW(onnx::checker::check_model((tmp.path / "m" / "model.onnx").string()));
  const auto j = nlohmann::json::parse(read_file(tmp.path / "m" / "config.json"));
  CHECK(j["rope_scaling"]["rope_type"] == "llama3");
  CHECK(from_hf_config_json(j).rope_scaling->original_max_position_embeddings == 16);
}
