#include "net/sse_client.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <deque>
#include <stdexcept>

namespace tessera::net {

// ---- chunked_decoder ----

void chunked_decoder::feed(const std::string& in, std::string& out) {
  size_t i = 0;
  while (i < in.size() && state_ != state::done) {
    if (state_ == state::data) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left_, in.size() - i));
      out.append(in, i, n);
      i += n;
      left_ -= n;
      if (left_ == 0)
        state_ = state::data_crlf;
      continue;
    }
    const char c = in[i++];
    if (c != '\n') {
      line_ += c;
      continue;
    }
    if (!line_.empty() && line_.back() == '\r')
      line_.pop_back();
    std::string line = std::move(line_);
    line_.clear();
    if (state_ == state::data_crlf) {
      if (!line.empty())
        throw std::runtime_error("chunked body: expected CRLF after a chunk, got \"" + line.substr(0, 40) + "\"");
      state_ = state::size;
    } else if (state_ == state::size) {
      const auto hex = line.substr(0, line.find(';'));
      size_t used = 0;
      try {
        left_ = std::stoull(hex, &used, 16);
      } catch (const std::exception&) {
        used = 0;
      }
      if (hex.empty() || used != hex.size())
        throw std::runtime_error("chunked body: bad chunk size \"" + line.substr(0, 40) + "\"");
      state_ = left_ == 0 ? state::trailer : state::data;
    } else if (state_ == state::trailer && line.empty()) {
      state_ = state::done;
    }
  }
}

// ---- sse_parser ----

void sse_parser::feed(const std::string& text, std::vector<sse_event>& out) {
  for (char c : text) {
    if (c != '\n') {
      line_ += c;
      continue;
    }
    if (!line_.empty() && line_.back() == '\r')
      line_.pop_back();
    std::string line;
    line.swap(line_);
    if (line.empty()) {  // the end of an event
      if (has_data_)
        out.push_back(std::move(pending_));
      pending_ = {};
      has_data_ = false;
      continue;
    }
    if (line.front() == ':') {
      sse_event e;
      e.comment = true;
      e.data = line.substr(line.size() > 1 && line[1] == ' ' ? 2 : 1);
      out.push_back(std::move(e));
      continue;
    }
    const auto colon = line.find(':');
    const std::string field = line.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ')
      value.erase(0, 1);
    if (field == "data") {
      if (has_data_)
        pending_.data += '\n';
      pending_.data += value;
      has_data_ = true;
    } else if (field == "event") {
      pending_.event = value;
    }
  }
}

// ---- sse_client ----

struct sse_client::impl {
  int fd = -1;
  std::string url, content_type, raw;  // raw: received bytes not yet decoded
  bool chunked = false;
  bool eof = false;
  chunked_decoder chunks;
  sse_parser parser;
  std::string body;  // decoded bytes not yet parsed
  std::deque<sse_event> events;

  ~impl() {
    if (fd >= 0)
      ::close(fd);
  }

  // Reads what is there (waiting up to `timeout`); false at the end of the connection.
  bool read_some(std::chrono::milliseconds timeout) {
    if (eof)
      return false;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r == 0)
      throw std::runtime_error("nothing from " + url + " for " + std::to_string(timeout.count()) + " ms");
    char buf[16384];
    const ssize_t n = r < 0 ? -1 : ::recv(fd, buf, sizeof buf, 0);
    if (n < 0)
      throw std::runtime_error("reading from " + url + " failed: " + std::strerror(errno));
    if (n == 0) {
      eof = true;
      return false;
    }
    raw.append(buf, static_cast<size_t>(n));
    return true;
  }

  // Moves received bytes through the transfer decoding into `body`.
  void decode() {
    if (chunked)
      chunks.feed(raw, body);
    else
      body += raw;
    raw.clear();
  }
  bool body_done() const { return chunked ? chunks.done() : eof; }
};

sse_client::sse_client() : impl_(std::make_unique<impl>()) {}
sse_client::~sse_client() = default;

const std::string& sse_client::content_type() const { return impl_->content_type; }

int sse_client::send(const std::string& method, const std::string& url, const std::string& json_body,
                     std::chrono::milliseconds timeout, const std::string& api_key) {
  auto& d = *impl_;
  d.url = url;
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    throw std::runtime_error("not an http:// URL: " + url);
  const auto slash = url.find('/', scheme.size());
  const std::string authority = url.substr(scheme.size(), slash - scheme.size());
  const std::string path = slash == std::string::npos ? "/" : url.substr(slash);
  const auto colon = authority.rfind(':');
  const std::string host = authority.substr(0, colon);
  const std::string port = colon == std::string::npos ? "80" : authority.substr(colon + 1);
  if (host.empty() || port.empty())
    throw std::runtime_error("no host or port in " + url);

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    throw std::runtime_error("cannot resolve " + host + " (" + url + "): " + gai_strerror(rc));
  for (auto* a = found; a && d.fd < 0; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) == 0)
      d.fd = fd;
    else if (fd >= 0)
      ::close(fd);
  }
  ::freeaddrinfo(found);
  if (d.fd < 0)
    throw std::runtime_error("cannot connect to " + url + ": " + std::strerror(errno));

  const std::string request = method + " " + path + " HTTP/1.1\r\nHost: " + authority +
                              "\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\n" +
                              (api_key.empty() ? std::string() : "Authorization: Bearer " + api_key + "\r\n") +
                              "Connection: close\r\nContent-Length: " +
                              std::to_string(json_body.size()) + "\r\n\r\n" + json_body;
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(d.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      throw std::runtime_error("sending to " + url + " failed: " + std::strerror(errno));
    sent += static_cast<size_t>(n);
  }

  size_t end;
  while ((end = d.raw.find("\r\n\r\n")) == std::string::npos)
    if (!d.read_some(timeout))
      throw std::runtime_error(url + " closed the connection before its response headers");
  const std::string head = d.raw.substr(0, end);
  d.raw.erase(0, end + 4);
  int status = 0;
  if (std::sscanf(head.c_str(), "HTTP/1.%*d %d", &status) != 1)
    throw std::runtime_error("bad status line from " + url + ": " + head.substr(0, head.find('\r')));
  size_t at = head.find("\r\n");
  while (at != std::string::npos) {
    const size_t next = head.find("\r\n", at + 2);
    std::string line = head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
    at = next;
    const auto c = line.find(':');
    if (c == std::string::npos)
      continue;
    std::string name = line.substr(0, c), value = line.substr(c + 1);
    for (auto& ch : name)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    value.erase(0, value.find_first_not_of(' '));
    if (name == "content-type")
      d.content_type = value;
    if (name == "transfer-encoding" && value.find("chunked") != std::string::npos)
      d.chunked = true;
  }
  d.decode();
  return status;
}

bool sse_client::next(sse_event& out, std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  for (;;) {
    if (!d.events.empty()) {
      out = std::move(d.events.front());
      d.events.pop_front();
      return true;
    }
    if (!d.body.empty()) {
      std::vector<sse_event> got;
      d.parser.feed(d.body, got);
      d.body.clear();
      d.events.insert(d.events.end(), got.begin(), got.end());
      continue;
    }
    if (d.body_done())
      return false;
    if (!d.read_some(timeout) && !d.chunked)
      return false;
    if (d.eof && d.chunked && !d.chunks.done() && d.raw.empty())
      throw std::runtime_error(d.url + " closed the connection in the middle of its reply");
    d.decode();
  }
}

std::string sse_client::rest(std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  while (!d.body_done() && d.read_some(timeout))
    d.decode();
  std::string out = std::move(d.body);
  d.body.clear();
  return out;
}

}  // namespace tessera::net
