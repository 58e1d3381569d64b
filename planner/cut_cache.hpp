// Which cached shard cuts to delete. Every distinct plan cuts the model into a
// directory of stage shards (actors/shard_maker); the cuts that serve, load or
// stand by must stay, and the others are kept, most recently used first, while
// everything kept fits a disk budget. Pure: the caller lists the cuts and
// deletes what this returns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::planner {

struct cached_cut {
  std::string key;         // the cut's directory name (unique)
  uint64_t bytes = 0;      // on disk
  int64_t last_used = 0;   // larger is more recent (any clock, e.g. seconds since the epoch)
};

// The keys of `on_disk` to delete. Cuts named in `in_use` are kept whatever
// their size. The others, most recently used first (equal times: by key), are
// kept while the bytes of all kept cuts (in use included) stay within
// `budget_bytes`; the first that does not fit and every older one are deleted,
// so a cut never outlives a more recently used one. Returned sorted by key.
std::vector<std::string> cuts_to_delete(const std::vector<cached_cut>& on_disk, const std::vector<std::string>& in_use,
                                        uint64_t budget_bytes);

}  // namespace tessera::planner
