// The safetensors checkpoint format, read and written without any third-party code:
//   8 bytes   little-endian u64 N, the header length
//   N bytes   JSON: {"__metadata__": {...}, "<name>": {"dtype": "BF16", "shape": [..],
//             "data_offsets": [begin, end]}, ...}   (offsets relative to the data section)
//   data      raw little-endian tensor bytes
// Opening a file parses and checks the header against the file size (every tensor's range
// inside the data section, byte count = elements x dtype size); tensors are then read one at
// a time, converted to float32, so a checkpoint never has to fit in memory.
#pragma once

#include "model/build/float_formats.hpp"  // fp16 / bf16 conversions

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tessera::model {

struct safetensors_tensor {
  std::string name;
  std::string dtype;            // "F32", "F16", "BF16", ... as written in the file
  std::vector<int64_t> shape;
  uint64_t offset = 0;          // absolute file offset of the first byte
  uint64_t bytes = 0;
};

class safetensors_file {
public:
  // Throws model_error naming the file and what is wrong with it.
  explicit safetensors_file(const std::string& path);

  const std::string& path() const { return path_; }
  const std::map<std::string, safetensors_tensor>& tensors() const { return tensors_; }
  const safetensors_tensor* find(const std::string& name) const;
  // The tensor's values as float32 (F32, F16 and BF16 are supported; other dtypes throw).
  std::vector<float> read_float32(const safetensors_tensor& t) const;

private:
  std::string path_;
  uint64_t file_size_ = 0;
  std::map<std::string, safetensors_tensor> tensors_;
};

// One tensor to write: float32 values stored as `dtype` ("F32", "F16" or "BF16", rounded to
// nearest even).
struct safetensors_entry {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype;
  std::vector<float> values;
};

// Writes a safetensors file (atomically: temporary file, then rename).
void write_safetensors(const std::string& path, const std::vector<safetensors_entry>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Bytes per element of a safetensors dtype; 0 when unknown.
std::size_t safetensors_dtype_size(const std::string& dtype);


}  // namespace tessera::model
