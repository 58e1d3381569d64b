// The orchestrator's prefix cache index: which token prefixes have KV kept on
// which stage of which worker. Pure (no CAF, no I/O); the prefix cache actor
// owns one and the request actors ask it.
//
// A block hash chain: a sequence's tokens are cut into blocks of
// `block_tokens`; block k's hash chains the hash of blocks [0, k) with its own
// tokens, starting from a hash of the salt (so prefixes of two salts never
// meet). Per stage (worker, shard, load epoch: a worker that loads another
// shard holds none of its old KV), each chain hash maps to the sequences that
// hold at least those blocks there. The usable prefix of a request on a route
// is the minimum over the route's stages of the longest prefix each holds; each
// stage then forks from its own source sequence. Matches are verified token by
// token, so a hash collision costs a miss, never a wrong answer.
//
// Fills in flight: a request that will compute a prefix the index lacks
// registers it (begin_fill); a request arriving meanwhile that shares more of
// that prefix than the index holds is told to wait for it (wait_for) instead of
// computing the same blocks twice.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessera::actors {

// One stage of a route, as far as its KV is concerned.
struct cache_stage {
  uint64_t worker_id = 0;
  std::string shard_id;
  uint32_t load_epoch = 0;
  bool operator==(const cache_stage& o) const {
    return worker_id == o.worker_id && shard_id == o.shard_id && load_epoch == o.load_epoch;
  }
  bool operator<(const cache_stage& o) const;
};

// The answer to a lookup: fork `positions` KV positions on every stage, stage
// i from sequence `sources[i]` (empty when positions is 0); or, when
// `wait_for` is set, wait for that request's fill and ask again.
struct prefix_match {
  uint32_t positions = 0;
  std::vector<uint64_t> sources;
  std::optional<uint64_t> wait_for;
};

// A prefix the index lost (its worker left, or its stage changed), kept for a
// rebuild on the new plan: the hottest by hits x length first, the most
// recently used first among equals.
struct lost_prefix {
  std::string salt;
  std::vector<int64_t> tokens;
  uint64_t score = 0;      // hits x length
  uint64_t last_used = 0;  // the index's use clock: larger is more recent
};

// Lost prefixes nested in a longer one of the same salt (a chat's earlier
// turns inside its latest) fold into it: rebuilding the longest serves every
// shorter one, so it carries their scores summed and the latest use. Returns
// the rest sorted hottest first (score, then recency, then length).
std::vector<lost_prefix> fold_lost_prefixes(std::vector<lost_prefix> lost);

struct prefix_index_stats {
  uint64_t entries = 0;
  uint64_t lookups = 0;
  uint64_t hits = 0;             // lookups that forked at least one block
  uint64_t cached_tokens = 0;    // positions forked instead of computed, summed over hits
  uint64_t waits = 0;            // lookups told to wait for a fill in flight
};

// Per worker: what the index holds there and how its lookups went.
struct prefix_worker_stats {
  uint64_t entries = 0;
  uint64_t lookups = 0;
  uint64_t hits = 0;
};

// The KV budget a worker gets with a stage (Assign.kv_budget): its memory less
// the stage's files and the planner's scratch, capped by [cache] kv_budget
// (`cap`, 0: none); at least 1 byte (0 on the wire would mean "decide yourself").
uint64_t stage_kv_budget(uint64_t memory_bytes, uint64_t files_bytes, uint64_t scratch_bytes, uint64_t cap);

class prefix_index {
public:
  // block_tokens >= 1 (throws std::invalid_argument naming the value otherwise).
  explicit prefix_index(uint32_t block_tokens);

  uint32_t block_tokens() const { return block_; }

  // The longest usable prefix of `tokens` on `stages`, at most `max_positions`
  // long, in whole blocks. Counts the lookup (and its hit) in the stats.
  // `may_wait` false: never answers wait_for (a request that waited long enough).
  prefix_match lookup(const std::string& salt, const std::vector<int64_t>& tokens,
                      const std::vector<cache_stage>& stages, uint32_t max_positions, bool may_wait = true);

  // Sequence `seq` holds KV for `tokens` (every position) on every stage of
  // `stages`. Replaces what the index knew of `seq`; ends its fill, if any.
  void insert(uint64_t seq, const std::string& salt, std::vector<int64_t> tokens,
              const std::vector<cache_stage>& stages);

  // Request `seq` will compute `tokens` on `stages`; others may wait for it.
  void begin_fill(uint64_t seq, const std::string& salt, std::vector<int64_t> tokens,
                  const std::vector<cache_stage>& stages);
  // The fill of `seq` ended without an insert (the request failed).
  void end_fill(uint64_t seq);

  // `seq` is gone everywhere (its request released it without keeping it).
  void erase(uint64_t seq);
  // `seq` is gone from one worker (evicted there, or a fork of it missed).
  void erase_on_worker(uint64_t seq, uint64_t worker_id);
  // A worker left: every entry on it goes; the prefixes lost are returned.
  std::vector<lost_prefix> drop_worker(uint64_t worker_id);
  // Only `serving` stages remain valid (a re-plan moved layers or shards):
  // entries on any other stage go; the prefixes lost are returned.
  std::vector<lost_prefix> keep_only(const std::vector<cache_stage>& serving);

  prefix_index_stats stats() const;
  std::map<uint64_t, prefix_worker_stats> worker_stats() const;
  // The sequences the index holds on a stage (tests, status).
  std::vector<uint64_t> sequences_on(const cache_stage& stage) const;

private:
  struct entry {
    std::string salt;
    std::vector<int64_t> tokens;
    std::vector<uint64_t> chain;  // chain[k]: hash of blocks [0, k + 1)
    std::set<cache_stage> stages;
    uint64_t hits = 0;
    uint64_t last_used = 0;
  };
  struct fill {
    std::string salt;
    std::vector<int64_t> tokens;
    std::vector<cache_stage> stages;
  };
  std::vector<uint64_t> chain_of(const std::string& salt, const std::vector<int64_t>& tokens) const;
  void unlink(uint64_t seq, const entry& e, const cache_stage& stage);
  // Longest prefix of `tokens` (in blocks) held on `stage`, and the most recently used sequence holding it.
  std::pair<uint32_t, uint64_t> best_on(const cache_stage& stage, const std::vector<int64_t>& tokens,
                                        const std::vector<uint64_t>& chain, uint32_t max_blocks) const;
  std::vector<lost_prefix> drop_if(bool (*pred)(const cache_stage&, const void*), const void* arg);

  uint32_t block_;
  uint64_t clock_ = 0;
  std::map<uint64_t, entry> entries_;
  std::map<cache_stage, std::unordered_map<uint64_t, std::set<uint64_t>>> by_stage_;
  std::map<uint64_t, fill> fills_;
  prefix_index_stats stats_;
  std::map<uint64_t, prefix_worker_stats> worker_lookups_;
};

}  // namespace tessera::actors
