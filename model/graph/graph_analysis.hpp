// Structural analysis of a decoder-only ONNX graph, shared by the inspector
// and the cutter: which nodes are the cheap prelude (computable from
// attention_mask / position_ids / constants in any stage), which layer every
// other node belongs to, and which tensors cross each layer boundary.
//
// Method: for each node, D = the highest layer whose past_key_values it
// depends on (-1 if none) and A = the lowest layer whose present it feeds
// (an ancestor of present.A.*). At boundary b (1..n-1) nodes with A <= b-1
// must run before the cut and nodes with D >= b after it; the others are free.
// The cut is a minimum vertex cut over the tensors (capacity = bytes per token,
// ties broken by tensor count and then toward the later layer), computed by
// max-flow, with each cut nested in the next. That gives the single residual
// for Optimum-style graphs and two tensors where a fused node forces it
// (onnxruntime-genai style). Node names are only a cross-check (warnings).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace tessera::model {

enum class node_role {
  constant,  // depends on initializers / Constant outputs only (weight casts, shape constants)
  prelude,   // also on attention_mask / position_ids (causal mask, rotary tables)
  compute,   // depends on input_ids or past_key_values: embedding, layers, head
};

enum class node_part { embed, layer, head, none };

struct decoder_graph {
  onnx::ModelProto model;  // the analysed model: shape-inferred, no weights in memory
  std::string model_file;
  std::string model_dir;
  int num_layers = 0;
  std::vector<int> order;          // node indices in a topological order
  std::vector<node_role> role;     // per node
  std::vector<int> layer_of;       // per compute node: stage layer 0..n-1 (embedding in 0, head in n-1); -1 otherwise
  std::vector<node_part> part;     // per compute node, for statistics
  // boundaries[b], b = 0..n: names of the tensors crossing into layer b
  // (b = n: into the head). 1..n-1 are what stages exchange.
  std::vector<std::vector<std::string>> boundaries;
  std::map<std::string, int> producer;                 // tensor -> node index
  std::map<std::string, std::vector<int>> consumers;   // tensor -> node indices (incl. implicit subgraph uses)
  std::map<std::string, const onnx::TensorProto*> initializers;
  std::map<std::string, onnx::ValueInfoProto> value_info;  // every typed tensor we know (inputs, outputs, inferred)
  std::vector<std::string> warnings;                   // e.g. node names disagreeing with the structure

  bool has_input(const std::string& name) const;
  // Inputs of node i including outer-scope names used inside its subgraphs.
  std::vector<std::string> node_inputs(int node) const;
  // Bytes per token of a tensor (symbolic dims = 1); 0 if its type is unknown.
  uint64_t bytes_per_token(const std::string& tensor) const;
};

std::string past_key_name(int layer);    // past_key_values.N.key
std::string past_value_name(int layer);  // past_key_values.N.value
std::string present_key_name(int layer);
std::string present_value_name(int layer);

// Loads (without external data) and analyses FILE or DIR/model.onnx. Throws
// model_error when the file is not ONNX, its data files are missing, or it is
// not a layered decoder (naming why).
decoder_graph analyse_decoder(const std::string& onnx_file_or_model_dir);

}  // namespace tessera::model
