// The client actor: proxy of one /ws/generate socket. Parses each JSON request,
// answers bad input with {"error"} (the socket stays usable) and runs the
// socket's requests one after another, each in its own request actor.
#include <atomic>
#include <deque>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/spawn.hpp"

namespace tessera::actors {

namespace {

using json = nlohmann::json;

std::atomic<uint64_t> next_request_id{1};

struct client_state {
  net::ws_connection_ptr conn;
  planner_hdl planner;
  std::shared_ptr<const model::tokenizer> tok;
  request_options opts;
  uint32_t max_tokens_default = 64;
  std::deque<generate_params> queue;
  request_hdl running;
  static inline const char* name = "tessera.client";
};

using client_actor = client_hdl::stateful_base<client_state>;

// Throws std::invalid_argument naming the bad field.
generate_params parse_request(const std::string& text, uint32_t max_tokens_default) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw std::invalid_argument(std::string("malformed JSON: ") + e.what());
  }
  if (!j.is_object())
    throw std::invalid_argument("request must be a JSON object");
  generate_params p;
  p.max_tokens = max_tokens_default;
  auto number = [&](const std::string& key, double lo, double hi) {
    const auto& v = j[key];
    if (!v.is_number())
      throw std::invalid_argument("field '" + key + "' must be a number");
    double x = v.get<double>();
    if (x < lo || x > hi)
      throw std::invalid_argument("field '" + key + "' = " + v.dump() + " is outside [" +
                                  json(lo).dump() + ", " + json(hi).dump() + "]");
    return x;
  };
  for (auto& [key, value] : j.items()) {
    if (key == "prompt") {
      if (!value.is_string())
        throw std::invalid_argument("field 'prompt' must be a string");
      p.prompt = value.get<std::string>();
    } else if (key == "prompt_ids") {
      if (!value.is_array())
        throw std::invalid_argument("field 'prompt_ids' must be an array of token ids");
      for (auto& id : value) {
        if (!id.is_number_integer())
          throw std::invalid_argument("field 'prompt_ids' holds a non-integer: " + id.dump());
        p.prompt_ids.push_back(id.get<int64_t>());
      }
    } else if (key == "max_tokens") {
      if (!value.is_number_integer())
        throw std::invalid_argument("field 'max_tokens' must be an integer");
      p.max_tokens = static_cast<uint32_t>(number(key, 1, 1 << 20));
    } else if (key == "temperature") {
      p.temperature = static_cast<float>(number(key, 0, 100));
    } else if (key == "top_k") {
      if (!value.is_number_integer())
        throw std::invalid_argument("field 'top_k' must be an integer");
      p.top_k = static_cast<int64_t>(number(key, 0, 1e9));
    } else if (key == "top_p") {
      p.top_p = static_cast<float>(number(key, 0, 1));
      if (p.top_p <= 0)
        throw std::invalid_argument("field 'top_p' must be > 0");
    } else if (key == "seed") {
      if (!value.is_number_integer())
        throw std::invalid_argument("field 'seed' must be an integer");
      p.seed = value.get<uint64_t>();
    } else if (key == "stop") {
      if (value.is_string())
        p.stop.push_back(value.get<std::string>());
      else if (value.is_array()) {
        for (auto& s : value) {
          if (!s.is_string())
            throw std::invalid_argument("field 'stop' holds a non-string: " + s.dump());
          p.stop.push_back(s.get<std::string>());
        }
      } else
        throw std::invalid_argument("field 'stop' must be a string or an array of strings");
    } else {
      throw std::invalid_argument("unknown field '" + key + "'");
    }
  }
  if (!j.contains("prompt") && !j.contains("prompt_ids"))
    throw std::invalid_argument("missing field 'prompt' (or 'prompt_ids')");
  return p;
}

void start_next(client_actor* self) {
  auto& st = self->state;
  if (st.running || st.queue.empty())
    return;
  auto params = std::move(st.queue.front());
  st.queue.pop_front();
  auto id = next_request_id.fetch_add(1);
  st.running = spawn_request_actor(self->home_system(), st.conn, id, std::move(params), st.planner, st.tok,
                                   st.opts);
  self->monitor(st.running);
}

client_hdl::behavior_type client_behavior(client_actor* self, net::ws_connection_ptr conn, planner_hdl planner,
                              std::shared_ptr<const model::tokenizer> tok, request_options opts,
                              uint32_t max_tokens_default) {
  auto& st = self->state;
  st.conn = std::move(conn);
  st.planner = std::move(planner);
  st.tok = std::move(tok);
  st.opts = opts;
  st.max_tokens_default = max_tokens_default;
  self->set_down_handler([=](caf::down_msg& d) {
    if (d.source == self->state.running.address()) {
      self->state.running = nullptr;
      start_next(self);
    }
  });
  return {
      [=](ws_frame& f) {
        auto& st = self->state;
        if (f.binary) {
          st.conn->send_text(json{{"error", "binary frames are not accepted on /ws/generate"}, {"code", "bad_request"}}.dump());
          return;
        }
        try {
          st.queue.push_back(parse_request(f.payload, st.max_tokens_default));
        } catch (const std::invalid_argument& e) {
          st.conn->send_text(json{{"error", e.what()}, {"code", "bad_request"}}.dump());
          return;
        }
        start_next(self);
      },
      [=](ws_closed&) {
        auto& st = self->state;
        st.queue.clear();
        if (st.running)
          self->send_exit(st.running, make_error(errc::socket_closed, "client went away"));
        self->quit();
      },
  };
}

}  // namespace

client_hdl spawn_client_actor(caf::actor_system& sys, net::ws_connection_ptr conn, planner_hdl planner,
                              std::shared_ptr<const model::tokenizer> tok, request_options opts,
                              uint32_t max_tokens_default) {
  return sys.spawn(client_behavior, std::move(conn), std::move(planner), std::move(tok), opts,
                   max_tokens_default);
}

}  // namespace tessera::actors
