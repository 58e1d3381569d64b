// Streams byte ranges of source weight files into one stage data file, with
// an optional SHA-256 of each range. Copies in the kernel (copy_file_range)
// and hashes through a small sliding mmap window, so neither the model nor a
// whole tensor is ever in the process's memory.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace tessera::model {

class data_file_writer {
public:
  explicit data_file_writer(const std::string& path);  // creates/truncates; throws model_error
  ~data_file_writer();
  data_file_writer(const data_file_writer&) = delete;
  data_file_writer& operator=(const data_file_writer&) = delete;

  // Appends source[offset, offset + length) at the next 64-byte aligned offset
  // and returns that offset. Fills *hash (sha256 hex of the bytes) if given.
  // `what` names the tensor in errors.
  uint64_t append(const std::string& source, uint64_t offset, uint64_t length, std::string* hash, const std::string& what);
  // Closes the file; returns its size. Throws model_error on a write error.
  uint64_t finish();

private:
  int source_fd(const std::string& source);
  void hash_range(int fd, const std::string& source, uint64_t offset, uint64_t length, std::string* hash);
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::map<std::string, int> sources_;
};

// sha256 hex of source[offset, offset + length) (same windowed reading).
std::string sha256_file_range(const std::string& source, uint64_t offset, uint64_t length, const std::string& what);

}  // namespace tessera::model
