// Worker frames (FromWorker protobuf bytes, as a worker's WebSocket delivers them)
// through the wire codec: decoding never crashes, and a decoded frame's fields
// can be read whole (the worker actor copies them into actor messages).
#include <cstddef>
#include <cstdint>
#include <string>

#include "actors/wire_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::actors;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  worker_frame frame;
  std::string error;
  if (!decode_from_worker(bytes, frame, error)) return 0;
  size_t touched = frame.hello.name.size() + frame.shard_id.size() + frame.error_message.size();
  for (const auto& t : frame.tensors) {
    uint64_t elements = 1;
    for (auto d : t.shape) elements *= static_cast<uint64_t>(d);
    touched += t.name.size() + t.data.size() + static_cast<size_t>(elements & 1);
  }
  for (auto id : frame.token_ids) touched += static_cast<size_t>(id & 1);
  return touched == SIZE_MAX ? 1 : 0;
}
