// Small hand-built decoder graphs for the inspector and cutter tests, written
// with the onnx C++ API: an Optimum-style graph (one residual tensor crosses
// each layer boundary; a shared prelude of causal-mask bias and rotary cos
// feeds every layer; Shape(input_ids) in the layers) and an onnxruntime-genai
// style graph (com.microsoft SkipSimplifiedLayerNormalization fuses the end of
// one layer with the start of the next, so two tensors cross each boundary).
// Weights go to external data (model.onnx.data), like real exports.
#pragma once

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace tessera::test {

struct onnx_graph_writer {
  onnx::ModelProto model;
  onnx::GraphProto* g = model.mutable_graph();
  std::string data;  // external data bytes
  int counter = 0;
  bool external = true;

  onnx_graph_writer() {
    model.set_ir_version(8);
    model.set_producer_name("tessera-test");
    auto* op = model.add_opset_import();
    op->set_domain("");
    op->set_version(17);
  }

  std::string fresh(const std::string& base) { return base + "_" + std::to_string(counter++); }

  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& in, const std::vector<std::string>& out,
                        const std::string& name = "", const std::string& domain = "") {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? fresh("/" + op) : name);
    if (!domain.empty()) n->set_domain(domain);
    for (const auto& i : in) n->add_input(i);
    for (const auto& o : out) n->add_output(o);
    return *n;
  }
  std::string op(const std::string& op, const std::vector<std::string>& in, const std::string& prefix = "") {
    auto out = fresh(prefix + "/" + op + "_output");
    node(op, in, {out}, prefix + "/" + op + "_" + std::to_string(counter));
    return out;
  }
  static void attr(onnx::NodeProto& n, const std::string& name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto& n, const std::string& name, float v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }

  // A float weight with deterministic values, stored in external data.
  std::string weight(const std::string& name, const std::vector<int64_t>& dims, float scale = 0.1f) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    size_t n = 1;
    for (auto d : dims) { t->add_dims(d); n *= size_t(d); }
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = scale * float(int((i * 7919 + name.size() * 131 + counter * 17) % 23) - 11) / 11.0f;
    ++counter;
    std::string bytes(reinterpret_cast<const char*>(v.data()), n * sizeof(float));
    if (external) {
      while (data.size() % 16) data.push_back('\0');
      auto add = [&](const std::string& k, const std::string& val) {
        auto* e = t->add_external_data();
        e->set_key(k);
        e->set_value(val);
      };
      t->set_data_location(onnx::TensorProto::EXTERNAL);
      add("location", "model.onnx.data");
      add("offset", std::to_string(data.size()));
      add("length", std::to_string(bytes.size()));
      data += bytes;
    } else {
      t->set_raw_data(bytes);
    }
    return name;
  }
  std::string ints(const std::vector<int64_t>& v, bool scalar = false) {
    auto* t = g->add_initializer();
    t->set_name(fresh("/const_i64"));
    t->set_data_type(onnx::TensorProto::INT64);
    if (!scalar) t->add_dims(int64_t(v.size()));
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 8));
    return t->name();
  }
  std::string scalar(float v) {
    auto* t = g->add_initializer();
    t->set_name(fresh("/const_f32"));
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(&v), 4));
    return t->name();
  }
  static void typed(onnx::ValueInfoProto* vi, const std::string& name, int type, const std::vector<std::string>& dims) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(type);
    auto* shape = tt->mutable_shape();
    for (const auto& d : dims) {
      auto* dim = shape->add_dim();
      if (std::isdigit(static_cast<unsigned char>(d[0]))) dim->set_dim_value(std::stoll(d));
      else dim->set_dim_param(d);
    }
  }
  void input(const std::string& name, int type, const std::vector<std::string>& dims) { typed(g->add_input(), name, type, dims); }
  void output(const std::string& name, int type, const std::vector<std::string>& dims) { typed(g->add_output(), name, type, dims); }
  void value_info(const std::string& name, int type, const std::vector<std::string>& dims) { typed(g->add_value_info(), name, type, dims); }

  void save(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    std::ofstream out(dir / "model.onnx", std::ios::binary | std::ios::trunc);
    model.SerializeToOstream(&out);
    if (external) {
      std::ofstream d(dir / "model.onnx.data", std::ios::binary | std::ios::trunc);
      d.write(data.data(), std::streamsize(data.size()));
    }
  }
};

// Geometry of the test decoders.
struct toy_geometry {
  int layers = 3;
  int hidden = 8;
  int heads = 2;
  int kv_heads = 1;
  int head_dim = 4;
  int ffn = 16;
  int vocab = 32;
  int max_positions = 64;
};

// Shared parts of both styles: inputs, KV outputs and the prelude (mask bias
// [B,1,1,T] from attention_mask and rotary cos [B,1,S,head_dim] from position_ids).
struct toy_decoder : onnx_graph_writer {
  toy_geometry geo;
  std::string mask_bias, cos;

  explicit toy_decoder(toy_geometry g) : geo(g) {
    using T = onnx::TensorProto;
    input("input_ids", T::INT64, {"batch_size", "sequence_length"});
    input("attention_mask", T::INT64, {"batch_size", "total_sequence_length"});
    input("position_ids", T::INT64, {"batch_size", "sequence_length"});
    for (int k = 0; k < geo.layers; ++k)
      for (const char* kv : {"key", "value"})
        input("past_key_values." + std::to_string(k) + "." + kv, T::FLOAT,
              {"batch_size", std::to_string(geo.kv_heads), "past_sequence_length", std::to_string(geo.head_dim)});
    // Prelude: (1 - mask) * -1e4, unsqueezed; cos table lookup by position.
    auto& cast = node("Cast", {"attention_mask"}, {"/model/mask_f"}, "/model/Cast");
    attr(cast, "to", int64_t(T::FLOAT));
    auto inv = op("Sub", {scalar(1.0f), "/model/mask_f"}, "/model");
    auto bias = op("Mul", {inv, scalar(-10000.0f)}, "/model");
    mask_bias = op("Unsqueeze", {bias, ints({1, 2})}, "/model");
    auto table = weight("model.rotary.cos_cached", {geo.max_positions, geo.head_dim}, 1.0f);
    auto gathered = op("Gather", {table, "position_ids"}, "/model/rotary");  // [B,S,hd]
    cos = op("Unsqueeze", {gathered, ints({1})}, "/model/rotary");           // [B,1,S,hd]
  }

  std::string embed() {
    return op("Gather", {weight("model.embed_tokens.weight", {geo.vocab, geo.hidden}), "input_ids"}, "/model/embed_tokens");
  }

  // RMSNorm from standard ops.
  std::string rms_norm(const std::string& x, const std::string& w, const std::string& p) {
    auto sq = op("Mul", {x, x}, p);
    auto& rm = node("ReduceMean", {sq}, {p + "/ReduceMean_output"}, p + "/ReduceMean");
    attr(rm, "axes", std::vector<int64_t>{-1});
    auto r = op("Sqrt", {op("Add", {p + "/ReduceMean_output", scalar(1e-5f)}, p)}, p);
    return op("Mul", {op("Div", {x, r}, p), w}, p);
  }

  // Attention of layer k on the normed input; returns the o_proj output [B,S,H].
  std::string attention(int k, const std::string& normed) {
    const std::string p = "/model/layers." + std::to_string(k) + "/self_attn";
    const std::string w = "model.layers." + std::to_string(k) + ".self_attn.";
    auto heads_shape = [&](int heads) {
      // [B, S, heads, head_dim] from Shape(input_ids) like Optimum exports.
      auto s = op("Shape", {"input_ids"}, p);
      auto out = fresh(p + "/Concat_shape_output");
      attr(node("Concat", {s, ints({heads, geo.head_dim})}, {out}, fresh(p + "/Concat_shape")), "axis", int64_t(0));
      return out;
    };
    auto split = [&](const std::string& t, int heads) {
      auto r = op("Reshape", {t, heads_shape(heads)}, p);
      auto out = fresh(p + "/Transpose_output");
      attr(node("Transpose", {r}, {out}, fresh(p + "/Transpose")), "perm", std::vector<int64_t>{0, 2, 1, 3});
      return out;
    };
    auto q = op("Mul", {split(op("MatMul", {normed, weight(w + "q_proj.weight", {geo.hidden, geo.heads * geo.head_dim})}, p), geo.heads), cos}, p);
    auto key = op("Mul", {split(op("MatMul", {normed, weight(w + "k_proj.weight", {geo.hidden, geo.kv_heads * geo.head_dim})}, p), geo.kv_heads), cos}, p);
    auto val = split(op("MatMul", {normed, weight(w + "v_proj.weight", {geo.hidden, geo.kv_heads * geo.head_dim})}, p), geo.kv_heads);
    const std::string pk = "present." + std::to_string(k) + ".key", pv = "present." + std::to_string(k) + ".value";
    attr(node("Concat", {"past_key_values." + std::to_string(k) + ".key", key}, {pk}, p + "/Concat_k"), "axis", int64_t(2));
    attr(node("Concat", {"past_key_values." + std::to_string(k) + ".value", val}, {pv}, p + "/Concat_v"), "axis", int64_t(2));
    auto kt = fresh(p + "/Transpose_k_output");
    attr(node("Transpose", {pk}, {kt}, fresh(p + "/Transpose_k")), "perm", std::vector<int64_t>{0, 1, 3, 2});
    auto scores = op("Add", {op("Mul", {op("MatMul", {q, kt}, p), scalar(0.5f)}, p), mask_bias}, p);
    auto probs = fresh(p + "/Softmax_output");
    attr(node("Softmax", {scores}, {probs}, fresh(p + "/Softmax")), "axis", int64_t(-1));
    auto ctx = op("MatMul", {probs, pv}, p);
    auto ctx_t = fresh(p + "/Transpose_ctx_output");
    attr(node("Transpose", {ctx}, {ctx_t}, fresh(p + "/Transpose_ctx")), "perm", std::vector<int64_t>{0, 2, 1, 3});
    auto merged = op("Reshape", {ctx_t, ints({0, 0, geo.heads * geo.head_dim})}, p);
    return op("MatMul", {merged, weight(w + "o_proj.weight", {geo.heads * geo.head_dim, geo.hidden})}, p);
  }

  std::string mlp(int k, const std::string& normed) {
    const std::string p = "/model/layers." + std::to_string(k) + "/mlp";
    const std::string w = "model.layers." + std::to_string(k) + ".mlp.";
    auto up = op("MatMul", {normed, weight(w + "up_proj.weight", {geo.hidden, geo.ffn})}, p);
    auto act = op("Mul", {up, op("Sigmoid", {up}, p)}, p);
    return op("MatMul", {act, weight(w + "down_proj.weight", {geo.ffn, geo.hidden})}, p);
  }

  void finish(const std::string& normed_final) {
    using T = onnx::TensorProto;
    node("MatMul", {normed_final, weight("lm_head.weight", {geo.hidden, geo.vocab})}, {"logits"}, "/lm_head/MatMul");
    output("logits", T::FLOAT, {"batch_size", "sequence_length", std::to_string(geo.vocab)});
    for (int k = 0; k < geo.layers; ++k)
      for (const char* kv : {"key", "value"})
        output("present." + std::to_string(k) + "." + kv, T::FLOAT,
               {"batch_size", std::to_string(geo.kv_heads), "total_sequence_length", std::to_string(geo.head_dim)});
  }
};

// Optimum style: x -> norm -> attn -> add -> norm -> mlp -> add; one residual per boundary.
// With `embed_skip`, the embedding also feeds the final norm (a long skip
// connection), so it crosses every boundary and middle stages pass it through.
inline void write_optimum_style(const std::filesystem::path& dir, toy_geometry geo = {}, bool embed_skip = false) {
  toy_decoder d(geo);
  auto x = d.embed();
  const auto embedded = x;
  for (int k = 0; k < geo.layers; ++k) {
    const std::string p = "/model/layers." + std::to_string(k);
    const std::string w = "model.layers." + std::to_string(k);
    auto h = d.op("Add", {x, d.attention(k, d.rms_norm(x, d.weight(w + ".input_layernorm.weight", {geo.hidden}), p + "/input_layernorm"))}, p);
    x = d.op("Add", {h, d.mlp(k, d.rms_norm(h, d.weight(w + ".post_attention_layernorm.weight", {geo.hidden}), p + "/post_attention_layernorm"))}, p);
  }
  if (embed_skip) x = d.op("Add", {x, embedded}, "/model/embed_skip");
  d.finish(d.rms_norm(x, d.weight("model.norm.weight", {geo.hidden}), "/model/norm"));
  d.save(dir);
}

// onnxruntime-genai style: SkipSimplifiedLayerNormalization(input, skip) -> (normed, -, -, input+skip)
// joins layer k's MLP output to layer k+1's attention norm; the types of its
// outputs come from value_info (onnx shape inference does not know the op).
inline void write_genai_style(const std::filesystem::path& dir, toy_geometry geo = {}) {
  using T = onnx::TensorProto;
  toy_decoder d(geo);
  auto* ms = d.model.add_opset_import();
  ms->set_domain("com.microsoft");
  ms->set_version(1);
  const std::vector<std::string> hidden_dims = {"batch_size", "sequence_length", std::to_string(geo.hidden)};
  auto skip_norm = [&](std::string input, std::string skip, const std::string& w, const std::string& p,
                       std::string& normed, std::string& sum) {
    normed = p + "/output_0";
    sum = p + "/output_3";
    auto& n = d.node("SkipSimplifiedLayerNormalization", {input, skip, w}, {normed, "", "", sum}, p + "/SkipLayerNorm",
                     "com.microsoft");
    d.attr(n, "epsilon", 1e-5f);
    d.value_info(normed, T::FLOAT, hidden_dims);
    d.value_info(sum, T::FLOAT, hidden_dims);
  };
  auto x = d.embed();
  std::string residual = x, pending_mlp, normed;
  {
    normed = "/model/layers.0/input_layernorm/output_0";
    auto& n = d.node("SimplifiedLayerNormalization", {x, d.weight("model.layers.0.input_layernorm.weight", {geo.hidden})},
                     {normed}, "/model/layers.0/input_layernorm/LayerNorm");  // ORT registers it in the default domain
    d.attr(n, "epsilon", 1e-5f);
    d.attr(n, "axis", int64_t(-1));
    d.value_info(normed, T::FLOAT, hidden_dims);
  }
  for (int k = 0; k < geo.layers; ++k) {
    const std::string p = "/model/layers." + std::to_string(k);
    const std::string w = "model.layers." + std::to_string(k);
    if (k > 0)
      skip_norm(pending_mlp, residual, d.weight(w + ".input_layernorm.weight", {geo.hidden}), p + "/input_layernorm", normed, residual);
    auto attn = d.attention(k, normed);
    std::string normed2;
    skip_norm(attn, residual, d.weight(w + ".post_attention_layernorm.weight", {geo.hidden}), p + "/post_attention_layernorm",
              normed2, residual);
    pending_mlp = d.mlp(k, normed2);
  }
  std::string final_normed, final_sum;
  skip_norm(pending_mlp, residual, d.weight("model.norm.weight", {geo.hidden}), "/model/norm", final_normed, final_sum);
  d.finish(final_normed);
  d.save(dir);
}

// Not a decoder: a two-layer MLP with no KV cache.
inline void write_plain_mlp(const std::filesystem::path& dir) {
  using T = onnx::TensorProto;
  onnx_graph_writer w;
  w.input("input_ids", T::FLOAT, {"batch", "8"});
  auto h = w.op("MatMul", {"input_ids", w.weight("w1", {8, 8})});
  w.node("MatMul", {h, w.weight("w2", {8, 4})}, {"logits"});
  w.output("logits", T::FLOAT, {"batch", "4"});
  w.save(dir);
}

}  // namespace tessera::test
