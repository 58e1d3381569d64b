// A /ws/generate text frame: parsed into generate_params, or refused with an
// error frame that the client actor encodes and sends back (that encoding must
// not throw either, whatever bytes the refused frame held).
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "actors/client_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::actors;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const generate_params p = parse_generate_request(text, 64);
    (void)encode(token_event{0, p.prompt});
    for (const auto& s : p.stop) (void)encode(status_event{"queued", s});
  } catch (const std::invalid_argument& e) {
    (void)encode(error_event{e.what(), "bad_request"});
  }
  return 0;
}
