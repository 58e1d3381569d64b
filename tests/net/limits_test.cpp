// Pure rules behind the gateway's hard limits: the WebSocket Origin check,
// the per-address connection counter, which files are the worker page's own,
// and escaping of peer-supplied text for logs.
#include "net/file_serving.hpp"
#include "net/limits.hpp"

#include <catch2/catch.hpp>

using namespace tessera::net;

TEST_CASE("origins: none, same origin and loopback pages are allowed", "[limits][origin]") {
  CHECK_FALSE(origin_refusal("", "node.example:8080", {}));
  CHECK_FALSE(origin_refusal("http://node.example:8080", "node.example:8080", {}));
  CHECK_FALSE(origin_refusal("https://Node.Example", "node.example:443", {}));
  CHECK_FALSE(origin_refusal("http://node.example", "node.example", {}));
  for (const char* o : {"http://127.0.0.1:5173", "http://localhost", "http://[::1]:3000", "http://127.8.9.10"})
    CHECK_FALSE(origin_refusal(o, "10.0.0.2:8080", {}));
}

TEST_CASE("origins: other sites are refused with a reason naming the origin", "[limits][origin]") {
  const auto why = origin_refusal("http://evil.example", "127.0.0.1:8080", {});
  REQUIRE(why);
  CHECK_THAT(*why, Catch::Contains("'http://evil.example'") && Catch::Contains("node.allowed_origins"));
  for (const char* o : {"null", "http://node.example:8081", "http://node.example", "file://", "http://127.0.0.1.evil.example",
                        "http://localhost.evil.example:80", "ftp://127.0.0.1", "http://a b"})
    CHECK(origin_refusal(o, "node.example:8080", {}));
}

TEST_CASE("origins: allowed_origins adds exact origins, or every origin with a star", "[limits][origin]") {
  const std::vector<std::string> allowed{"https://lab.example/", "http://10.0.0.5:8080"};
  CHECK_FALSE(origin_refusal("https://LAB.example", "node:8080", allowed));
  CHECK_FALSE(origin_refusal("http://10.0.0.5:8080", "node:8080", allowed));
  CHECK(origin_refusal("http://10.0.0.5:8081", "node:8080", allowed));
  CHECK_FALSE(origin_refusal("http://evil.example", "node:8080", {"*"}));
}

TEST_CASE("connection_counter holds a slot per connection up to the limit and frees it", "[limits]") {
  connection_counter c(2);
  auto a = c.acquire("10.0.0.1");
  auto b = c.acquire("10.0.0.1");
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(c.acquire("10.0.0.1"));
  CHECK(c.acquire("10.0.0.2"));  // another address has its own budget
  CHECK(c.open("10.0.0.1") == 2);
  a.reset();
  CHECK(c.open("10.0.0.1") == 1);
  CHECK(c.acquire("10.0.0.1"));
}

TEST_CASE("escape_text keeps one log line: control bytes, quotes and bad UTF-8 are escaped", "[limits][escape]") {
  CHECK(escape_text("big") == "big");
  CHECK(escape_text("w\nINFO worker=9 joined") == "w\\nINFO worker=9 joined");
  CHECK(escape_text("a\r\tb\x01\x7f") == "a\\r\\tb\\x01\\x7f");
  CHECK(escape_text("say \"hi\" \\ bye") == "say \\\"hi\\\" \\\\ bye");
  CHECK(escape_text("caf\xc3\xa9 \xe2\x80\x9cq\xe2\x80\x9d") == "caf\xc3\xa9 \xe2\x80\x9cq\xe2\x80\x9d");  // valid UTF-8 stays
  CHECK(escape_text("\xff\xc3(\xed\xa0\x80") == "\\xff\\xc3(\\xed\\xa0\\x80");  // invalid, truncated, surrogate
  CHECK(escape_text(std::string(300, 'x'), 8) == "xxxxxxxx...(300 bytes)");
}

TEST_CASE("only the worker page's own files are served from the static dir", "[file_serving][limits]") {
  for (const char* ok : {"browser/index.html", "browser/main.mjs", "core/wire.mjs", "browser/style.css", "core/x.js",
                         "dashboard/dashboard.mjs", "dashboard/dashboard.css"})
    CHECK(is_page_file(ok));
  for (const char* no : {"package.json", "node_modules/ws/index.js", "browser/secret.json", "test/a.mjs", "tools/bench_worker.mjs",
                         "README.md", "node/worker.mjs", "core"})
    CHECK_FALSE(is_page_file(no));
  for (const char* ok : {"ort.wasm.min.mjs", "ort.webgpu.min.mjs", "ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.jsep.mjs"})
    CHECK(is_ort_file(ok));
  for (const char* no : {"../package.json", "ort.min.js.map", "lib/ort.mjs", "package.json", "ort.d.ts"})
    CHECK_FALSE(is_ort_file(no));
}
