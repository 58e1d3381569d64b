// The seeded weight source: splitmix64 streams keyed by (seed, FNV-1a of the name).
#include "model/build/weight_source.hpp"

#include <cmath>

#include "model/base/model_error.hpp"

namespace tessera::model {
namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

struct splitmix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1), never 0.
  double uniform() { return (double(next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class seeded_source final : public weight_source {
public:
  explicit seeded_source(uint64_t seed) : seed_(seed) {}

  std::vector<float> load(const std::string& name, const std::vector<int64_t>& shape) override {
    const uint64_t n = element_count(shape);
    double mean = 0, std = 0.02;
    if (ends_with(name, "layernorm.weight") || name == "model.norm.weight") {
      mean = 1.0;
      std = 0.05;
    } else if (ends_with(name, ".bias")) {
      std = 0.02;
    } else if (name == "model.embed_tokens.weight") {
      std = 1.0;
    } else if (shape.size() == 2) {
      std = 1.0 / std::sqrt(double(shape[1]));
    }
    splitmix64 rng{seed_ * 0x2545F4914F6CDD1Dull ^ fnv1a(name) ^ (fnv1a(shape_string(shape)) << 1)};
    std::vector<float> out(n);
    // Box-Muller, both outputs used; only +,*,log,sqrt,cos,sin of doubles, rounded to float.
    constexpr double two_pi = 6.28318530717958647692;
    for (uint64_t i = 0; i < n; i += 2) {
      const double r = std::sqrt(-2.0 * std::log(rng.uniform()));
      const double a = two_pi * rng.uniform();
      out[i] = float(mean + std * r * std::cos(a));
      if (i + 1 < n) out[i + 1] = float(mean + std * r * std::sin(a));
    }
    return out;
  }

  std::string describe() const override { return "seeded(seed=" + std::to_string(seed_) + ")"; }

private:
  uint64_t seed_;
};

}  // namespace

std::unique_ptr<weight_source> seeded_weight_source(uint64_t seed) { return std::make_unique<seeded_source>(seed); }

uint64_t element_count(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw model_error("negative dimension in shape " + shape_string(shape));
    n *= uint64_t(d);
  }
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace tessera::model
