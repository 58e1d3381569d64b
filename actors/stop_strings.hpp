// Stop strings for streamed text: holds back the tail that could still grow
// into a stop string, so the client never sees text past a stop. Pure.
#pragma once

#include <string>
#include <vector>

namespace tessera::actors {

class stop_matcher {
public:
  explicit stop_matcher(std::vector<std::string> stops);
  // Adds decoded text; returns the text now safe to emit. After a stop string
  // is found, stopped() is true and the text before it has been emitted.
  std::string push(const std::string& text);
  // End of stream: whatever is still held back.
  std::string flush();
  bool stopped() const { return stopped_; }

private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

// A reproducible uniform [0,1) draw for step `index` of a request seeded with
// `seed` (SplitMix64; the same on every platform, independent of other steps so a
// replayed step draws the same value).
float seeded_uniform(uint64_t seed, uint64_t index);

}  // namespace tessera::actors
