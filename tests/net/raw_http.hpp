// A deliberately dumb HTTP/1.1 client over POSIX sockets for the gateway tests:
// it sends exactly the bytes it is given (so tests can send what a browser
// would never send) and reads until the server closes. 127.0.0.1 only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

namespace tessera::net::testing {

struct raw_socket {
  int fd = -1;
  explicit raw_socket(uint16_t port, int timeout_s = 10) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("socket() failed");
    timeval tv{timeout_s, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
    }
  }
  ~raw_socket() {
    if (fd >= 0) ::close(fd);
  }
  raw_socket(const raw_socket&) = delete;
  raw_socket& operator=(const raw_socket&) = delete;

  void send_all(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      sent += static_cast<std::size_t>(n);
    }
  }
  void shutdown_send() { ::shutdown(fd, SHUT_WR); }
  // Up to `max` bytes; "" on EOF, timeout or error.
  std::string recv_some(std::size_t max = 65536) {
    std::string buf(max, '\0');
    const auto n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) return {};
    buf.resize(static_cast<std::size_t>(n));
    return buf;
  }
  std::string recv_until_eof() {
    std::string all;
    for (std::string chunk = recv_some(); !chunk.empty(); chunk = recv_some()) all += chunk;
    return all;
  }
  // Reads until `marker` has arrived (or EOF/timeout); returns everything read.
  std::string recv_until(const std::string& marker) {
    std::string all;
    while (all.find(marker) == std::string::npos) {
      const std::string chunk = recv_some();
      if (chunk.empty()) break;
      all += chunk;
    }
    return all;
  }
};

struct http_reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  bool has(const std::string& name) const { return headers.count(name) != 0; }
};

inline http_reply parse_reply(const std::string& raw) {
  http_reply r;
  const auto end = raw.find("\r\n\r\n");
  if (raw.compare(0, 9, "HTTP/1.1 ") != 0 || end == std::string::npos)
    throw std::runtime_error("not an HTTP reply: '" + raw.substr(0, 80) + "'");
  r.status = std::stoi(raw.substr(9, 3));
  std::size_t pos = raw.find("\r\n") + 2;
  while (pos < end) {
    const auto eol = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, eol - pos);
    const auto colon = line.find(':');
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers[name] = value;
    pos = eol + 2;
  }
  r.body = raw.substr(end + 4);
  return r;
}

// One request with "Connection: close"; extra_headers are "Name: value\r\n" lines.
inline http_reply http_get(uint16_t port, const std::string& target, const std::string& extra_headers = "",
                           const std::string& method = "GET") {
  raw_socket s(port);
  s.send_all(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers + "\r\n");
  return parse_reply(s.recv_until_eof());
}

}  // namespace tessera::net::testing
