#include "model/build/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/base/model_error.hpp"

namespace fs = std::filesystem;

namespace tessera::model {
namespace {

constexpr uint64_t max_header_bytes = 100ull << 20;  // the format's own limit is 100 MB

uint64_t read_le64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::size_t safetensors_dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

safetensors_file::safetensors_file(const std::string& path) : path_(path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw model_error("cannot open safetensors file " + path);
  std::error_code ec;
  file_size_ = fs::file_size(path, ec);
  if (ec) throw model_error("cannot stat safetensors file " + path + ": " + ec.message());
  if (file_size_ < 8) throw model_error(path + ": truncated safetensors file (" + std::to_string(file_size_) + " bytes, no header length)");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  const uint64_t header_len = read_le64(len_bytes);
  if (header_len > file_size_ - 8)
    throw model_error(path + ": safetensors header length " + std::to_string(header_len) + " runs past the end of the file (" +
                      std::to_string(file_size_) + " bytes)");
  if (header_len > max_header_bytes) throw model_error(path + ": safetensors header of " + std::to_string(header_len) + " bytes is too large");
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  if (!in) throw model_error(path + ": cannot read the safetensors header");

  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw model_error(path + ": safetensors header is not valid JSON (" + e.what() + ")");
  }
  if (!j.is_object()) throw model_error(path + ": safetensors header is not a JSON object");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size_ - data_start;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const std::string where = path + ": tensor '" + it.key() + "'";
    const auto& v = it.value();
    safetensors_tensor t;
    t.name = it.key();
    try {
      t.dtype = v.at("dtype").get<std::string>();
      t.shape = v.at("shape").get<std::vector<int64_t>>();
      const auto offsets = v.at("data_offsets").get<std::vector<uint64_t>>();
      if (offsets.size() != 2) throw model_error(where + ": data_offsets must be [begin, end]");
      const std::size_t elem = safetensors_dtype_size(t.dtype);
      if (elem == 0) throw model_error(where + ": unknown dtype '" + t.dtype + "'");
      if (offsets[0] > offsets[1] || offsets[1] > data_size)
        throw model_error(where + ": data_offsets [" + std::to_string(offsets[0]) + ", " + std::to_string(offsets[1]) +
                          "] out of range (data section is " + std::to_string(data_size) + " bytes)");
      uint64_t count = 1;
      for (int64_t d : t.shape) {
        if (d < 0) throw model_error(where + ": negative dimension in shape " + shape_text(t.shape));
        if (d != 0 && count > UINT64_MAX / elem / static_cast<uint64_t>(d))  // the byte count would wrap around
          throw model_error(where + ": shape " + shape_text(t.shape) + " x " + t.dtype + " is more than 2^64 bytes");
        count *= static_cast<uint64_t>(d);
      }
      if (count * elem != offsets[1] - offsets[0])
        throw model_error(where + ": shape " + shape_text(t.shape) + " x " + t.dtype + " needs " + std::to_string(count * elem) +
                          " bytes but data_offsets span " + std::to_string(offsets[1] - offsets[0]));
      t.offset = data_start + offsets[0];
      t.bytes = offsets[1] - offsets[0];
    } catch (const nlohmann::json::exception& e) {
      throw model_error(where + ": malformed entry (" + e.what() + ")");
    }
    tensors_.emplace(t.name, std::move(t));
  }
}

const safetensors_tensor* safetensors_file::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::vector<float> safetensors_file::read_float32(const safetensors_tensor& t) const {
  const std::size_t elem = safetensors_dtype_size(t.dtype);
  if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16")
    throw model_error(path_ + ": tensor '" + t.name + "' has dtype " + t.dtype + " (supported: F32, F16, BF16)");
  const uint64_t count = t.bytes / elem;
  std::vector<float> out(count);
  std::ifstream in(path_, std::ios::binary);
  if (!in) throw model_error("cannot open safetensors file " + path_);
  in.seekg(static_cast<std::streamoff>(t.offset));
  if (t.dtype == "F32") {
    in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(t.bytes));
  } else {  // converted in 1 MiB chunks: only the float32 result is ever whole in memory
    std::vector<uint16_t> raw(std::min<uint64_t>(count, 1u << 19));
    const bool f16 = t.dtype == "F16";
    for (uint64_t done = 0; done < count && in;) {
      const uint64_t n = std::min<uint64_t>(raw.size(), count - done);
      in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(n * 2));
      for (uint64_t i = 0; i < n; ++i) out[done + i] = f16 ? fp16_to_float(raw[i]) : bfloat16_to_float(raw[i]);
      done += n;
    }
  }
  if (!in) throw model_error(path_ + ": tensor '" + t.name + "' could not be read (file changed or truncated?)");
  return out;
}

void write_safetensors(const std::string& path, const std::vector<safetensors_entry>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    const std::size_t elem = safetensors_dtype_size(t.dtype);
    if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16")
      throw model_error("write_safetensors: tensor '" + t.name + "' dtype " + t.dtype + " is not F32, F16 or BF16");
    uint64_t count = 1;
    for (int64_t d : t.shape) count *= static_cast<uint64_t>(d);
    if (count != t.values.size())
      throw model_error("write_safetensors: tensor '" + t.name + "' has " + std::to_string(t.values.size()) +
                        " values for shape " + shape_text(t.shape));
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + count * elem}}};
    offset += count * elem;
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8) h.push_back(' ');  // align the data section, as the reference writer does

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw model_error("cannot write " + tmp);
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((static_cast<uint64_t>(h.size()) >> (8 * i)) & 0xFF);
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& t : tensors) {
      if (t.dtype == "F32") {
        out.write(reinterpret_cast<const char*>(t.values.data()), static_cast<std::streamsize>(t.values.size() * 4));
      } else {
        std::vector<uint16_t> raw(t.values.size());
        for (std::size_t i = 0; i < raw.size(); ++i)
          raw[i] = t.dtype == "F16" ? float_to_fp16(t.values[i]) : float_to_bfloat16(t.values[i]);
        out.write(reinterpret_cast<const char*>(raw.data()), static_cast<std::streamsize>(raw.size() * 2));
      }
    }
    if (!out) throw model_error("write failed: " + tmp);
  }
  fs::rename(tmp, path);
}

}  // namespace tessera::model
