// ONNX proto I/O and tensor facts shared by the inspector and the cutter.
#include "model/graph/onnx_io.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include "model/base/model_error.hpp"

namespace fs = std::filesystem;

namespace tessera::model {

std::string resolve_model_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    auto file = (fs::path(path) / "model.onnx").string();
    if (!fs::is_regular_file(file, ec)) throw model_error("model directory " + path + " has no model.onnx");
    return file;
  }
  if (!fs::exists(path, ec)) throw model_error("model file " + path + " does not exist");
  if (!fs::is_regular_file(path, ec)) throw model_error(path + " is not a regular file");
  return path;
}

onnx::ModelProto load_model_proto(const std::string& onnx_file) {
  std::ifstream in(onnx_file, std::ios::binary);
  if (!in) throw model_error("cannot open model file " + onnx_file);
  google::protobuf::io::IstreamInputStream raw(&in);
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(INT32_MAX);
  onnx::ModelProto model;
  if (!model.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
    throw model_error(onnx_file + " is not a valid ONNX model: protobuf parse failed (corrupt file or not ONNX)");
  if (!in.eof() && in.fail()) throw model_error("read error in model file " + onnx_file);
  if (!model.has_graph() || model.ir_version() <= 0 || model.opset_import_size() == 0)
    throw model_error(onnx_file + " is not an ONNX model (no graph, ir_version or opset_import)");
  return model;
}

void save_model_proto(const onnx::ModelProto& model, const std::string& path) {
  if (model.ByteSizeLong() >= (size_t(1) << 31))
    throw model_error("model proto for " + path + " exceeds 2 GB; weights must be external data");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !model.SerializeToOstream(&out)) throw model_error("cannot write " + path);
  out.close();
  if (!out) throw model_error("cannot write " + path);
}

std::string dtype_name(int32_t t) {
  using T = onnx::TensorProto;
  switch (t) {
    case T::FLOAT: return "float32";
    case T::FLOAT16: return "float16";
    case T::BFLOAT16: return "bfloat16";
    case T::DOUBLE: return "float64";
    case T::INT64: return "int64";
    case T::INT32: return "int32";
    case T::INT16: return "int16";
    case T::INT8: return "int8";
    case T::UINT64: return "uint64";
    case T::UINT32: return "uint32";
    case T::UINT16: return "uint16";
    case T::UINT8: return "uint8";
    case T::BOOL: return "bool";
    case T::STRING: return "string";
    default: return "undefined";
  }
}

uint64_t dtype_size(int32_t t) {
  using T = onnx::TensorProto;
  switch (t) {
    case T::DOUBLE: case T::INT64: case T::UINT64: return 8;
    case T::FLOAT: case T::INT32: case T::UINT32: return 4;
    case T::FLOAT16: case T::BFLOAT16: case T::INT16: case T::UINT16: return 2;
    case T::INT8: case T::UINT8: case T::BOOL: return 1;
    default: return 0;
  }
}

bool has_external_data(const onnx::TensorProto& tensor) {
  return tensor.has_data_location() && tensor.data_location() == onnx::TensorProto::EXTERNAL;
}

external_location external_data_of(const onnx::TensorProto& tensor) {
  external_location loc;
  for (const auto& kv : tensor.external_data()) {
    try {
      if (kv.key() == "location") loc.file = kv.value();
      else if (kv.key() == "offset") loc.offset = std::stoull(kv.value());
      else if (kv.key() == "length") { loc.length = std::stoull(kv.value()); loc.has_length = true; }
    } catch (const std::exception&) {
      throw model_error("initializer " + tensor.name() + " has a bad external_data " + kv.key() + " '" + kv.value() + "'");
    }
  }
  if (loc.file.empty()) throw model_error("initializer " + tensor.name() + " uses external data without a location");
  return loc;
}

uint64_t tensor_elements(const onnx::TensorProto& tensor) {
  uint64_t n = 1;
  for (auto d : tensor.dims()) n *= uint64_t(d < 0 ? 0 : d);
  return n;
}

uint64_t tensor_bytes(const onnx::TensorProto& tensor) {
  return tensor_elements(tensor) * dtype_size(tensor.data_type());
}

std::string directory_of(const std::string& path) {
  auto dir = fs::path(path).parent_path();
  return dir.empty() ? std::string(".") : dir.string();
}

static std::string join_data_path(const std::string& model_dir, const std::string& location) {
  fs::path p(location);
  return p.is_absolute() ? p.string() : (fs::path(model_dir) / p).string();
}

std::vector<std::string> external_data_files(const onnx::ModelProto& model, const std::string& model_dir) {
  std::set<std::string> files;
  for (const auto& init : model.graph().initializer())
    if (has_external_data(init)) files.insert(join_data_path(model_dir, external_data_of(init).file));
  return {files.begin(), files.end()};
}

void check_external_data(const onnx::ModelProto& model, const std::string& model_dir) {
  std::map<std::string, uint64_t> sizes;
  for (const auto& init : model.graph().initializer()) {
    if (!has_external_data(init)) continue;
    auto loc = external_data_of(init);
    auto path = join_data_path(model_dir, loc.file);
    auto it = sizes.find(path);
    if (it == sizes.end()) {
      std::error_code ec;
      auto size = fs::file_size(path, ec);
      if (ec) throw model_error("missing external data file " + path + " (needed by initializer " + init.name() + ")");
      it = sizes.emplace(path, size).first;
    }
    uint64_t need = loc.has_length ? loc.length : tensor_bytes(init);
    if (loc.offset + need > it->second)
      throw model_error("external data file " + path + " is too short: initializer " + init.name() + " needs bytes [" +
                        std::to_string(loc.offset) + ", " + std::to_string(loc.offset + need) + ") but the file has " +
                        std::to_string(it->second));
  }
}

}  // namespace tessera::model
