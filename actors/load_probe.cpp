#include "actors/load_probe.hpp"

#include <cstring>
#include <random>
#include <sstream>

#include "actors/backend_tolerance.hpp"
#include "actors/node_config.hpp"
#include "actors/spot_check.hpp"

namespace tessera::actors {

namespace {

// splitmix64: a small, well-mixed PRNG whose sequence is fixed by its seed.
struct splitmix {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1), from the top 24 bits (exact in float32).
  float symmetric() { return static_cast<float>(next() >> 40) / static_cast<float>(1 << 23) - 1.0f; }
};

// FNV-1a of a name, so that each tensor of a stage draws its own values.
uint64_t name_hash(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s)
    h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

std::string number_text(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

std::string ids_text(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i)
    out += (i ? "," : "") + std::to_string(ids[i]);
  return out + "}";
}

struct comparison {
  bool agree = false;
  double difference = 0;
  // What differs, naming the reference: "differs from REF by X (tolerance T)".
  std::function<std::string(const std::string&)> differs;
};

comparison compare(const probe_answer& got, const probe_answer& want, uint32_t positions, double tolerance) {
  comparison c;
  if (!want.token_ids.empty() || !got.token_ids.empty()) {
    c.agree = got.token_ids == want.token_ids && got.tensors.empty() && want.tensors.empty();
    c.difference = c.agree ? 0 : 1;
    c.differs = [g = ids_text(got.token_ids), w = ids_text(want.token_ids)](const std::string& ref) {
      return "answers token ids " + g + " where " + ref + " has " + w;
    };
    return c;
  }
  auto o = compare_hidden(got.tensors, want.tensors, positions, tolerance);
  c.agree = o.agree;
  c.difference = o.difference;
  c.differs = [d = o.difference, tolerance](const std::string& ref) {
    return "differs from " + ref + " by " + number_text(d) + " (tolerance " + number_text(tolerance) + ")";
  };
  return c;
}

std::string who(const probe_answer& a) { return "worker " + std::to_string(a.worker_id) + " (" + a.worker_name + ")"; }

}  // namespace

std::optional<probe_input> make_probe_input(const stage_contract& c, uint64_t seed, uint32_t positions,
                                            std::string& error) {
  probe_input in;
  in.positions = positions;
  if (c.inputs.empty()) {
    if (c.vocab_size == 0) {
      error = "stage " + c.shard_id + " takes token ids but its vocabulary size is 0";
      return std::nullopt;
    }
    splitmix rng{seed ^ name_hash("input_ids")};
    for (uint32_t i = 0; i < positions; ++i)
      in.token_ids.push_back(static_cast<int64_t>(rng.next() % c.vocab_size));
    return in;
  }
  for (const auto& e : c.inputs) {
    tensor_blob t;
    t.name = e.name;
    t.dtype = 1;  // float32
    uint64_t count = 1;
    for (const auto& d : e.dims) {
      int64_t n = d.what == expected_dim::kind::batch ? 1
                  : d.what == expected_dim::kind::sequence ? static_cast<int64_t>(positions)
                                                           : d.size;
      if (n <= 0 || n > (1 << 20)) {
        error = "input " + e.name + " has a dimension of " + std::to_string(n) + " the probe cannot fill";
        return std::nullopt;
      }
      t.shape.push_back(n);
      count *= static_cast<uint64_t>(n);
    }
    if (count > (uint64_t{1} << 26)) {
      error = "input " + e.name + " holds " + std::to_string(count) + " values (too many for a probe)";
      return std::nullopt;
    }
    splitmix rng{seed ^ name_hash(e.name)};
    std::vector<float> values(count);
    for (auto& v : values)
      v = rng.symmetric();
    t.data.resize(count * sizeof(float));
    std::memcpy(t.data.data(), values.data(), t.data.size());
    in.tensors.push_back(std::move(t));
  }
  return in;
}

load_probe_cache::load_probe_cache(uint64_t seed, uint32_t positions, tolerance_fn tolerance)
    : seed_(seed), positions_(positions), tolerance_(std::move(tolerance)) {}

probe_verdict load_probe_cache::judge(const std::string& shard_id, const std::string& layers, probe_answer answer) {
  const std::string key = shard_id + "|" + layers + "|" + std::to_string(seed_);
  const std::string what = "load probe of layers " + layers;
  probe_verdict v;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    v.kind = probe_verdict_kind::provisional;
    v.reason = what + ": first answer, kept unconfirmed";
    entries_[key] = entry{std::move(answer), false};
    return v;
  }
  auto& e = it->second;
  v.tolerance = tolerance_ ? tolerance_(answer.backend, e.answer.backend) : 0;
  auto c = compare(answer, e.answer, positions_, v.tolerance);
  v.difference = c.difference;
  v.holder_id = e.answer.worker_id;
  v.holder_name = e.answer.worker_name;
  bool same_worker = e.answer.worker_id == answer.worker_id;
  if (e.confirmed || same_worker) {
    auto ref = same_worker ? std::string("its own earlier answer") : "the confirmed answer of " + who(e.answer);
    v.kind = c.agree ? probe_verdict_kind::agrees : probe_verdict_kind::newcomer_guilty;
    v.reason = c.agree ? what + " agrees with " + ref : what + " " + c.differs(ref);
    return v;
  }
  if (c.agree) {
    v.kind = probe_verdict_kind::confirms;
    v.reason = what + " agrees with " + who(e.answer) + "'s unconfirmed answer: confirmed";
    e.confirmed = true;
    return v;
  }
  // Two holders disagree and neither answer was confirmed: the earlier holder,
  // whose answer was taken on trust, is guilty (as a serving worker is against
  // a standby's re-run); the newcomer's answer is kept, unconfirmed.
  v.kind = probe_verdict_kind::holder_guilty;
  v.reason = what + ": its answer " + c.differs("a second holder's, " + who(answer) + ",");
  v.evict_holder = std::move(e.answer.evict);
  e = entry{std::move(answer), false};
  return v;
}

void load_probe_cache::left(uint64_t worker_id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, e] : entries_)
    if (e.answer.worker_id == worker_id)
      e.answer.evict = nullptr;
}

size_t load_probe_cache::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

std::shared_ptr<load_probe_cache> make_load_probe_cache(const node_config& cfg) {
  std::random_device rd;
  uint64_t seed = (uint64_t{rd()} << 32) ^ rd();
  auto table = tolerances_of(cfg);
  return std::make_shared<load_probe_cache>(
      seed, kLoadProbePositions, [table](const std::string& a, const std::string& b) { return table.of(a, b); });
}

}  // namespace tessera::actors
