// Structural analysis of a decoder graph (see graph_analysis.hpp for the method).
#include "model/graph/graph_analysis.hpp"

#include <algorithm>
#include <climits>
#include <regex>
#include <set>

#include <onnx/shape_inference/implementation.h>

#include "model/base/model_error.hpp"
#include "model/graph/graph_mincut.hpp"
#include "model/graph/onnx_io.hpp"

namespace tessera::model {

std::string past_key_name(int layer) { return "past_key_values." + std::to_string(layer) + ".key"; }
std::string past_value_name(int layer) { return "past_key_values." + std::to_string(layer) + ".value"; }
std::string present_key_name(int layer) { return "present." + std::to_string(layer) + ".key"; }
std::string present_value_name(int layer) { return "present." + std::to_string(layer) + ".value"; }

bool decoder_graph::has_input(const std::string& name) const {
  for (const auto& in : model.graph().input())
    if (in.name() == name) return true;
  return false;
}

namespace {

constexpr int no_layer_above = INT_MAX;  // A of a node that feeds no present

std::string describe(const onnx::NodeProto& node) {
  std::string out = node.op_type();
  if (!node.name().empty()) return out + " node '" + node.name() + "'";
  if (node.output_size() > 0) return out + " node producing '" + node.output(0) + "'";
  return out + " node";
}

// Names a subgraph reads from the enclosing scope.
void collect_outer_names(const onnx::GraphProto& g, std::set<std::string>& outer) {
  std::set<std::string> local;
  for (const auto& in : g.input()) local.insert(in.name());
  for (const auto& init : g.initializer()) local.insert(init.name());
  for (const auto& node : g.node()) {
    for (const auto& in : node.input())
      if (!in.empty() && !local.count(in)) outer.insert(in);
    for (const auto& attr : node.attribute()) {
      std::set<std::string> inner;
      if (attr.has_g()) collect_outer_names(attr.g(), inner);
      for (const auto& sub : attr.graphs()) collect_outer_names(sub, inner);
      for (const auto& name : inner)
        if (!local.count(name)) outer.insert(name);
    }
    for (const auto& out : node.output()) local.insert(out);
  }
}

std::vector<std::string> inputs_of(const onnx::NodeProto& node) {
  std::vector<std::string> names;
  for (const auto& in : node.input())
    if (!in.empty() && std::find(names.begin(), names.end(), in) == names.end()) names.push_back(in);
  std::set<std::string> outer;
  for (const auto& attr : node.attribute()) {
    if (attr.has_g()) collect_outer_names(attr.g(), outer);
    for (const auto& sub : attr.graphs()) collect_outer_names(sub, outer);
  }
  for (const auto& name : outer)
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  return names;
}

// Every tensor a node reads (its subgraphs' outer names included) is a graph
// input, an initializer or some node's output. ONNX 1.12's shape inference
// dereferences a null pointer on a Shape node whose input is undefined.
void check_inputs_defined(const onnx::GraphProto& graph, const std::string& file) {
  std::set<std::string> defined;
  for (const auto& in : graph.input()) defined.insert(in.name());
  for (const auto& init : graph.initializer()) defined.insert(init.name());
  for (const auto& node : graph.node())
    for (const auto& out : node.output()) defined.insert(out);
  for (const auto& node : graph.node())
    for (const auto& in : inputs_of(node))
      if (!defined.count(in))
        throw model_error(file + ": " + describe(node) + " reads '" + in +
                          "', which no graph input, initializer or node produces");
}

constexpr std::size_t max_layer_digits = 6;  // a million layers: far past any real model

// Parses "past_key_values.N.key|value" / "present.N.key|value"; -1 if no match.
int kv_layer(const std::string& name, const std::string& prefix) {
  if (name.compare(0, prefix.size(), prefix) != 0) return -1;
  auto rest = name.substr(prefix.size());
  auto dot = rest.find('.');
  if (dot == std::string::npos || dot == 0 || dot > max_layer_digits) return -1;
  auto kind = rest.substr(dot + 1);
  if (kind != "key" && kind != "value") return -1;
  for (size_t i = 0; i < dot; ++i)
    if (!isdigit(static_cast<unsigned char>(rest[i]))) return -1;
  return std::stoi(rest.substr(0, dot));
}

void check_kv_names(const std::set<std::string>& names, int count, const std::string& what,
                    std::string (*key)(int), std::string (*value)(int), const std::string& file) {
  for (int k = 0; k < count; ++k)
    for (const auto& n : {key(k), value(k)})
      if (!names.count(n))
        throw model_error("not a layered decoder: " + file + " has " + what + " up to layer " +
                          std::to_string(count - 1) + " but no '" + n + "'");
}

}  // namespace

std::vector<std::string> decoder_graph::node_inputs(int node) const { return inputs_of(model.graph().node(node)); }

uint64_t decoder_graph::bytes_per_token(const std::string& tensor) const {
  auto it = value_info.find(tensor);
  if (it == value_info.end() || !it->second.type().has_tensor_type()) return 0;
  const auto& tt = it->second.type().tensor_type();
  uint64_t elem = dtype_size(tt.elem_type());
  if (elem == 0 || !tt.has_shape()) return 0;
  uint64_t n = elem;
  for (const auto& d : tt.shape().dim())
    if (d.has_dim_value() && d.dim_value() > 0) n *= uint64_t(d.dim_value());
  return n;
}

decoder_graph analyse_decoder(const std::string& path) {
  decoder_graph g;
  g.model_file = resolve_model_file(path);
  g.model_dir = directory_of(g.model_file);
  g.model = load_model_proto(g.model_file);
  check_external_data(g.model, g.model_dir);
  const std::string& file = g.model_file;
  auto* graph = g.model.mutable_graph();

  // Inputs and outputs the decoder contract names.
  std::set<std::string> past, present;
  bool has_ids = false, has_logits = false;
  int max_past = -1, max_present = -1;
  for (const auto& in : graph->input()) {
    const auto& n = in.name();
    if (n == "input_ids") has_ids = true;
    else if (n == "attention_mask" || n == "position_ids") {}
    else if (int k = kv_layer(n, "past_key_values."); k >= 0) { past.insert(n); max_past = std::max(max_past, k); }
    else {
      bool is_init = false;
      for (const auto& init : graph->initializer()) is_init |= init.name() == n;
      if (!is_init)
        throw model_error("unsupported graph input '" + n + "' in " + file +
                          " (expected input_ids, attention_mask, position_ids, past_key_values.N.key|value)");
    }
  }
  for (const auto& out : graph->output()) {
    const auto& n = out.name();
    if (n == "logits") has_logits = true;
    else if (int k = kv_layer(n, "present."); k >= 0) { present.insert(n); max_present = std::max(max_present, k); }
    else g.warnings.push_back("graph output '" + n + "' is not part of the decoder contract and is dropped from stages");
  }
  if (!has_ids) throw model_error("not a decoder: " + file + " has no 'input_ids' input");
  if (past.empty()) throw model_error("not a decoder: " + file + " has no past_key_values.N.key|value inputs");
  if (present.empty()) throw model_error("not a decoder: " + file + " has no present.N.key|value outputs");
  if (!has_logits) throw model_error("not a decoder: " + file + " has no 'logits' output");
  if (max_past != max_present)
    throw model_error("not a layered decoder: " + file + " has past_key_values up to layer " + std::to_string(max_past) +
                      " but present up to layer " + std::to_string(max_present));
  g.num_layers = max_past + 1;
  check_kv_names(past, g.num_layers, "past_key_values", past_key_name, past_value_name, file);
  check_kv_names(present, g.num_layers, "present outputs", present_key_name, present_value_name, file);

  // Shape(input_ids) equals Shape(position_ids) ([batch, seq]); reading the latter
  // keeps shape arithmetic out of the embedding, so later stages can recompute it.
  if (g.has_input("position_ids"))
    for (auto& node : *graph->mutable_node())
      if (node.op_type() == "Shape" && node.domain().empty() && node.input_size() == 1 && node.input(0) == "input_ids")
        node.set_input(0, "position_ids");

  check_inputs_defined(*graph, file);
  try {
    onnx::ShapeInferenceOptions options;
    options.enable_data_propagation = true;  // Shape -> Concat -> Reshape keeps symbolic dims
    onnx::shape_inference::InferShapes(g.model, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    g.warnings.push_back(std::string("onnx shape inference failed, using declared shapes only: ") + e.what());
  }

  for (const auto& init : graph->initializer()) {
    g.initializers[init.name()] = &init;
    onnx::ValueInfoProto vi;
    vi.set_name(init.name());
    auto* tt = vi.mutable_type()->mutable_tensor_type();
    tt->set_elem_type(init.data_type());
    auto* shape = tt->mutable_shape();
    for (auto d : init.dims()) shape->add_dim()->set_dim_value(d);
    g.value_info[init.name()] = vi;
  }
  for (const auto& vi : graph->value_info()) g.value_info[vi.name()] = vi;
  for (const auto& vi : graph->input()) g.value_info[vi.name()] = vi;
  for (const auto& vi : graph->output()) g.value_info[vi.name()] = vi;

  // Producers, consumers and a topological order.
  const int n_nodes = graph->node_size();
  std::vector<std::vector<std::string>> node_in(n_nodes);
  for (int i = 0; i < n_nodes; ++i) {
    const auto& node = graph->node(i);
    for (const auto& out : node.output()) {
      if (out.empty()) continue;
      if (g.producer.count(out) || g.initializers.count(out) || g.has_input(out))
        throw model_error("invalid graph in " + file + ": tensor '" + out + "' is defined twice");
      g.producer[out] = i;
    }
    node_in[i] = inputs_of(node);
  }
  std::vector<int> pending(n_nodes, 0);
  for (int i = 0; i < n_nodes; ++i)
    for (const auto& in : node_in[i]) {
      g.consumers[in].push_back(i);
      if (g.producer.count(in)) ++pending[i];
      else if (!g.initializers.count(in) && !g.has_input(in))
        throw model_error("invalid graph in " + file + ": " + describe(graph->node(i)) + " reads '" + in +
                          "', which nothing produces");
    }
  for (int i = 0; i < n_nodes; ++i)
    if (pending[i] == 0) g.order.push_back(i);
  for (size_t k = 0; k < g.order.size(); ++k) {
    const auto& node = graph->node(g.order[k]);
    for (const auto& out : node.output()) {
      auto it = g.consumers.find(out);
      if (out.empty() || it == g.consumers.end()) continue;
      for (int c : it->second)
        if (--pending[c] == 0) g.order.push_back(c);
    }
  }
  if (int(g.order.size()) != n_nodes) throw model_error("invalid graph in " + file + ": it has a cycle");

  // Roles and D (highest past layer depended on; -1 none) in topological order.
  g.role.assign(n_nodes, node_role::constant);
  std::vector<int> dep_past(n_nodes, -1), feeds_present(n_nodes, no_layer_above);
  std::vector<bool> uses_ids(n_nodes, false);
  for (int i : g.order) {
    node_role r = node_role::constant;
    for (const auto& in : node_in[i]) {
      if (auto p = g.producer.find(in); p != g.producer.end()) {
        int u = p->second;
        r = std::max(r, g.role[u]);
        dep_past[i] = std::max(dep_past[i], dep_past[u]);
        uses_ids[i] = uses_ids[i] || uses_ids[u];
      } else if (in == "attention_mask" || in == "position_ids") {
        r = std::max(r, node_role::prelude);
      } else if (in == "input_ids") {
        r = node_role::compute;
        uses_ids[i] = true;
      } else if (int k = kv_layer(in, "past_key_values."); k >= 0 && !g.initializers.count(in)) {
        r = node_role::compute;
        dep_past[i] = std::max(dep_past[i], k);
      }
    }
    g.role[i] = r;
  }
  // A (lowest present layer fed) in reverse topological order.
  for (auto it = g.order.rbegin(); it != g.order.rend(); ++it) {
    int i = *it;
    for (const auto& out : graph->node(i).output()) {
      if (int k = kv_layer(out, "present."); k >= 0) feeds_present[i] = std::min(feeds_present[i], k);
      if (auto c = g.consumers.find(out); c != g.consumers.end())
        for (int v : c->second) feeds_present[i] = std::min(feeds_present[i], feeds_present[v]);
    }
  }
  for (int i = 0; i < n_nodes; ++i)
    if (g.role[i] == node_role::compute && feeds_present[i] < dep_past[i])
      throw model_error("not a layered decoder: " + describe(graph->node(i)) + " in " + file +
                        " depends on past_key_values of layer " + std::to_string(dep_past[i]) +
                        " but feeds present." + std::to_string(feeds_present[i]) + ".*");

  // Cut capacities count bytes per token with every context-length dim (past,
  // total sequence) at a nominal 4096: a tensor that grows with the context
  // (KV, attention scores) must never look cheaper than the hidden state.
  std::set<std::string> context_dims;
  auto note_dim = [&](const std::string& tensor, int axis) {
    auto it = g.value_info.find(tensor);
    if (it == g.value_info.end()) return;
    const auto& shape = it->second.type().tensor_type().shape();
    if (axis < shape.dim_size() && shape.dim(axis).has_dim_param()) context_dims.insert(shape.dim(axis).dim_param());
  };
  note_dim("attention_mask", 1);
  for (int k = 0; k < g.num_layers; ++k)
    for (const auto& name : {past_key_name(k), past_value_name(k), present_key_name(k), present_value_name(k)}) note_dim(name, 2);
  for (int axis : {0, 1}) {
    auto it = g.value_info.find("input_ids");
    if (it != g.value_info.end() && axis < it->second.type().tensor_type().shape().dim_size())
      context_dims.erase(it->second.type().tensor_type().shape().dim(axis).dim_param());
  }
  auto cut_bytes = [&](const std::string& tensor) -> uint64_t {
    uint64_t bytes = g.bytes_per_token(tensor);
    if (bytes == 0) return uint64_t(1) << 24;  // unknown size: avoid cutting here
    for (const auto& d : g.value_info.at(tensor).type().tensor_type().shape().dim())
      if (d.has_dim_param() && context_dims.count(d.dim_param())) bytes *= 4096;
    return bytes;
  };

  // Flow network: one vertex per compute node, one per tensor a compute node
  // produces and another compute node reads; source and sink last.
  std::vector<int> vertex(n_nodes, -1);
  int n_vertices = 0;
  for (int i = 0; i < n_nodes; ++i)
    if (g.role[i] == node_role::compute) vertex[i] = n_vertices++;
  struct channel { std::string name; int producer; std::vector<int> readers; int64_t capacity; };
  std::vector<channel> channels;
  for (int i : g.order) {
    if (g.role[i] != node_role::compute) continue;
    for (const auto& out : graph->node(i).output()) {
      auto c = g.consumers.find(out);
      if (out.empty() || c == g.consumers.end()) continue;
      channel ch{out, i, {}, 0};
      for (int v : c->second)
        if (g.role[v] == node_role::compute) ch.readers.push_back(v);
      if (ch.readers.empty()) continue;
      ch.capacity = int64_t(std::min<uint64_t>(cut_bytes(out), uint64_t(1) << 36)) * 1024 + 1;  // bytes, then fewer tensors
      channels.push_back(std::move(ch));
    }
  }
  const int source = n_vertices + int(channels.size()), sink = source + 1;
  auto build_network = [&]() {
    min_cut_graph net(sink + 1);
    for (size_t c = 0; c < channels.size(); ++c) {
      int t = n_vertices + int(c);
      int u = vertex[channels[c].producer];
      net.add_edge(u, t, channels[c].capacity);
      for (int v : channels[c].readers) {
        net.add_edge(t, vertex[v], min_cut_graph::infinite);
        net.add_edge(vertex[v], u, min_cut_graph::infinite);  // a reader before the cut pulls its producer along
      }
    }
    return net;
  };
  // Runs one cut; returns per node whether it lies before the cut.
  auto cut = [&](const std::vector<bool>& force_before, const std::vector<bool>& force_after, bool nearest_later,
                 const std::string& where) {
    auto net = build_network();
    for (int i = 0; i < n_nodes; ++i) {
      if (vertex[i] < 0) continue;
      if (force_before[i] && force_after[i])
        throw model_error("not a layered decoder: " + describe(graph->node(i)) + " in " + file + " must lie on both sides of " + where);
      if (force_before[i]) net.add_edge(source, vertex[i], min_cut_graph::infinite);
      if (force_after[i]) net.add_edge(vertex[i], sink, min_cut_graph::infinite);
    }
    if (net.max_flow(source, sink) >= min_cut_graph::infinite)
      throw model_error("not a layered decoder: no finite cut at " + where + " in " + file);
    std::vector<bool> before(n_nodes, false);
    if (nearest_later) {
      auto after = net.sink_side(sink);
      for (int i = 0; i < n_nodes; ++i) before[i] = vertex[i] >= 0 && !after[vertex[i]];
    } else {
      auto reach = net.source_side(source);
      for (int i = 0; i < n_nodes; ++i) before[i] = vertex[i] >= 0 && reach[vertex[i]];
    }
    return before;
  };

  const int n = g.num_layers;
  g.layer_of.assign(n_nodes, -1);
  std::vector<bool> placed(n_nodes, false);
  std::set<std::string> output_names;
  for (const auto& out : graph->output()) output_names.insert(out.name());
  std::vector<bool> makes_output(n_nodes, false);  // produces logits or another non-present output
  for (int i = 0; i < n_nodes; ++i)
    for (const auto& out : graph->node(i).output())
      if (output_names.count(out) && kv_layer(out, "present.") < 0) makes_output[i] = true;

  for (int b = 1; b < n; ++b) {
    std::vector<bool> before(n_nodes), after(n_nodes);
    for (int i = 0; i < n_nodes; ++i) {
      if (g.role[i] != node_role::compute) continue;
      before[i] = placed[i] || feeds_present[i] <= b - 1 || dep_past[i] < 0;
      after[i] = dep_past[i] >= b || makes_output[i];
    }
    auto side = cut(before, after, true, "the boundary before layer " + std::to_string(b));
    for (int i = 0; i < n_nodes; ++i)
      if (side[i] && !placed[i]) { placed[i] = true; g.layer_of[i] = b - 1; }
  }
  for (int i = 0; i < n_nodes; ++i)
    if (g.role[i] == node_role::compute && !placed[i]) g.layer_of[i] = n - 1;

  // Statistics cuts: embedding -> layer 0 (nearest the embedding) and last layer -> head.
  g.part.assign(n_nodes, node_part::none);
  for (int i = 0; i < n_nodes; ++i)
    if (g.role[i] == node_role::compute) g.part[i] = node_part::layer;
  {
    std::vector<bool> before(n_nodes), after(n_nodes);
    bool any = false;
    for (int i = 0; i < n_nodes; ++i) {
      if (g.role[i] != node_role::compute) continue;
      for (const auto& in : node_in[i]) before[i] = before[i] || in == "input_ids";
      after[i] = dep_past[i] >= 0 || feeds_present[i] == no_layer_above;
      if (before[i] && after[i]) before[i] = after[i] = false;  // e.g. a head reading input_ids
      any = any || before[i];
    }
    if (any) {
      auto side = cut(before, after, false, "the embedding");
      for (int i = 0; i < n_nodes; ++i)
        if (side[i]) g.part[i] = node_part::embed;
    }
  }
  {
    std::vector<bool> before(n_nodes), after(n_nodes);
    for (int i = 0; i < n_nodes; ++i) {
      if (g.role[i] != node_role::compute) continue;
      before[i] = g.layer_of[i] < n - 1 || feeds_present[i] <= n - 1 || dep_past[i] < 0;
      after[i] = makes_output[i];
    }
    // Nearest the head: the head is what follows the last minimum cut (lm_head;
    // the final norm stays with the last layer, whose output it normalises).
    auto side = cut(before, after, true, "the head");
    for (int i = 0; i < n_nodes; ++i)
      if (g.role[i] == node_role::compute && !side[i]) g.part[i] = node_part::head;
  }

  // Boundary tensors.
  g.boundaries.assign(n + 1, {});
  for (const auto& ch : channels) {
    int u = ch.producer;
    std::set<int> reader_layers;
    bool to_non_embed = false, to_head = false;
    for (int v : ch.readers) {
      reader_layers.insert(g.layer_of[v]);
      to_non_embed = to_non_embed || g.part[v] != node_part::embed;
      to_head = to_head || g.part[v] == node_part::head;
    }
    if (g.part[u] == node_part::embed && to_non_embed) g.boundaries[0].push_back(ch.name);
    if (g.part[u] != node_part::head && to_head) g.boundaries[n].push_back(ch.name);
    int last_reader = *reader_layers.rbegin();
    for (int b = g.layer_of[u] + 1; b <= last_reader && b < n; ++b) g.boundaries[b].push_back(ch.name);
  }

  // Cross-check against /model/layers.N/ node names.
  static const std::regex layer_name(R"(layers\.(\d+)[/.])");
  int mismatches = 0;
  std::string example;
  for (int i = 0; i < n_nodes; ++i) {
    std::smatch m;
    const auto& name = graph->node(i).name();
    if (g.part[i] != node_part::layer || !std::regex_search(name, m, layer_name)) continue;
    int named = std::stoi(m[1].str());
    if (named != g.layer_of[i]) {
      if (mismatches++ == 0) example = name + " placed in layer " + std::to_string(g.layer_of[i]);
    }
  }
  if (mismatches > 0)
    g.warnings.push_back(std::to_string(mismatches) + " node(s) named layers.N lie in another layer by structure (e.g. " +
                         example + "); expected only for ops fused across a layer boundary");
  return g;
}

}  // namespace tessera::model
