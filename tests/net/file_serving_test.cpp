// Pure rules behind the gateway's file serving, and the generated wire code.
#include "net/file_serving.hpp"
#include "net/proto/worker.pb.h"

#include <catch2/catch.hpp>

using namespace tessera::net;

TEST_CASE("MIME types follow the file extension", "[file_serving]") {
  CHECK(mime_type("index.html") == "text/html; charset=utf-8");
  CHECK(mime_type("a/b/main.mjs") == "application/javascript");
  CHECK(mime_type("ort.min.js") == "application/javascript");
  CHECK(mime_type("ort-wasm-simd-threaded.wasm") == "application/wasm");
  CHECK(mime_type("style.CSS") == "text/css; charset=utf-8");
  CHECK(mime_type("manifest.json") == "application/json");
  CHECK(mime_type("stage_0_2.onnx") == "application/octet-stream");
  CHECK(mime_type("dir.with.dot/README") == "application/octet-stream");
  CHECK(mime_type("noext") == "application/octet-stream");
}

TEST_CASE("safe_relative_path keeps ordinary paths and decodes escapes", "[file_serving]") {
  CHECK(safe_relative_path("/") == std::string());
  CHECK(safe_relative_path("/browser/index.html") == std::string("browser/index.html"));
  CHECK(safe_relative_path("/a%20b.js") == std::string("a b.js"));
  CHECK(safe_relative_path("/dir/") == std::string("dir"));
}

TEST_CASE("safe_relative_path rejects anything that could leave the root", "[file_serving]") {
  for (const char* bad : {"", "relative", "/..", "/../etc/passwd", "/a/../../b", "/%2e%2e/secret", "/a/%2E%2E/%2e%2e/x",
                          "/a%2f..%2f..%2fx", "/a//b", "/.git/config", "/a/./b", "/a\\..\\b", "/c:/x", "/a%00b",
                          "/bad%zz", "/trunc%2", "/x\x01y"}) {
    INFO("path: " << bad);
    CHECK_FALSE(safe_relative_path(bad).has_value());
  }
}

TEST_CASE("parse_range resolves single byte ranges against the size", "[file_serving]") {
  auto r = parse_range("bytes=10-19", 100);
  REQUIRE(r.kind == range_kind::partial);
  CHECK(r.range.first == 10);
  CHECK(r.range.last == 19);
  CHECK(r.range.length() == 10);

  r = parse_range("bytes=90-", 100);
  REQUIRE(r.kind == range_kind::partial);
  CHECK(r.range.first == 90);
  CHECK(r.range.last == 99);

  r = parse_range("bytes=-5", 100);
  REQUIRE(r.kind == range_kind::partial);
  CHECK(r.range.first == 95);
  CHECK(r.range.last == 99);

  r = parse_range("bytes=-500", 100);  // longer suffix than the file: the whole file
  REQUIRE(r.kind == range_kind::partial);
  CHECK(r.range.first == 0);
  CHECK(r.range.last == 99);

  r = parse_range("bytes=50-5000", 100);  // last clamps to the end
  REQUIRE(r.kind == range_kind::partial);
  CHECK(r.range.last == 99);
}

TEST_CASE("parse_range reports unsatisfiable and ignores what it cannot use", "[file_serving]") {
  CHECK(parse_range("bytes=100-", 100).kind == range_kind::unsatisfiable);
  CHECK(parse_range("bytes=200-300", 100).kind == range_kind::unsatisfiable);
  CHECK(parse_range("bytes=-0", 100).kind == range_kind::unsatisfiable);
  CHECK(parse_range("bytes=0-", 0).kind == range_kind::unsatisfiable);
  CHECK(parse_range("bytes=5-1", 100).kind == range_kind::whole);  // invalid spec: ignore the header
  CHECK(parse_range("bytes=0-1,5-6", 100).kind == range_kind::whole);
  CHECK(parse_range("items=0-1", 100).kind == range_kind::whole);
  CHECK(parse_range("bytes=a-b", 100).kind == range_kind::whole);
  CHECK(parse_range("bytes=99999999999999999999999-", 100).kind == range_kind::whole);
}

TEST_CASE("If-None-Match matches strong, weak, listed and * tags", "[file_serving]") {
  CHECK(etag_matches("\"abc\"", "\"abc\""));
  CHECK(etag_matches("W/\"abc\"", "\"abc\""));
  CHECK(etag_matches("\"x\", \"abc\"", "\"abc\""));
  CHECK(etag_matches("*", "\"abc\""));
  CHECK_FALSE(etag_matches("\"abd\"", "\"abc\""));
  CHECK_FALSE(etag_matches("", "\"abc\""));
  CHECK_FALSE(etag_matches("abc", "\"abc\""));
}

TEST_CASE("wire messages round-trip through their binary encoding", "[wire]") {
  tessera::wire::ToWorker out;
  auto* fwd = out.mutable_forward();
  fwd->set_request_id(7);
  fwd->set_sequence_id(9);
  fwd->set_position(12);
  fwd->set_seq_len(1);
  auto* t = fwd->add_tensors();
  t->set_name("hidden");
  t->set_dtype(tessera::wire::FLOAT16);
  t->add_shape(1);
  t->add_shape(1);
  t->add_shape(64);
  t->set_data(std::string(128, '\x01'));
  const std::string bytes = out.SerializeAsString();

  tessera::wire::ToWorker in;
  REQUIRE(in.ParseFromString(bytes));
  REQUIRE(in.body_case() == tessera::wire::ToWorker::kForward);
  CHECK(in.forward().position() == 12);
  CHECK(in.forward().tensors(0).shape_size() == 3);
  CHECK(in.forward().tensors(0).data().size() == 128);

  tessera::wire::FromWorker garbage;
  CHECK_FALSE(garbage.ParseFromString(std::string("\xff\xff\xff\xff", 4)));
}
