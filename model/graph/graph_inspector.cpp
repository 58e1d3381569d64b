// Inspector: per-layer costs of a decoder graph from its structure.
#include "model/graph/graph_inspector.hpp"

#include <filesystem>
#include <set>

#include "model/base/model_error.hpp"
#include "model/graph/graph_analysis.hpp"
#include "model/graph/onnx_io.hpp"

namespace tessera::model {

namespace {

// Initializers a node reads, directly or through constant-only nodes (weight casts, transposes).
void collect_weights(const decoder_graph& g, const std::string& tensor, std::set<std::string>& out, bool through_prelude) {
  if (g.initializers.count(tensor)) { out.insert(tensor); return; }
  auto p = g.producer.find(tensor);
  if (p == g.producer.end()) return;
  auto role = g.role[p->second];
  if (role == node_role::compute || (role == node_role::prelude && !through_prelude)) return;
  for (const auto& in : g.node_inputs(p->second)) collect_weights(g, in, out, through_prelude);
}

bool is_constant_tensor(const decoder_graph& g, const std::string& tensor) {
  if (g.initializers.count(tensor)) return true;
  auto p = g.producer.find(tensor);
  return p != g.producer.end() && g.role[p->second] == node_role::constant;
}

// 2*K*N for a MatMul/Gemm whose weight operand is constant: twice the weight's elements.
uint64_t matmul_flops(const decoder_graph& g, int node_index) {
  const auto& node = g.model.graph().node(node_index);
  if (!node.domain().empty() || (node.op_type() != "MatMul" && node.op_type() != "Gemm") || node.input_size() < 2) return 0;
  for (int k = 0; k < 2; ++k) {
    const auto& w = node.input(k);
    if (!is_constant_tensor(g, w)) continue;
    auto it = g.value_info.find(w);
    if (it == g.value_info.end() || !it->second.type().tensor_type().has_shape()) return 0;
    uint64_t elements = 1;
    for (const auto& d : it->second.type().tensor_type().shape().dim()) elements *= d.dim_value() > 0 ? d.dim_value() : 1;
    return 2 * elements;
  }
  return 0;
}

uint64_t weight_bytes(const decoder_graph& g, const std::set<std::string>& names) {
  uint64_t sum = 0;
  for (const auto& n : names) sum += tensor_bytes(*g.initializers.at(n));
  return sum;
}

std::string model_name(const decoder_graph& g) {
  namespace fs = std::filesystem;
  fs::path file(g.model_file);
  if (file.filename() == "model.onnx") {
    auto dir = fs::absolute(file).parent_path().filename().string();
    if (!dir.empty()) return dir;
  }
  if (!g.model.graph().name().empty()) return g.model.graph().name();
  return file.stem().string();
}

}  // namespace

model_stats inspect_model(const std::string& path) {
  auto g = analyse_decoder(path);
  const int n = g.num_layers;
  model_stats s;
  s.name = model_name(g);
  s.num_layers = n;
  s.layers.resize(n);
  std::vector<std::set<std::string>> layer_weights(n);
  std::set<std::string> embed_weights, head_weights, prelude_weights;
  const auto& nodes = g.model.graph().node();
  for (int i = 0; i < nodes.size(); ++i) {
    if (g.role[i] == node_role::prelude) {
      for (const auto& in : g.node_inputs(i)) collect_weights(g, in, prelude_weights, true);
      continue;
    }
    if (g.role[i] != node_role::compute) continue;
    std::set<std::string>* weights = &layer_weights[g.layer_of[i]];
    uint64_t flops = matmul_flops(g, i);
    if (g.part[i] == node_part::embed) { weights = &embed_weights; s.embed_flops_per_token += flops; }
    else if (g.part[i] == node_part::head) { weights = &head_weights; s.head_flops_per_token += flops; }
    else s.layers[g.layer_of[i]].flops_per_token += flops;
    for (const auto& in : g.node_inputs(i)) collect_weights(g, in, *weights, false);
  }
  for (int k = 0; k < n; ++k) {
    auto& l = s.layers[k];
    l.index = k;
    l.param_bytes = weight_bytes(g, layer_weights[k]);
    l.kv_bytes_per_token = g.bytes_per_token(present_key_name(k)) + g.bytes_per_token(present_value_name(k));
    for (const auto& t : g.boundaries[k + 1]) l.boundary_bytes_per_token += g.bytes_per_token(t);
  }
  s.embed_param_bytes = weight_bytes(g, embed_weights);
  s.head_param_bytes = weight_bytes(g, head_weights);
  s.prelude_param_bytes = weight_bytes(g, prelude_weights);
  for (const auto& init : g.model.graph().initializer()) s.total_param_bytes += tensor_bytes(init);
  for (const auto& t : g.boundaries[0]) s.hidden_bytes_per_token += g.bytes_per_token(t);

  s.boundaries.resize(n + 1);
  for (int b = 0; b <= n; ++b)
    for (const auto& name : g.boundaries[b]) {
      boundary_tensor bt;
      bt.name = name;
      bt.bytes_per_token = g.bytes_per_token(name);
      auto it = g.value_info.find(name);
      if (it != g.value_info.end()) {
        const auto& tt = it->second.type().tensor_type();
        bt.dtype = dtype_name(tt.elem_type());
        for (const auto& d : tt.shape().dim())
          bt.shape.push_back(d.has_dim_value() ? std::to_string(d.dim_value()) : d.has_dim_param() ? d.dim_param() : "?");
      } else {
        bt.dtype = "undefined";
      }
      s.boundaries[b].push_back(bt);
    }
  s.warnings = g.warnings;
  return s;
}

}  // namespace tessera::model
