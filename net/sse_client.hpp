// A small synchronous client for Server-Sent Events over HTTP/1.1 POST, for
// `tessera prompt --http` and tests: http://host:port/path only (no TLS),
// plain sockets (no Beast). Its two pure pieces, the chunked transfer-coding
// decoder and the event-stream parser, are usable on their own.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tessera::net {

// Decodes `Transfer-Encoding: chunked` fed in arbitrary pieces.
class chunked_decoder {
public:
  // Appends the decoded bytes of `in` to `out`. Throws std::runtime_error
  // naming the bad chunk-size line.
  void feed(const std::string& in, std::string& out);
  bool done() const { return state_ == state::done; }

private:
  enum class state { size, data, data_crlf, trailer, done };
  state state_ = state::size;
  std::string line_;
  uint64_t left_ = 0;
};

// One event of a text/event-stream: `data` lines joined with '\n', or a
// comment line (": text") on its own.
struct sse_event {
  std::string event;    // the `event:` field ("" when none)
  std::string data;
  bool comment = false;  // a comment line; its text is in `data`
};

// Splits a text/event-stream fed in arbitrary pieces into events.
class sse_parser {
public:
  void feed(const std::string& text, std::vector<sse_event>& out);

private:
  std::string line_;
  sse_event pending_;
  bool has_data_ = false;
};

class sse_client {
public:
  sse_client();
  ~sse_client();
  sse_client(const sse_client&) = delete;
  sse_client& operator=(const sse_client&) = delete;

  // Connects to url ("http://host:port/path"), sends `method` (POST with
  // `json_body`, or GET) and reads the status line and headers; returns the
  // status. One request per client. Throws std::runtime_error naming the URL
  // on a bad URL, refusal or timeout. A non-empty `api_key` is sent as
  // `Authorization: Bearer <api_key>`.
  int send(const std::string& method, const std::string& url, const std::string& json_body,
           std::chrono::milliseconds timeout, const std::string& api_key = "");
  const std::string& content_type() const;

  // The next event of a text/event-stream body. False at the end of the body.
  // Throws std::runtime_error when nothing arrives within `timeout`.
  bool next(sse_event& out, std::chrono::milliseconds timeout);
  // The rest of the body (e.g. an error response's JSON).
  std::string rest(std::chrono::milliseconds timeout);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace tessera::net
