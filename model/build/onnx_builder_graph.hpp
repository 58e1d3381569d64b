// A small writer for ONNX graphs built node by node: named nodes with their
// attributes, Constant nodes, typed graph inputs/outputs with symbolic dims,
// and initializers streamed into one external data file (the graph itself
// never holds weight bytes, so models far larger than RAM can be written).
#pragma once

#include "model/build/float_formats.hpp"  // float_to_fp16 for fp16 weights

#include <cstdint>
#include <fstream>
#include <string>
#include <variant>
#include <vector>

#include <onnx/onnx_pb.h>

namespace tessera::model {

// One attribute value: int, float, ints or a string.
using onnx_attr_value = std::variant<int64_t, float, std::vector<int64_t>, std::string>;
struct onnx_attr {
  std::string name;
  onnx_attr_value value;
};

// A dimension: a fixed size or a symbolic name ("batch", "sequence", ...).
using onnx_dim = std::variant<int64_t, std::string>;

// Appends tensors to an external data file; offsets are aligned to 64 bytes.
class external_data_file {
public:
  // `path` is created (truncated); `location` is what the model records (a relative file name).
  external_data_file(const std::string& path, std::string location);
  // Writes bytes and fills `t`'s external_data (location, offset, length) and data_location.
  void append(onnx::TensorProto& t, const void* bytes, uint64_t size);
  void close();  // flushes; throws model_error on any write failure
  uint64_t size() const { return offset_; }

private:
  std::string path_;
  std::string location_;
  std::ofstream out_;
  uint64_t offset_ = 0;
};

class graph_writer {
public:
  explicit graph_writer(onnx::GraphProto& graph) : graph_(graph) {}

  // Adds node `name` (op_type `op`); its outputs are named "<name>/output_<i>". Returns them.
  std::vector<std::string> node(const std::string& op, const std::string& name, const std::vector<std::string>& inputs,
                                const std::vector<onnx_attr>& attrs = {}, int num_outputs = 1);
  // Single-output shorthand.
  std::string op(const std::string& op, const std::string& name, const std::vector<std::string>& inputs,
                 const std::vector<onnx_attr>& attrs = {}) {
    return node(op, name, inputs, attrs, 1)[0];
  }
  // Like op(), but the single output gets the given name (graph outputs such as "logits").
  std::string op_to(const std::string& output, const std::string& op, const std::string& name,
                    const std::vector<std::string>& inputs, const std::vector<onnx_attr>& attrs = {});
  // Constant nodes (values live in model.onnx; keep them small).
  std::string const_i64(const std::string& name, const std::vector<int64_t>& values, std::vector<int64_t> dims);
  std::string const_f32(const std::string& name, const std::vector<float>& values, std::vector<int64_t> dims);
  std::string scalar_i64(const std::string& name, int64_t v) { return const_i64(name, {v}, {}); }
  std::string scalar_f32(const std::string& name, float v) { return const_f32(name, {v}, {}); }

  void input(const std::string& name, int elem_type, const std::vector<onnx_dim>& dims);
  void output(const std::string& name, int elem_type, const std::vector<onnx_dim>& dims);
  // Records the type and shape of an intermediate tensor (graph.value_info).
  void value_info(const std::string& name, int elem_type, const std::vector<onnx_dim>& dims);
  // Declares an initializer whose bytes go to `data` (bytes already in the tensor's element type).
  void initializer(external_data_file& data, const std::string& name, int elem_type,
                   const std::vector<int64_t>& dims, const void* bytes, uint64_t size);

private:
  // A Constant node `name` whose tensor the caller fills; `output` receives its output name.
  onnx::TensorProto* constant_tensor(const std::string& name, int elem_type, const std::vector<int64_t>& dims,
                                     std::string& output);

  onnx::GraphProto& graph_;
};


}  // namespace tessera::model
