// Extracts one stage from an analysed decoder graph and writes it with its own
// external data file, streaming weights from the source (never all in RAM).
#include "model/graph_stage.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include <onnx/checker.h>

#include "model/graph_heads.hpp"
#include "model/model_error.hpp"
#include "model/onnx_io.hpp"
#include "model/sha256.hpp"

namespace fs = std::filesystem;

namespace tessera::model {

namespace {

constexpr uint64_t copy_chunk = uint64_t(16) << 20;    // bytes per read/write
constexpr uint64_t data_alignment = 64;                 // offset alignment in the stage data file
constexpr uint64_t browser_buffer_limit = (uint64_t(1) << 31) - 1;

// Copies initializers with external data into one stage data file.
class data_writer {
public:
  data_writer(std::string source_dir, const std::string& path, std::string location)
      : source_dir_(std::move(source_dir)), path_(path), location_(std::move(location)), out_(path, std::ios::binary | std::ios::trunc) {
    if (!out_) throw model_error("cannot create stage data file " + path);
  }

  // Rewrites `tensor` (a copy of the source initializer) to point into this
  // file; hashes its bytes into `hash` when given.
  void copy(onnx::TensorProto& tensor, std::string* hash) {
    auto loc = external_data_of(tensor);
    uint64_t length = loc.has_length ? loc.length : tensor_bytes(tensor);
    auto source = fs::path(loc.file).is_absolute() ? loc.file : (fs::path(source_dir_) / loc.file).string();
    auto& in = open(source);
    in.clear();
    in.seekg(std::streamoff(loc.offset));
    uint64_t pad = (data_alignment - size_ % data_alignment) % data_alignment;
    static const char zeros[data_alignment] = {};
    out_.write(zeros, std::streamsize(pad));
    size_ += pad;
    uint64_t offset = size_;
    buffer_.resize(std::min(length, copy_chunk));
    sha256 h;
    for (uint64_t done = 0; done < length;) {
      auto n = std::min<uint64_t>(copy_chunk, length - done);
      if (!in.read(buffer_.data(), std::streamsize(n)))
        throw model_error("external data file " + source + " ended early while reading initializer " + tensor.name());
      if (hash) h.update(buffer_.data(), n);
      out_.write(buffer_.data(), std::streamsize(n));
      done += n;
    }
    if (hash) *hash = h.hex_digest();
    if (!out_) throw model_error("write error in " + path_);
    size_ += length;
    tensor.clear_external_data();
    auto set = [&](const std::string& k, const std::string& v) {
      auto* e = tensor.add_external_data();
      e->set_key(k);
      e->set_value(v);
    };
    set("location", location_);
    set("offset", std::to_string(offset));
    set("length", std::to_string(length));
  }

  uint64_t finish() {
    out_.close();
    if (!out_) throw model_error("write error in " + path_);
    return size_;
  }

private:
  std::ifstream& open(const std::string& source) {
    auto it = inputs_.find(source);
    if (it == inputs_.end()) {
      auto in = std::make_unique<std::ifstream>(source, std::ios::binary);
      if (!*in) throw model_error("missing external data file " + source);
      it = inputs_.emplace(source, std::move(in)).first;
    }
    return *it->second;
  }

  std::string source_dir_, path_, location_;
  std::ofstream out_;
  std::map<std::string, std::unique_ptr<std::ifstream>> inputs_;
  std::vector<char> buffer_;
  uint64_t size_ = 0;
};

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
  auto source = fs::path(loc.file).is_absolute() ? loc.file : (fs::path(g.model_dir) / loc.file).string();
  std::ifstream in(source, std::ios::binary);
  if (!in) throw model_error("missing external data file " + source);
  in.seekg(std::streamoff(loc.offset));
  std::vector<char> buffer(std::min(length, copy_chunk));
  sha256 h;
  for (uint64_t done = 0; done < length;) {
    auto n = std::min<uint64_t>(copy_chunk, length - done);
    if (!in.read(buffer.data(), std::streamsize(n)))
      throw model_error("external data file " + source + " ended early while reading initializer " + tensor.name());
    h.update(buffer.data(), n);
    done += n;
  }
  return h.hex_digest();
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
  data_writer data(g.model_dir, (fs::path(dir) / info.data_file).string(), info.data_file);
  for (const auto& init : src.initializer()) {
    if (!inits.count(init.name())) continue;
    auto* t = graph->add_initializer();
    *t = init;
    if (!has_external_data(*t)) continue;
    std::string hash;
    bool known = weight_hashes.count(init.name()) > 0;
    data.copy(*t, known ? nullptr : &hash);
    if (!known) weight_hashes[init.name()] = hash;
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
      append_token_head(*graph, "logits", head, default_opset(g.model));
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
