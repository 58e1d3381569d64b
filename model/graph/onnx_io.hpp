// Reading and writing ONNX model protos, and the facts about tensors the
// inspector and cutter share: dtype names, element sizes, external data.
// model.onnx is read without its external data (the proto stays small).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace tessera::model {

// "DIR" -> "DIR/model.onnx"; a file path is returned unchanged. Throws
// model_error when neither exists.
std::string resolve_model_file(const std::string& onnx_file_or_model_dir);

// Parses an ONNX model file. Throws model_error naming the file when it cannot
// be read, is not a protobuf ModelProto ("corrupt or not ONNX") or has no graph.
onnx::ModelProto load_model_proto(const std::string& onnx_file);

// Serialises to `path`; throws model_error on failure (incl. the 2 GB limit).
void save_model_proto(const onnx::ModelProto& model, const std::string& path);

// "float32", "float16", "int64", ... ("undefined" for 0).
std::string dtype_name(int32_t onnx_elem_type);
// Bytes per element; 0 when unknown (strings, undefined).
uint64_t dtype_size(int32_t onnx_elem_type);

// Where an initializer's bytes live when it uses external data.
struct external_location {
  std::string file;     // absolute or relative to the model's directory, as stored
  uint64_t offset = 0;
  uint64_t length = 0;  // 0 = "to the end of the file" (ONNX default)
  bool has_length = false;
};

bool has_external_data(const onnx::TensorProto& tensor);
external_location external_data_of(const onnx::TensorProto& tensor);

// Number of elements from dims (1 for a scalar).
uint64_t tensor_elements(const onnx::TensorProto& tensor);
// Bytes of the tensor's data (elements * element size).
uint64_t tensor_bytes(const onnx::TensorProto& tensor);

// Checks that every external data file the model's initializers name exists
// and is long enough; throws model_error naming the file and tensor.
void check_external_data(const onnx::ModelProto& model, const std::string& model_dir);

// Distinct external data files of the model (paths joined with model_dir).
std::vector<std::string> external_data_files(const onnx::ModelProto& model, const std::string& model_dir);

// Directory of a file path ("." when none).
std::string directory_of(const std::string& path);

}  // namespace tessera::model
