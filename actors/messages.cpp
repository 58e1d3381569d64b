#include "actors/messages.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/make_message.hpp>

namespace tessera::actors {

std::string to_string(errc x) {
  switch (x) {
    case errc::none: return "none";
    case errc::protocol_mismatch: return "protocol_mismatch";
    case errc::malformed_frame: return "malformed_frame";
    case errc::socket_closed: return "socket_closed";
    case errc::heartbeat_timeout: return "heartbeat_timeout";
    case errc::worker_error: return "worker_error";
    case errc::no_capacity: return "no_capacity";
    case errc::timeout: return "timeout";
    case errc::prompt_too_long: return "prompt_too_long";
    case errc::bad_request: return "bad_request";
    case errc::rate_limit_exceeded: return "rate_limit_exceeded";
    case errc::shutdown: return "shutdown";
    case errc::evicted: return "evicted";
  }
  return "unknown";
}

caf::error make_error(errc x, std::string context) {
  if (context.empty())
    return caf::error(static_cast<uint8_t>(x), caf::atom("tessera"));
  return caf::error(static_cast<uint8_t>(x), caf::atom("tessera"),
                    caf::make_message(std::move(context)));
}

std::optional<std::string> error_context(const caf::error& e, errc x) {
  // (CAF 0.17's category() reads through a null pointer on a default error)
  if (!e || e.category() != caf::atom("tessera") || e.code() != static_cast<uint8_t>(x) ||
      !e.context().match_elements<std::string>())
    return std::nullopt;
  return e.context().get_as<std::string>(0);
}

namespace {

struct type_list_registrar {
  caf::actor_system_config* cfg;
  std::vector<std::string>* names;
  template <class T>
  void add(const char* name) {
    if (cfg)
      cfg->add_message_type<T>(name);
    if (names)
      names->emplace_back(name);
  }
};

void for_each_type(type_list_registrar r) {
  r.add<tensor_blob>("tessera::tensor_blob");
  r.add<sampling_params>("tessera::sampling_params");
  r.add<route_hop>("tessera::route_hop");
  r.add<route>("tessera::route");
  r.add<stage_step>("tessera::stage_step");
  r.add<step_result>("tessera::step_result");
  r.add<step_failed>("tessera::step_failed");
  r.add<relayed_input>("tessera::relayed_input");
  r.add<release_sequence>("tessera::release_sequence");
  r.add<cache_lookup>("tessera::cache_lookup");
  r.add<cache_match>("tessera::cache_match");
  r.add<cache_insert>("tessera::cache_insert");
  r.add<cache_forget>("tessera::cache_forget");
  r.add<ws_frame>("tessera::ws_frame");
  r.add<ws_closed>("tessera::ws_closed");
  r.add<worker_info>("tessera::worker_info");
  r.add<worker_joined>("tessera::worker_joined");
  r.add<shard_file_ref>("tessera::shard_file_ref");
  r.add<assign_shard>("tessera::assign_shard");
  r.add<shard_loaded>("tessera::shard_loaded");
  r.add<route_reply>("tessera::route_reply");
  r.add<plan_changed>("tessera::plan_changed");
  r.add<kv_summary>("tessera::kv_summary");
  r.add<plan_pause>("tessera::plan_pause");
  r.add<plan_parked>("tessera::plan_parked");
  r.add<stage_news>("tessera::stage_news");
  r.add<plan_news>("tessera::plan_news");
  r.add<token_event>("tessera::token_event");
  r.add<status_event>("tessera::status_event");
  r.add<request_timings>("tessera::request_timings");
  r.add<done_event>("tessera::done_event");
  r.add<error_event>("tessera::error_event");
  r.add<cut_shards>("tessera::cut_shards");
  r.add<shards_ready>("tessera::shards_ready");
  // A handle as a message element of its own: a pooled node's requests
  // subscribe to the leader's planner on another node (subscribe_atom, request_hdl).
  r.add<request_hdl>("tessera::request_hdl");
}

}  // namespace

void register_message_types(caf::actor_system_config& cfg) {
  for_each_type({&cfg, nullptr});
  cfg.add_error_category(caf::atom("tessera"), [](uint8_t code, caf::atom_value, const caf::message& ctx) {
    std::string out = "tessera: " + to_string(static_cast<errc>(code));
    if (ctx.match_elements<std::string>())
      out += " (" + ctx.get_as<std::string>(0) + ")";
    return out;
  });
}

const std::vector<std::string>& registered_message_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for_each_type({nullptr, &out});
    return out;
  }();
  return names;
}

}  // namespace tessera::actors
