// The pure halves of net/sse_client: the chunked transfer-coding decoder and
// the text/event-stream parser, fed in every split of their input.
#include <catch2/catch.hpp>

#include <cstdio>

#include "net/sse_client.hpp"

using tessera::net::chunked_decoder;
using tessera::net::sse_event;
using tessera::net::sse_parser;

namespace {

const std::string kStream = ": queued \xe2\x80\x94 the pool lacks 1 MB\n\n"
                            "data: {\"a\":1}\n\n"
                            "event: status\r\ndata: line one\r\ndata: line two\r\n\r\n"
                            "data: [DONE]\n\n";

void check_events(const std::vector<sse_event>& got) {
  REQUIRE(got.size() == 4);
  CHECK(got[0].comment);
  CHECK(got[0].data == "queued \xe2\x80\x94 the pool lacks 1 MB");
  CHECK(!got[1].comment);
  CHECK(got[1].data == "{\"a\":1}");
  CHECK(got[2].event == "status");
  CHECK(got[2].data == "line one\nline two");
  CHECK(got[3].data == "[DONE]");
}

}  // namespace

TEST_CASE("an event stream parses into the same events however it is split", "[sse]") {
  for (size_t cut = 0; cut <= kStream.size(); ++cut) {
    sse_parser p;
    std::vector<sse_event> got;
    p.feed(kStream.substr(0, cut), got);
    p.feed(kStream.substr(cut), got);
    check_events(got);
  }
}

TEST_CASE("a chunked body decodes to its bytes however it is split, and ends at the last chunk", "[sse]") {
  char hex[16];
  std::snprintf(hex, sizeof hex, "%zx", kStream.size() - 33);
  const std::string chunked = "1a\r\n" + kStream.substr(0, 26) + "\r\n7;ext=1\r\n" + kStream.substr(26, 7) + "\r\n" + hex +
                              "\r\n" + kStream.substr(33) + "\r\n0\r\n\r\n";
  for (size_t cut = 0; cut <= chunked.size(); ++cut) {
    chunked_decoder d;
    std::string out;
    d.feed(chunked.substr(0, cut), out);
    CHECK(d.done() == (cut == chunked.size()));
    d.feed(chunked.substr(cut), out);
    CHECK(d.done());
    CHECK(out == kStream);
  }
}

TEST_CASE("a chunked body with a bad size line is refused, naming the line", "[sse]") {
  chunked_decoder d;
  std::string out;
  CHECK_THROWS_WITH(d.feed("zz\r\nabc", out), Catch::Contains("bad chunk size \"zz\""));
  chunked_decoder e;
  CHECK_THROWS_WITH(e.feed("3\r\nabcX\r\n", out), Catch::Contains("expected CRLF"));
}
