// The decoder graph. Node names follow the Hugging Face/Optimum convention:
// /model/rotary/*, /model/mask/* (the prelude, computed from attention_mask and
// position_ids only), /model/embed_tokens/*, /model/layers.N/*, /model/norm/*, /lm_head/*.
#include "model/build/llama_graph.hpp"

#include <cmath>
#include <cstring>

#include "model/base/model_error.hpp"

namespace tessera::model {
namespace {

constexpr int k_float = onnx::TensorProto::FLOAT;
constexpr int k_float16 = onnx::TensorProto::FLOAT16;
constexpr int k_int64 = onnx::TensorProto::INT64;
constexpr int k_bool = onnx::TensorProto::BOOL;
// Added to the scores of keys a query may not see: finite, so a fully masked row stays finite.
constexpr float k_mask_value = -1e9f;

std::string layer_prefix(int i) { return "/model/layers." + std::to_string(i); }
std::string hf_layer(int i) { return "model.layers." + std::to_string(i); }

}  // namespace

void llama_graph_builder::build() {
  const int64_t nkv = config.num_key_value_heads, hd = config.resolved_head_dim();
  g.input("input_ids", k_int64, {"batch", "sequence"});
  g.input("attention_mask", k_int64, {"batch", "total_sequence"});
  g.input("position_ids", k_int64, {"batch", "sequence"});
  for (int i = 0; i < config.num_hidden_layers; ++i) {
    for (const char* kv : {"key", "value"})
      g.input("past_key_values." + std::to_string(i) + "." + kv, k_float, {"batch", nkv, "past_sequence", hd});
  }
  g.output("logits", k_float, {"batch", "sequence", config.vocab_size});
  for (int i = 0; i < config.num_hidden_layers; ++i) {
    for (const char* kv : {"key", "value"})
      g.output("present." + std::to_string(i) + "." + kv, k_float, {"batch", nkv, "total_sequence", hd});
  }

  const prelude pre = build_prelude();

  // Embedding: Gather rows of [vocab, hidden] (fp16 tables are cast after the gather).
  const std::string emb_name = "model.embed_tokens.weight";
  const std::string table =
      store(emb_name, {config.vocab_size, config.hidden_size}, weights.load(emb_name, {config.vocab_size, config.hidden_size}));
  std::string x = g.op("Gather", "/model/embed_tokens/Gather", {table, "input_ids"}, {{"axis", int64_t(0)}});
  if (dtype == weight_dtype::fp16) x = g.op("Cast", "/model/embed_tokens/Cast", {x}, {{"to", int64_t(k_float)}});

  // The residual stream crosses every layer boundary: record its type so stage
  // cutters know the boundary tensors' shapes without shape inference.
  const std::vector<onnx_dim> stream = {"batch", "sequence", config.hidden_size};
  g.value_info(x, k_float, stream);
  for (int i = 0; i < config.num_hidden_layers; ++i) {
    x = build_layer(i, x, pre);
    g.value_info(x, k_float, stream);
  }

  const std::string normed = rms_norm(x, "model.norm.weight", "/model/norm");
  // The head's matrix is always its own initializer (a copy of the embedding when
  // tied), so a stage holding only the head needs no embedding table.
  const std::string head_src = config.tie_word_embeddings ? emb_name : "lm_head.weight";
  const std::string w = matrix_weight(head_src, config.vocab_size, config.hidden_size, "/lm_head", "lm_head.weight");
  g.op_to("logits", "MatMul", "/lm_head/MatMul", {normed, w});
}

llama_graph_builder::prelude llama_graph_builder::build_prelude() {
  prelude pre;
  // Rotary tables [batch, 1, sequence, head_dim] from position_ids.
  const int64_t hd = config.resolved_head_dim();
  const std::string r = "/model/rotary";
  std::string pos = g.op("Cast", r + "/Cast", {"position_ids"}, {{"to", int64_t(k_float)}});
  pos = g.op("Unsqueeze", r + "/Unsqueeze", {pos, g.const_i64(r + "/Constant_axes2", {2}, {1})});
  const std::string inv_freq = g.const_f32(r + "/inv_freq", rope_inverse_frequencies(config), {hd / 2});
  const std::string freqs = g.op("Mul", r + "/Mul", {pos, inv_freq});
  const std::string emb = g.op("Concat", r + "/Concat", {freqs, freqs}, {{"axis", int64_t(-1)}});
  const std::string axes1 = g.const_i64(r + "/Constant_axes1", {1}, {1});
  pre.cos = g.op("Unsqueeze", r + "/Unsqueeze_cos", {g.op("Cos", r + "/Cos", {emb}), axes1});
  pre.sin = g.op("Unsqueeze", r + "/Unsqueeze_sin", {g.op("Sin", r + "/Sin", {emb}), axes1});

  // Additive mask [batch, 1, 1, sequence, total_sequence] (broadcasts over the
  // grouped-query scores [batch, kv_heads, n_rep, sequence, total_sequence]).
  // Query i sits at absolute position past + i; it sees key j iff j <= past + i
  // and attention_mask[j] == 1.
  const std::string m = "/model/mask";
  const std::string one_idx = g.scalar_i64(m + "/Constant_1", 1);
  const std::string seq = g.op("Gather", m + "/Gather_seq", {g.op("Shape", m + "/Shape_pos", {"position_ids"}), one_idx},
                               {{"axis", int64_t(0)}});
  const std::string total = g.op("Gather", m + "/Gather_total",
                                 {g.op("Shape", m + "/Shape_mask", {"attention_mask"}), one_idx}, {{"axis", int64_t(0)}});
  const std::string past = g.op("Sub", m + "/Sub_past", {total, seq});
  const std::string q_pos = g.op("Range", m + "/Range_query", {past, total, one_idx});
  const std::string k_pos = g.op("Range", m + "/Range_key", {g.scalar_i64(m + "/Constant_0", 0), total, one_idx});
  const std::string q_col = g.op("Unsqueeze", m + "/Unsqueeze_query", {q_pos, g.const_i64(m + "/Constant_axes1", {1}, {1})});
  const std::string causal = g.op("LessOrEqual", m + "/LessOrEqual", {k_pos, q_col});
  std::string keep = g.op("Cast", m + "/Cast", {"attention_mask"}, {{"to", int64_t(k_bool)}});
  keep = g.op("Unsqueeze", m + "/Unsqueeze_pad", {keep, g.const_i64(m + "/Constant_axes123", {1, 2, 3}, {3})});
  const std::string allowed = g.op("And", m + "/And", {causal, keep});
  pre.mask = g.op("Where", m + "/Where",
                  {allowed, g.scalar_f32(m + "/Constant_zero", 0.0f), g.scalar_f32(m + "/Constant_min", k_mask_value)});
  return pre;
}

std::string llama_graph_builder::build_layer(int i, const std::string& x, const prelude& pre) {
  const std::string p = layer_prefix(i), hf = hf_layer(i), a = p + "/self_attn";
  const int64_t h = config.hidden_size, nh = config.num_attention_heads, nkv = config.num_key_value_heads;
  const int64_t hd = config.resolved_head_dim(), rep = nh / nkv, ffn = config.intermediate_size;
  const bool bias = config.attention_bias;

  const std::string ln1 = rms_norm(x, hf + ".input_layernorm.weight", p + "/input_layernorm");
  std::string q = linear(ln1, hf + ".self_attn.q_proj", h, nh * hd, bias, a + "/q_proj");
  std::string k = linear(ln1, hf + ".self_attn.k_proj", h, nkv * hd, bias, a + "/k_proj");
  std::string v = linear(ln1, hf + ".self_attn.v_proj", h, nkv * hd, bias, a + "/v_proj");

  // [batch, seq, heads*hd] -> [batch, heads, seq, hd]
  const std::vector<onnx_attr> perm_bhsd = {{"perm", std::vector<int64_t>{0, 2, 1, 3}}};
  auto split_heads = [&](const std::string& t, int64_t heads, const std::string& name) {
    const std::string shape = g.const_i64(a + "/" + name + "_shape", {0, 0, heads, hd}, {4});
    const std::string r = g.op("Reshape", a + "/" + name + "_Reshape", {t, shape});
    return g.op("Transpose", a + "/" + name + "_Transpose", {r}, perm_bhsd);
  };
  q = rotary(split_heads(q, nh, "q"), pre, a + "/q_rotary");
  k = rotary(split_heads(k, nkv, "k"), pre, a + "/k_rotary");
  v = split_heads(v, nkv, "v");

  const std::string n = std::to_string(i);
  const std::string present_k = g.op_to("present." + n + ".key", "Concat", a + "/k_cache/Concat",
                                        {"past_key_values." + n + ".key", k}, {{"axis", int64_t(2)}});
  const std::string present_v = g.op_to("present." + n + ".value", "Concat", a + "/v_cache/Concat",
                                        {"past_key_values." + n + ".value", v}, {{"axis", int64_t(2)}});

  // Grouped-query attention without repeating K/V: q as [b, kv, rep, s, hd]
  // against K/V as [b, kv, 1, t, hd].
  const std::string q5 = g.op("Reshape", a + "/q_group_Reshape", {q, g.const_i64(a + "/q_group_shape", {0, nkv, rep, -1, hd}, {5})});
  const std::string axes2 = g.const_i64(a + "/Constant_axes2", {2}, {1});
  const std::string k5 = g.op("Unsqueeze", a + "/k_group_Unsqueeze", {present_k, axes2});
  const std::string v5 = g.op("Unsqueeze", a + "/v_group_Unsqueeze", {present_v, axes2});
  const std::string kt = g.op("Transpose", a + "/k_group_Transpose", {k5}, {{"perm", std::vector<int64_t>{0, 1, 2, 4, 3}}});
  std::string scores = g.op("MatMul", a + "/scores/MatMul", {q5, kt});
  scores = g.op("Mul", a + "/scores/Mul", {scores, g.scalar_f32(a + "/scale", float(1.0 / std::sqrt(double(hd))))});
  scores = g.op("Add", a + "/scores/Add_mask", {scores, pre.mask});
  const std::string probs = g.op("Softmax", a + "/Softmax", {scores}, {{"axis", int64_t(-1)}});
  std::string ctx = g.op("MatMul", a + "/context/MatMul", {probs, v5});
  ctx = g.op("Reshape", a + "/context/Reshape_heads", {ctx, g.const_i64(a + "/context/heads_shape", {0, nh, -1, hd}, {4})});
  ctx = g.op("Transpose", a + "/context/Transpose", {ctx}, perm_bhsd);
  ctx = g.op("Reshape", a + "/context/Reshape", {ctx, g.const_i64(a + "/context/shape", {0, 0, nh * hd}, {3})});
  const std::string o = linear(ctx, hf + ".self_attn.o_proj", nh * hd, h, false, a + "/o_proj");
  const std::string h1 = g.op("Add", p + "/attn_residual/Add", {x, o});

  const std::string ln2 = rms_norm(h1, hf + ".post_attention_layernorm.weight", p + "/post_attention_layernorm");
  const std::string m = p + "/mlp";
  const std::string gate = linear(ln2, hf + ".mlp.gate_proj", h, ffn, false, m + "/gate_proj");
  const std::string up = linear(ln2, hf + ".mlp.up_proj", h, ffn, false, m + "/up_proj");
  const std::string silu = g.op("Mul", m + "/act_fn/Mul", {gate, g.op("Sigmoid", m + "/act_fn/Sigmoid", {gate})});
  const std::string act = g.op("Mul", m + "/Mul", {silu, up});
  const std::string down = linear(act, hf + ".mlp.down_proj", ffn, h, false, m + "/down_proj");
  return g.op("Add", p + "/mlp_residual/Add", {h1, down});
}

std::string llama_graph_builder::rms_norm(const std::string& x, const std::string& hf_weight, const std::string& prefix) {
  const std::string w = vector_weight(hf_weight, config.hidden_size, prefix);
  const std::string sq = g.op("Pow", prefix + "/Pow", {x, g.scalar_f32(prefix + "/Constant_two", 2.0f)});
  const std::string mean = g.op("ReduceMean", prefix + "/ReduceMean", {sq},
                                {{"axes", std::vector<int64_t>{-1}}, {"keepdims", int64_t(1)}});
  const std::string var = g.op("Add", prefix + "/Add", {mean, g.scalar_f32(prefix + "/Constant_eps", float(config.rms_norm_eps))});
  const std::string rms = g.op("Sqrt", prefix + "/Sqrt", {var});
  const std::string normed = g.op("Div", prefix + "/Div", {x, rms});
  return g.op("Mul", prefix + "/Mul", {normed, w});
}

std::string llama_graph_builder::rotary(const std::string& x, const prelude& pre, const std::string& prefix) {
  // x * cos + rotate_half(x) * sin, rotate_half(x) = concat(-x[..., hd/2:], x[..., :hd/2])
  const int64_t half = config.resolved_head_dim() / 2;
  const std::string axes = g.const_i64(prefix + "/Constant_axes", {-1}, {1});
  const std::string x1 = g.op("Slice", prefix + "/Slice_1",
                              {x, g.const_i64(prefix + "/Constant_0", {0}, {1}), g.const_i64(prefix + "/Constant_half", {half}, {1}), axes});
  const std::string x2 = g.op("Slice", prefix + "/Slice_2",
                              {x, g.const_i64(prefix + "/Constant_half2", {half}, {1}),
                               g.const_i64(prefix + "/Constant_end", {2 * half}, {1}), axes});
  const std::string rot = g.op("Concat", prefix + "/Concat", {g.op("Neg", prefix + "/Neg", {x2}), x1}, {{"axis", int64_t(-1)}});
  const std::string a = g.op("Mul", prefix + "/Mul_cos", {x, pre.cos});
  const std::string b = g.op("Mul", prefix + "/Mul_sin", {rot, pre.sin});
  return g.op("Add", prefix + "/Add", {a, b});
}

std::string llama_graph_builder::linear(const std::string& x, const std::string& hf_prefix, int64_t in, int64_t out,
                                        bool bias, const std::string& prefix) {
  const std::string w = matrix_weight(hf_prefix + ".weight", out, in, prefix);
  std::string y = g.op("MatMul", prefix + "/MatMul", {x, w});
  if (bias) y = g.op("Add", prefix + "/Add", {y, vector_weight(hf_prefix + ".bias", out, prefix + "/bias")});
  return y;
}

std::string llama_graph_builder::matrix_weight(const std::string& hf_name, int64_t out, int64_t in,
                                               const std::string& prefix, const std::string& stored_name) {
  const std::vector<float> hf = weights.load(hf_name, {out, in});
  if (hf.size() != uint64_t(out) * uint64_t(in))
    throw model_error("weight source returned " + std::to_string(hf.size()) + " values for " + hf_name + " " +
                      shape_string({out, in}));
  std::vector<float> t(hf.size());
  for (int64_t r = 0; r < out; ++r)
    for (int64_t c = 0; c < in; ++c) t[size_t(c) * size_t(out) + size_t(r)] = hf[size_t(r) * size_t(in) + size_t(c)];
  return as_float(store(stored_name.empty() ? hf_name : stored_name, {in, out}, t), prefix);
}

std::string llama_graph_builder::vector_weight(const std::string& hf_name, int64_t n, const std::string& prefix) {
  const std::vector<float> v = weights.load(hf_name, {n});
  if (v.size() != uint64_t(n))
    throw model_error("weight source returned " + std::to_string(v.size()) + " values for " + hf_name + " " +
                      shape_string({n}));
  return as_float(store(hf_name, {n}, v), prefix);
}

std::string llama_graph_builder::store(const std::string& hf_name, const std::vector<int64_t>& dims,
                                       const std::vector<float>& values) {
  if (dtype == weight_dtype::fp32) {
    g.initializer(data, hf_name, k_float, dims, values.data(), values.size() * sizeof(float));
  } else {
    std::vector<uint16_t> half(values.size());
    for (size_t i = 0; i < values.size(); ++i) half[i] = float_to_fp16(values[i]);
    g.initializer(data, hf_name, k_float16, dims, half.data(), half.size() * sizeof(uint16_t));
  }
  return hf_name;
}

std::string llama_graph_builder::as_float(const std::string& stored, const std::string& prefix) {
  if (dtype == weight_dtype::fp32) return stored;
  return g.op("Cast", prefix + "/weight/Cast", {stored}, {{"to", int64_t(k_float)}});
}

}  // namespace tessera::model
