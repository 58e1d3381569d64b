// Loaders that only take a path get the fuzzer's bytes through one scratch file
// per process (a directory under TMPDIR, removed at exit), rewritten for every input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include <unistd.h>

namespace tessera::fuzz {

class input_file {
public:
  // `name` is the file's own name (loaders may dispatch on it, e.g. tokenizer.json).
  explicit input_file(const std::string& name) {
    const char* tmp = std::getenv("TMPDIR");
    dir_ = std::filesystem::path(tmp && *tmp ? tmp : "/tmp") / ("tessera-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / name).string();
  }
  ~input_file() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  input_file(const input_file&) = delete;
  input_file& operator=(const input_file&) = delete;

  // Writes the input and returns the file's path.
  // A file beside the input (e.g. external data a loader checks), written once.
  void write_beside(const std::string& name, const std::string& bytes) const {
    std::ofstream out(dir_ / name, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  const std::string& write(const uint8_t* data, size_t size) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    return path_;
  }

private:
  std::filesystem::path dir_;
  std::string path_;
};

}  // namespace tessera::fuzz
