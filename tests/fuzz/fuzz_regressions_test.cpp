// The bugs the fuzz targets of tests/fuzz found in the protocol, tokenizer and
// safetensors readers, one test case each, stated as the behaviour that is now
// right (the ONNX ones: fuzz_onnx_regressions_test.cpp). The crashing inputs
// themselves are also replayed from regressions/<target>/ by the replay entries.
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "actors/client_protocol.hpp"
#include "fuzz_regression_input.hpp"
#include "model/base/model_error.hpp"
#include "model/build/safetensors.hpp"
#include "model/tokenizer/tokenizer.hpp"

using namespace tessera::actors;

namespace {

using tessera::fuzz::regression_input;

// What the client actor sends back for a frame that parse_generate_request refuses.
std::string refusal_frame(const std::string& frame) {
  try {
    (void)parse_generate_request(frame, 64);
  } catch (const std::invalid_argument& e) {
    return encode(error_event{e.what(), "bad_request"});
  }
  FAIL("the frame was accepted: " << frame);
  return "";
}

}  // namespace

TEST_CASE("a /ws/generate frame with curly quotes gets a JSON error frame, not a type_error from encoding it") {
  // The parser's message quotes the bytes it stopped at: the first byte of a
  // three-byte UTF-8 character, which is not UTF-8 on its own.
  const std::string frame = "{\"prompt\": \xe2\x80\x9chello\xe2\x80\x9d}";
  const auto reply = nlohmann::json::parse(refusal_frame(frame));
  CHECK(reply.at("code") == "bad_request");
  CHECK(reply.at("error").get<std::string>().find("malformed JSON") != std::string::npos);
}

TEST_CASE("a /ws/generate stop list holding a 100000-deep array is refused without dumping it") {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const auto reply = nlohmann::json::parse(refusal_frame("{\"prompt\": \"x\", \"stop\": [\"a\", " + deep + "]}"));
  CHECK(reply.at("code") == "bad_request");
}

TEST_CASE("a /ws/generate prompt_ids list holding a 100000-deep object is refused without dumping it") {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "{\"a\":";
  deep += "1" + std::string(100000, '}');
  const auto reply = nlohmann::json::parse(refusal_frame("{\"prompt_ids\": [1, " + deep + "]}"));
  CHECK(reply.at("code") == "bad_request");
}

TEST_CASE("a tokenizer.model whose piece type is outside 1..6 is refused naming the type") {
  // Stored in the piece's enum unchecked, the value was undefined behaviour at its first use.
  REQUIRE_THROWS_WITH(tessera::model::load_tokenizer(regression_input("fuzz_tokenizer_model", "piece_type_52.model")),
                      Catch::Matchers::Contains("piece type 52 is not 1..6"));
}

TEST_CASE("a safetensors shape whose byte count wraps around 2^64 is refused, not taken as 0 bytes") {
  // [2^32, 2^32] x F32 is 2^66 bytes, which wrapped to 0 and matched data_offsets [0, 0].
  REQUIRE_THROWS_WITH(
      tessera::model::safetensors_file(regression_input("fuzz_safetensors", "shape_bytes_wrap_to_zero.safetensors")),
      Catch::Matchers::Contains("is more than 2^64 bytes"));
}
