// data_file_writer: kernel-side copies plus windowed-mmap hashing.
#include "model/graph/graph_data_writer.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "model/base/model_error.hpp"
#include "model/base/sha256.hpp"

namespace tessera::model {

namespace {

constexpr uint64_t alignment = 64;                 // tensor offsets in a stage data file
constexpr uint64_t window = uint64_t(32) << 20;    // bytes mapped at once while hashing
constexpr uint64_t chunk = uint64_t(256) << 20;    // bytes per copy_file_range call (< 2 GB)

std::string os_error(const std::string& what) { return what + ": " + std::strerror(errno); }

void write_all(int fd, const char* data, uint64_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw model_error(os_error("write error in " + path));
    data += w;
    n -= uint64_t(w);
  }
}

void hash_fd_range(int fd, const std::string& source, uint64_t offset, uint64_t length, sha256& h, const std::string& what) {
  static const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
  for (uint64_t done = 0; done < length;) {
    uint64_t start = offset + done;
    uint64_t base = start - start % page;
    uint64_t n = std::min(window, length - done);
    uint64_t span = start - base + n;
    void* map = ::mmap(nullptr, span, PROT_READ, MAP_PRIVATE, fd, off_t(base));
    if (map == MAP_FAILED) throw model_error(os_error("cannot map " + source + " while reading " + what));
    ::madvise(map, span, MADV_SEQUENTIAL);
    h.update(static_cast<const char*>(map) + (start - base), n);
    ::munmap(map, span);
    done += n;
  }
}

}  // namespace

data_file_writer::data_file_writer(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw model_error(os_error("cannot create stage data file " + path));
}

data_file_writer::~data_file_writer() {
  if (fd_ >= 0) ::close(fd_);
  for (auto& [name, fd] : sources_) ::close(fd);
}

int data_file_writer::source_fd(const std::string& source) {
  auto it = sources_.find(source);
  if (it != sources_.end()) return it->second;
  int fd = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw model_error(os_error("missing external data file " + source));
  return sources_[source] = fd;
}

uint64_t data_file_writer::append(const std::string& source, uint64_t offset, uint64_t length, std::string* hash,
                                  const std::string& what) {
  int in = source_fd(source);
  off_t end = ::lseek(in, 0, SEEK_END);
  if (end < 0 || uint64_t(end) < offset + length)
    throw model_error("external data file " + source + " ended early while reading initializer " + what);
  static const char zeros[alignment] = {};
  uint64_t pad = (alignment - size_ % alignment) % alignment;
  write_all(fd_, zeros, pad, path_);
  size_ += pad;
  const uint64_t at = size_;

  loff_t from = loff_t(offset), to = loff_t(at);
  uint64_t done = 0;
  bool kernel_copy = true;
  std::vector<char> buffer;
  while (done < length) {
    uint64_t n = std::min(chunk, length - done);
    if (kernel_copy) {
      ssize_t c = ::copy_file_range(in, &from, fd_, &to, n, 0);
      if (c > 0) { done += uint64_t(c); continue; }
      if (c < 0 && errno == EINTR) continue;
      if (c == 0) throw model_error("external data file " + source + " ended early while reading initializer " + what);
      if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
        throw model_error(os_error("cannot copy " + what + " from " + source + " to " + path_));
      kernel_copy = false;  // fall back to read/write
    }
    buffer.resize(std::min<uint64_t>(n, uint64_t(16) << 20));
    ssize_t r = ::pread(in, buffer.data(), buffer.size(), off_t(from));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw model_error(os_error("read error in " + source + " for " + what));
    if (::pwrite(fd_, buffer.data(), size_t(r), off_t(to)) != r) throw model_error(os_error("write error in " + path_));
    from += r;
    to += r;
    done += uint64_t(r);
  }
  if (::lseek(fd_, off_t(at + length), SEEK_SET) < 0) throw model_error(os_error("seek error in " + path_));
  size_ = at + length;
  if (hash) {
    sha256 h;
    hash_fd_range(in, source, offset, length, h, what);
    *hash = h.hex_digest();
  }
  return at;
}

uint64_t data_file_writer::finish() {
  if (fd_ >= 0) {
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) throw model_error(os_error("write error in " + path_));
  }
  return size_;
}

std::string sha256_file_range(const std::string& source, uint64_t offset, uint64_t length, const std::string& what) {
  int fd = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw model_error(os_error("missing external data file " + source));
  sha256 h;
  try {
    off_t end = ::lseek(fd, 0, SEEK_END);
    if (end < 0 || uint64_t(end) < offset + length)
      throw model_error("external data file " + source + " ended early while reading initializer " + what);
    hash_fd_range(fd, source, offset, length, h, what);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return h.hex_digest();
}

}  // namespace tessera::model
