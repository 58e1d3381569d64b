// The client actor: proxy of one /ws/generate socket and the only actor that
// writes to it. Parses each request frame (client_protocol), answers bad input
// with an error frame (the socket stays usable), runs the socket's requests
// one after another, each in its own request actor, and writes their events.
// A frame past inline_tokenize_bytes is parsed by its request actor on a
// thread of its own (so its error comes when its turn to run comes).
#include <atomic>
#include <deque>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/client_protocol.hpp"
#include "actors/spawn.hpp"

namespace tessera::actors {

namespace {

std::atomic<uint64_t> next_request_id{1};

struct client_state {
  net::ws_connection_ptr conn;
  planner_hdl planner;
  std::shared_ptr<const model::tokenizer> tok;
  request_options opts;
  // Parsed requests, or (frame non-empty) frames too large to parse here.
  struct queued {
    generate_params params;
    std::string frame;
  };
  std::deque<queued> queue;
  request_hdl running;
  static inline const char* name = "tessera.client";
};

using client_actor = client_hdl::stateful_base<client_state>;

void start_next(client_actor* self) {
  auto& st = self->state;
  if (st.running || st.queue.empty())
    return;
  auto next = std::move(st.queue.front());
  st.queue.pop_front();
  if (!next.frame.empty())
    st.running = spawn_request_actor_for_frame(self->home_system(), self, new_request_id(), std::move(next.frame),
                                               st.planner, st.tok, st.opts);
  else
    st.running = spawn_request_actor(self->home_system(), self, new_request_id(), std::move(next.params), st.planner,
                                     st.tok, st.opts);
  self->monitor(st.running);
}

client_hdl::behavior_type client_behavior(client_actor* self, net::ws_connection_ptr conn, planner_hdl planner,
                                          std::shared_ptr<const model::tokenizer> tok, request_options opts) {
  auto& st = self->state;
  st.conn = std::move(conn);
  st.planner = std::move(planner);
  st.tok = std::move(tok);
  st.opts = opts;
  self->set_down_handler([=](caf::down_msg& d) {
    if (d.source == self->state.running.address()) {
      self->state.running = nullptr;
      start_next(self);
    }
  });
  auto write = [=](const std::string& frame) { self->state.conn->send_text(frame); };
  return {
      [=](ws_frame& f) {
        auto& st = self->state;
        if (f.binary)
          return write(encode(error_event{"binary frames are not accepted on /ws/generate", "bad_request"}));
        if (f.payload.size() > inline_tokenize_bytes) {  // parsed by its request actor, off this thread
          st.queue.push_back({{}, std::move(f.payload)});
          return start_next(self);
        }
        try {
          st.queue.push_back({parse_generate_request(f.payload, st.opts.config.max_tokens_default,
                                                     request_limits_of(st.opts.config)),
                              {}});
        } catch (const std::invalid_argument& e) {
          return write(encode(error_event{e.what(), "bad_request"}));
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
      [=](const token_event& e) { write(encode(e)); },
      [=](const status_event& e) { write(encode(e)); },
      [=](const done_event& e) { write(encode(e)); },
      [=](const error_event& e) { write(encode(e)); },
  };
}

}  // namespace

uint64_t new_request_id() { return next_request_id.fetch_add(1); }

void set_request_id_base(uint64_t base) { next_request_id.store(base + 1); }

client_hdl spawn_client_actor(caf::actor_system& sys, net::ws_connection_ptr conn, planner_hdl planner,
                              std::shared_ptr<const model::tokenizer> tok, request_options opts) {
  return sys.spawn(client_behavior, std::move(conn), std::move(planner), std::move(tok), opts);
}

}  // namespace tessera::actors
