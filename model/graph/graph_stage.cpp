// Extracts one stage from an analysed decoder graph and writes it with its own
// external data file, streaming weights from the source (never all in RAM).
#include "model/graph/graph_stage.hpp"

#include <filesystem>
#include <map>
#include <set>

#include <onnx/checker.h>

#include "model/base/model_error.hpp"
#include "model/graph/graph_data_writer.hpp"
#include "model/graph/graph_heads.hpp"
#include "model/graph/onnx_io.hpp"

namespace fs = std::filesystem;

namespace tessera::model {

namespace {

constexpr uint64_t browser_buffer_limit = (uint64_t(1) << 31) - 1;

std::string source_path(const decoder_graph& g, const external_location& loc) {
  return fs::path(loc.file).is_absolute() ? loc.file : (fs::path(g.model_dir) / loc.file).string();
}

// Points a copied initializer at its new place in the stage data file.
void relocate(onnx::TensorProto& tensor, const std::string& location, uint64_t offset, uint64_t length) {
  tensor.clear_external_data();
  auto set = [&](const std::string& k, const std::string& v) {
    auto* e = tensor.add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  set("location", location);
  set("offset", std::to_string(offset));
  set("length", std::to_string(length));
}

tensor_spec spec_of(const onnx::ValueInfoProto& vi) {
  tensor_spec t;
  t.name = vi.name();
  const auto& tt = vi.type().tensor_type();
  t.dtype = dtype_name(tt.elem_type());
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value()) t.shape.emplace_back(int64_t(d.dim_value()));
    else t.shape.emplace_back(d.has_dim_param() ? d.dim_param() : std::string("?"));
  }
  return t;
}

// A typed, shaped ValueInfo for a tensor crossing a stage boundary.
onnx::ValueInfoProto boundary_info(const decoder_graph& g, const std::string& name) {
  auto it = g.value_info.find(name);
  if (it == g.value_info.end() || !it->second.type().has_tensor_type() || it->second.type().tensor_type().elem_type() == 0)
    throw model_error("cannot determine the type of boundary tensor '" + name + "' in " + g.model_file +
                      " (shape inference gave none; add value_info for it)");
  auto vi = it->second;
  if (!vi.type().tensor_type().has_shape())
    throw model_error("boundary tensor '" + name + "' in " + g.model_file + " has no known rank");
  int i = 0;
  for (auto& d : *vi.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim()) {
    if (!d.has_dim_value() && !d.has_dim_param()) d.set_dim_param(name + "_dim" + std::to_string(i));
    ++i;
  }
  return vi;
}

int64_t default_opset(const onnx::ModelProto& m) {
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") return o.version();
  return 0;
}

}  // namespace

std::string hash_external_initializer(const decoder_graph& g, const onnx::TensorProto& tensor) {
  auto loc = external_data_of(tensor);
  uint64_t length = loc.has_length ? loc.length : tensor_bytes(tensor);
  return sha256_file_range(source_path(g, loc), loc.offset, length, tensor.name());
}

stage_info write_stage(const decoder_graph& g, stage_range range, token_head head, const std::string& dir, bool check,
                       std::map<std::string, std::string>& weight_hashes) {
  const int a = range.begin, c = range.end, n = g.num_layers;
  const auto& src = g.model.graph();
  const int n_nodes = src.node_size();
  stage_info info;
  info.layers = range;
  info.file = "stage_" + std::to_string(a) + "_" + std::to_string(c) + ".onnx";
  info.data_file = info.file + ".data";

  // Nodes: compute nodes of layers [a, c) plus the constant/prelude nodes they need.
  std::vector<bool> keep(n_nodes, false);
  std::vector<int> todo;
  for (int i = 0; i < n_nodes; ++i)
    if (g.role[i] == node_role::compute && g.layer_of[i] >= a && g.layer_of[i] < c) {
      keep[i] = true;
      todo.push_back(i);
    }
  std::set<std::string> inits;
  std::set<std::string> boundary_in(g.boundaries[a].begin(), g.boundaries[a].end());
  if (a == 0) boundary_in.clear();
  while (!todo.empty()) {
    int i = todo.back();
    todo.pop_back();
    for (const auto& in : g.node_inputs(i)) {
      if (g.initializers.count(in)) { inits.insert(in); continue; }
      if (in == "input_ids" && a > 0)
        throw model_error("cannot cut " + g.model_file + " at layer " + std::to_string(a) + ": node '" + src.node(i).name() +
                          "' of layer " + std::to_string(g.layer_of[i]) + " reads input_ids, which only the first stage has");
      auto p = g.producer.find(in);
      if (p == g.producer.end() || keep[p->second]) continue;
      int u = p->second;
      if (g.role[u] != node_role::compute) {
        keep[u] = true;
        todo.push_back(u);
      } else if (!boundary_in.count(in)) {
        throw model_error("internal cut error: stage " + std::to_string(a) + ":" + std::to_string(c) + " needs '" + in +
                          "' from layer " + std::to_string(g.layer_of[u]) + " but it is not a boundary tensor");
      }
    }
  }

  onnx::ModelProto m;
  m.set_ir_version(g.model.ir_version());
  *m.mutable_opset_import() = g.model.opset_import();
  *m.mutable_functions() = g.model.functions();
  m.set_producer_name("tessera-cutter");
  m.set_domain(g.model.domain());
  *m.mutable_metadata_props() = g.model.metadata_props();
  auto meta = [&](const std::string& k, const std::string& v) {
    auto* p = m.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  };
  meta("tessera.layers", std::to_string(a) + ":" + std::to_string(c));
  meta("tessera.num_layers", std::to_string(n));
  if (c == n) meta("tessera.head", to_string(head));
  auto* graph = m.mutable_graph();
  graph->set_name("stage_" + std::to_string(a) + "_" + std::to_string(c));

  // Inputs: data (input_ids or boundary), attention_mask, position_ids, past of the stage's layers.
  std::set<std::string> produced;
  for (int i = 0; i < n_nodes; ++i)
    if (keep[i])
      for (const auto& out : src.node(i).output()) produced.insert(out);
  auto source_input = [&](const std::string& name) {
    for (const auto& in : src.input())
      if (in.name() == name) { *graph->add_input() = in; return true; }
    return false;
  };
  if (a == 0) source_input("input_ids");
  else
    for (const auto& name : g.boundaries[a]) *graph->add_input() = boundary_info(g, name);
  source_input("attention_mask");
  source_input("position_ids");
  for (int k = a; k < c; ++k) {
    source_input(past_key_name(k));
    source_input(past_value_name(k));
  }

  // Nodes in topological order, then initializers (weights streamed).
  for (int i : g.order)
    if (keep[i]) *graph->add_node() = src.node(i);
  data_file_writer data((fs::path(dir) / info.data_file).string());
  for (const auto& init : src.initializer()) {
    if (!inits.count(init.name())) continue;
    auto* t = graph->add_initializer();
    *t = init;
    if (!has_external_data(*t)) continue;
    auto loc = external_data_of(*t);
    uint64_t length = loc.has_length ? loc.length : tensor_bytes(*t);
    std::string hash;
    bool known = weight_hashes.count(init.name()) > 0;
    uint64_t offset = data.append(source_path(g, loc), loc.offset, length, known ? nullptr : &hash, init.name());
    if (!known) weight_hashes[init.name()] = hash;
    relocate(*t, info.data_file, offset, length);
  }
  uint64_t data_bytes = data.finish();

  // Outputs: boundary at c, present of the stage's layers, then the head.
  if (c < n)
    for (const auto& name : g.boundaries[c]) {
      if (!produced.count(name) && !boundary_in.count(name))
        throw model_error("internal cut error: boundary tensor '" + name + "' is neither produced by stage " +
                          std::to_string(a) + ":" + std::to_string(c) + " nor passed into it");
      *graph->add_output() = boundary_info(g, name);
    }
  for (int k = a; k < c; ++k)
    for (const auto& name : {present_key_name(k), present_value_name(k)})
      for (const auto& out : src.output())
        if (out.name() == name) *graph->add_output() = out;
  if (c == n) {
    if (head == token_head::logits) {
      for (const auto& out : src.output())
        if (out.name() == "logits") *graph->add_output() = out;
    } else {
      int rank = 3;  // [batch, seq, vocab] unless the model says otherwise
      if (auto it = g.value_info.find("logits"); it != g.value_info.end() && it->second.type().tensor_type().has_shape())
        rank = it->second.type().tensor_type().shape().dim_size();
      append_token_head(*graph, "logits", head, default_opset(g.model), rank);
    }
  }

  auto path = (fs::path(dir) / info.file).string();
  save_model_proto(m, path);
  if (check) {
    try {
      onnx::checker::check_model(path);
    } catch (const std::exception& e) {
      throw model_error("onnx checker rejected stage " + info.file + ": " + e.what());
    }
  }
  for (const auto& in : graph->input()) info.inputs.push_back(spec_of(in));
  for (const auto& out : graph->output()) info.outputs.push_back(spec_of(out));
  info.bytes = fs::file_size(path) + data_bytes;
  if (data_bytes > browser_buffer_limit)
    info.warnings.push_back(info.data_file + " holds " + std::to_string(data_bytes) +
                            " bytes, more than a browser ArrayBuffer (2 GB); use more stages for browser workers");
  return info;
}

}  // namespace tessera::model
