// The shard maker actor: cuts a plan's stage shards (make_stage_shards) and
// then deletes cached cuts no longer needed (remove_old_cuts), answering the
// planner with shards_ready. Blocking file I/O: the planner spawns it detached
// and linked, and keeps serving routes while a cut runs.
#include <spdlog/spdlog.h>

#include "actors/messages.hpp"
#include "actors/shard_maker.hpp"
#include "actors/spawn.hpp"

namespace tessera::actors {

stage_shard to_stage_shard(const assign_shard& a, const std::string& cut) {
  stage_shard s;
  s.id = a.shard_id;
  s.cut = cut;
  s.layer_begin = static_cast<int>(a.layer_begin);
  s.layer_end = static_cast<int>(a.layer_end);
  s.head = a.head;
  for (auto& f : a.files)
    s.files.push_back({f.name, f.url, f.sha256, f.bytes});
  return s;
}

assign_shard to_assign(const stage_shard& s, uint32_t plan_version, bool standby) {
  assign_shard a{s.id, static_cast<uint32_t>(s.layer_begin), static_cast<uint32_t>(s.layer_end), s.head, {},
                 plan_version, standby};
  for (auto& f : s.files)
    a.files.push_back({f.name, f.url, f.sha256, f.bytes});
  return a;
}

shard_maker_hdl::behavior_type shard_maker(shard_maker_hdl::pointer, std::string model_dir, std::string shard_dir,
                                           uint64_t budget_bytes, std::shared_ptr<shard_registry> registry) {
  return {
      [=](cut_shards& c) -> shards_ready {
        shards_ready out;
        std::vector<std::pair<int, int>> ranges;
        for (size_t i = 0; i + 1 < c.bounds.size(); ++i)
          ranges.emplace_back(static_cast<int>(c.bounds[i]), static_cast<int>(c.bounds[i + 1]));
        try {
          for (auto& s : make_stage_shards(model_dir, shard_dir, ranges, *registry)) {
            out.cut = s.cut;
            out.stages.push_back(to_assign(s, 0, false));
          }
        } catch (const std::exception& e) {
          out.error = e.what();
          out.stages.clear();
          return out;
        }
        c.keep.push_back(out.cut);
        try {
          remove_old_cuts(model_dir, shard_dir, c.keep, budget_bytes, *registry);
        } catch (const std::exception& e) {
          spdlog::warn("shard cuts: cleanup failed: {}", e.what());  // the cut itself is fine
        }
        return out;
      },
  };
}

}  // namespace tessera::actors
