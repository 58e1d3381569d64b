// An OpenAI API request body (/v1/chat/completions and /v1/completions): parsed,
// or refused with an api_error whose JSON body is encoded the way the HTTP
// client actor answers it. The first byte picks the endpoint.
#include <cstddef>
#include <cstdint>
#include <string>

#include "actors/openai_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::actors;
  if (size == 0) return 0;
  const api_kind kind = (data[0] & 1) ? api_kind::completion : api_kind::chat;
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const api_request r = parse_api_request(kind, body, "tessera-small", 64);
    api_context c{kind, "cmpl-fuzz", 0, r.model};
    for (const auto& m : r.messages) (void)sse_delta(c, 0, m.content, true);
    (void)sse_delta(c, 0, r.params.prompt, false);
    for (const auto& s : r.params.stop) (void)sse_delta(c, 1, s, false);
    (void)encode_api_response(c, {{r.user, "stop"}}, r.params.prompt_ids.size(), r.n);
  } catch (const api_error& e) {
    (void)encode_api_error(e);
    (void)sse_error(e);
  }
  return 0;
}
