#include "actors/prefix_index.hpp"

#include <algorithm>
#include <stdexcept>
#include <tuple>

namespace tessera::actors {

namespace {

uint64_t mix(uint64_t h, uint64_t v) {
  // SplitMix64 finaliser over the running hash and the next value.
  uint64_t z = h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool same_prefix(const std::vector<int64_t>& a, const std::vector<int64_t>& b, size_t n) {
  return a.size() >= n && b.size() >= n && std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(n), b.begin());
}

size_t common_prefix(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i])
    ++i;
  return i;
}

}  // namespace

uint64_t stage_kv_budget(uint64_t memory_bytes, uint64_t files_bytes, uint64_t scratch_bytes, uint64_t cap) {
  uint64_t used = files_bytes + scratch_bytes;
  uint64_t budget = memory_bytes > used ? memory_bytes - used : 1;
  if (cap != 0)
    budget = std::min(budget, cap);
  return std::max<uint64_t>(budget, 1);
}

bool cache_stage::operator<(const cache_stage& o) const {
  return std::tie(worker_id, shard_id, load_epoch) < std::tie(o.worker_id, o.shard_id, o.load_epoch);
}

prefix_index::prefix_index(uint32_t block_tokens) : block_(block_tokens) {
  if (block_tokens == 0)
    throw std::invalid_argument("prefix cache block size 0: must be at least 1 token");
}

std::vector<uint64_t> prefix_index::chain_of(const std::string& salt, const std::vector<int64_t>& tokens) const {
  uint64_t h = 0x6a09e667f3bcc908ull;
  for (unsigned char c : salt)
    h = mix(h, c);
  h = mix(h, salt.size());
  std::vector<uint64_t> out;
  out.reserve(tokens.size() / block_);
  for (size_t k = 0; (k + 1) * block_ <= tokens.size(); ++k) {
    for (size_t i = k * block_; i < (k + 1) * block_; ++i)
      h = mix(h, static_cast<uint64_t>(tokens[i]));
    out.push_back(h);
  }
  return out;
}

std::pair<uint32_t, uint64_t> prefix_index::best_on(const cache_stage& stage, const std::vector<int64_t>& tokens,
                                                    const std::vector<uint64_t>& chain, uint32_t max_blocks) const {
  auto it = by_stage_.find(stage);
  if (it == by_stage_.end())
    return {0, 0};
  const auto& blocks = it->second;
  uint32_t found = 0;
  while (found < max_blocks && found < chain.size() && blocks.count(chain[found]))
    ++found;
  // The most recently used holder whose tokens really match (a hash collision
  // only shortens the match).
  for (uint32_t n = found; n > 0; --n) {
    auto b = blocks.find(chain[n - 1]);
    if (b == blocks.end())
      continue;
    uint64_t best = 0, best_used = 0;
    for (auto seq : b->second) {
      const auto& e = entries_.at(seq);
      if (e.last_used >= best_used && same_prefix(e.tokens, tokens, size_t{n} * block_)) {
        best = seq;
        best_used = e.last_used;
      }
    }
    if (best != 0)
      return {n, best};
  }
  return {0, 0};
}

prefix_match prefix_index::lookup(const std::string& salt, const std::vector<int64_t>& tokens,
                                  const std::vector<cache_stage>& stages, uint32_t max_positions, bool may_wait) {
  prefix_match m;
  auto max_blocks = static_cast<uint32_t>(std::min<size_t>(tokens.size(), max_positions) / block_);
  if (stages.empty())
    return m;
  auto chain = chain_of(salt, std::vector<int64_t>(tokens.begin(), tokens.begin() + std::min<size_t>(tokens.size(), size_t{max_blocks} * block_)));
  uint32_t usable = max_blocks;
  std::vector<uint64_t> sources;
  for (const auto& s : stages) {
    auto [blocks, seq] = best_on(s, tokens, chain, max_blocks);
    usable = std::min(usable, blocks);
    sources.push_back(seq);
  }
  // A fill in flight on the same route that will hold more of this prefix: wait for it.
  uint32_t fill_blocks = usable;
  for (const auto& [id, f] : fills_) {
    if (!may_wait)
      break;
    if (f.salt != salt || f.stages != stages)
      continue;
    auto common = static_cast<uint32_t>(std::min<size_t>(common_prefix(f.tokens, tokens), max_positions) / block_);
    if (common > fill_blocks) {
      fill_blocks = common;
      m.wait_for = id;
    }
  }
  if (m.wait_for) {
    ++stats_.waits;
    return m;
  }
  ++stats_.lookups;
  for (const auto& s : stages)
    ++worker_lookups_[s.worker_id].lookups;
  if (usable == 0)
    return m;
  m.positions = usable * block_;
  m.sources = std::move(sources);
  ++stats_.hits;
  stats_.cached_tokens += m.positions;
  ++clock_;
  for (const auto& s : stages)
    ++worker_lookups_[s.worker_id].hits;
  for (auto seq : std::set<uint64_t>(m.sources.begin(), m.sources.end())) {
    auto& e = entries_.at(seq);
    ++e.hits;
    e.last_used = clock_;
  }
  return m;
}

void prefix_index::unlink(uint64_t seq, const entry& e, const cache_stage& stage) {
  auto it = by_stage_.find(stage);
  if (it == by_stage_.end())
    return;
  for (auto h : e.chain) {
    auto b = it->second.find(h);
    if (b == it->second.end())
      continue;
    b->second.erase(seq);
    if (b->second.empty())
      it->second.erase(b);
  }
  if (it->second.empty())
    by_stage_.erase(it);
}

void prefix_index::insert(uint64_t seq, const std::string& salt, std::vector<int64_t> tokens,
                          const std::vector<cache_stage>& stages) {
  fills_.erase(seq);
  uint64_t hits = 0;
  if (auto old = entries_.find(seq); old != entries_.end()) {
    hits = old->second.hits;
    for (const auto& s : old->second.stages)
      unlink(seq, old->second, s);
    entries_.erase(old);
  }
  entry e;
  e.salt = salt;
  e.chain = chain_of(salt, tokens);
  e.tokens = std::move(tokens);
  e.hits = hits;
  e.last_used = ++clock_;
  if (e.chain.empty() || stages.empty())
    return;  // less than a block: nothing to share
  for (const auto& s : stages) {
    e.stages.insert(s);
    auto& blocks = by_stage_[s];
    for (auto h : e.chain)
      blocks[h].insert(seq);
  }
  entries_.emplace(seq, std::move(e));
}

void prefix_index::begin_fill(uint64_t seq, const std::string& salt, std::vector<int64_t> tokens,
                              const std::vector<cache_stage>& stages) {
  fills_[seq] = fill{salt, std::move(tokens), stages};
}

void prefix_index::end_fill(uint64_t seq) { fills_.erase(seq); }

void prefix_index::erase(uint64_t seq) {
  fills_.erase(seq);
  auto it = entries_.find(seq);
  if (it == entries_.end())
    return;
  for (const auto& s : it->second.stages)
    unlink(seq, it->second, s);
  entries_.erase(it);
}

void prefix_index::erase_on_worker(uint64_t seq, uint64_t worker_id) {
  auto it = entries_.find(seq);
  if (it == entries_.end())
    return;
  auto& e = it->second;
  for (auto s = e.stages.begin(); s != e.stages.end();) {
    if (s->worker_id == worker_id) {
      unlink(seq, e, *s);
      s = e.stages.erase(s);
    } else {
      ++s;
    }
  }
  if (e.stages.empty())
    entries_.erase(it);
}

std::vector<lost_prefix> prefix_index::drop_if(bool (*pred)(const cache_stage&, const void*), const void* arg) {
  std::vector<lost_prefix> lost;
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto& e = it->second;
    bool lost_one = false;
    for (auto s = e.stages.begin(); s != e.stages.end();) {
      if (pred(*s, arg)) {
        unlink(it->first, e, *s);
        s = e.stages.erase(s);
        lost_one = true;
      } else {
        ++s;
      }
    }
    if (lost_one)
      lost.push_back({e.salt, e.tokens, e.hits * e.tokens.size(), e.last_used});
    it = e.stages.empty() ? entries_.erase(it) : std::next(it);
  }
  for (auto f = fills_.begin(); f != fills_.end();) {
    bool gone = std::any_of(f->second.stages.begin(), f->second.stages.end(),
                            [&](const cache_stage& s) { return pred(s, arg); });
    f = gone ? fills_.erase(f) : std::next(f);
  }
  return fold_lost_prefixes(std::move(lost));
}

std::vector<lost_prefix> fold_lost_prefixes(std::vector<lost_prefix> lost) {
  // longest first, so each prefix meets every longer candidate before it is kept
  std::stable_sort(lost.begin(), lost.end(),
                   [](const lost_prefix& a, const lost_prefix& b) { return a.tokens.size() > b.tokens.size(); });
  std::vector<lost_prefix> kept;
  for (auto& p : lost) {
    auto outer = std::find_if(kept.begin(), kept.end(), [&](const lost_prefix& k) {
      return k.salt == p.salt && std::equal(p.tokens.begin(), p.tokens.end(), k.tokens.begin());
    });
    if (outer == kept.end()) {
      kept.push_back(std::move(p));
      continue;
    }
    outer->score += p.score;
    outer->last_used = std::max(outer->last_used, p.last_used);
  }
  std::stable_sort(kept.begin(), kept.end(), [](const lost_prefix& a, const lost_prefix& b) {
    if (a.score != b.score)
      return a.score > b.score;
    if (a.last_used != b.last_used)
      return a.last_used > b.last_used;
    return a.tokens.size() > b.tokens.size();
  });
  return kept;
}

std::vector<lost_prefix> prefix_index::drop_worker(uint64_t worker_id) {
  return drop_if([](const cache_stage& s, const void* w) { return s.worker_id == *static_cast<const uint64_t*>(w); },
                 &worker_id);
}

std::vector<lost_prefix> prefix_index::keep_only(const std::vector<cache_stage>& serving) {
  return drop_if(
      [](const cache_stage& s, const void* v) {
        const auto& keep = *static_cast<const std::vector<cache_stage>*>(v);
        return std::find(keep.begin(), keep.end(), s) == keep.end();
      },
      &serving);
}

prefix_index_stats prefix_index::stats() const {
  auto s = stats_;
  s.entries = entries_.size();
  return s;
}

std::map<uint64_t, prefix_worker_stats> prefix_index::worker_stats() const {
  auto out = std::map<uint64_t, prefix_worker_stats>{};
  for (const auto& [w, s] : worker_lookups_) {
    out[w].lookups = s.lookups;
    out[w].hits = s.hits;
  }
  for (const auto& [seq, e] : entries_)
    for (const auto& s : e.stages)
      ++out[s.worker_id].entries;
  return out;
}

std::vector<uint64_t> prefix_index::sequences_on(const cache_stage& stage) const {
  std::vector<uint64_t> out;
  for (const auto& [seq, e] : entries_)
    if (e.stages.count(stage))
      out.push_back(seq);
  return out;
}

}  // namespace tessera::actors
