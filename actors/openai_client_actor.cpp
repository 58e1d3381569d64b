// The HTTP client actor: the second client shell over the request events,
// proxy of one OpenAI-style API call (POST /v1/chat/completions or
// /v1/completions) and the only actor that writes its reply. Runs the call's
// n choices one after another, each in its own request actor, and encodes
// their events with openai_protocol: as Server-Sent Events while they come
// (stream) or as one JSON response at the end. A client that hangs up
// (ws_closed from the gateway's on_disconnect) ends the running request at
// once; the request actor then releases its sequence on every worker.
#include <ctime>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/openai_protocol.hpp"
#include "actors/spawn.hpp"
#include "net/access_control.hpp"

namespace tessera::actors {

namespace {

struct openai_state {
  net::api_reply_ptr reply;
  planner_hdl planner;
  std::shared_ptr<const model::tokenizer> tok;
  request_options opts;
  api_request req;
  api_context ctx;
  uint64_t call_id = 0;
  uint32_t choice = 0;           // the choice running (or next to run)
  bool choice_started = false;   // its first delta (the role) went out
  bool ended = false;            // the reply is complete
  std::vector<api_choice> choices;
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  uint64_t cached_tokens = 0;  // of the first choice (the prompt is counted once)
  request_hdl running;
  static inline const char* name = "tessera.openai_client";
};

using openai_actor = client_hdl::stateful_base<openai_state>;

void finish(openai_actor* self) {
  auto& st = self->state;
  st.ended = true;
  if (st.req.stream) {
    if (st.req.include_usage)
      st.reply->write(sse_usage(st.ctx, st.prompt_tokens, st.completion_tokens, st.cached_tokens));
    st.reply->write(sse_done());
    st.reply->end_stream();
  } else {
    st.reply->respond(200, "application/json",
                      encode_api_response(st.ctx, st.choices, st.prompt_tokens, st.completion_tokens, st.cached_tokens));
  }
  self->quit();
}

void start_choice(openai_actor* self) {
  auto& st = self->state;
  auto params = st.req.params;
  if (st.req.n > 1)
    params.seed += st.choice;  // sampled choices differ; greedy ones are equal anyway
  st.choices.push_back({});
  st.choice_started = false;
  if (st.req.stream) {
    st.reply->write(sse_delta(st.ctx, st.choice, "", true));
    st.choice_started = true;
  }
  st.running = spawn_request_actor(self->home_system(), self, new_request_id(), std::move(params),
                                   st.planner, st.tok, st.opts);
  self->monitor(st.running);
}

void add_text(openai_actor* self, const std::string& text) {
  auto& st = self->state;
  if (text.empty())
    return;
  st.choices.back().text += text;
  if (st.req.stream)
    st.reply->write(sse_delta(st.ctx, st.choice, text, !st.choice_started));
}

// The call's first choice starts; the reply follows its events.
void start_call(openai_actor* self, api_request req) {
  auto& st = self->state;
  st.req = std::move(req);
  st.call_id = new_request_id();
  st.ctx.kind = st.req.kind;
  st.ctx.id = (st.req.kind == api_kind::chat ? "chatcmpl-" : "cmpl-") + std::to_string(st.call_id);
  st.ctx.created = static_cast<int64_t>(std::time(nullptr));
  st.ctx.model = st.req.model;
  if (st.req.stream)
    st.reply->start_stream(200, "text/event-stream");
  start_choice(self);
  self->set_down_handler([=](caf::down_msg& d) {
    auto& st = self->state;
    if (d.source != st.running.address() || st.ended)
      return;
    st.running = nullptr;
    if (++st.choice < st.req.n)
      start_choice(self);
    else
      finish(self);
  });
}

client_hdl::behavior_type openai_handlers(openai_actor* self) {
  return {
      [=](ws_frame&) {},  // an HTTP call has no frames
      [=](ws_closed& c) {
        auto& st = self->state;
        spdlog::info("api call {} ended by the client: {}", st.ctx.id, c.reason);
        st.ended = true;
        if (st.running)
          self->send_exit(st.running, make_error(errc::socket_closed, "client went away"));
        self->quit();
      },
      [=](const token_event& e) { add_text(self, e.text); },
      [=](const status_event& e) {
        if (self->state.req.stream && e.state != "running")
          self->state.reply->write(sse_comment(e.state + " — " + e.reason));
      },
      [=](const done_event& e) {
        auto& st = self->state;
        add_text(self, e.text);
        st.choices.back().finish_reason = e.finish_reason;
        if (st.choices.size() == 1)
          st.cached_tokens = e.cached_tokens;
        st.prompt_tokens = e.prompt_tokens;
        st.completion_tokens += e.completion_tokens;
        if (st.req.stream)
          st.reply->write(sse_finish(st.ctx, st.choice, e.finish_reason));
      },
      [=](const error_event& e) {
        auto& st = self->state;
        st.ended = true;
        const int status = http_status_for(e.code);
        api_error err(status, e.message, status >= 500 ? "server_error" : "invalid_request_error", "", e.code);
        if (st.req.stream) {
          st.reply->write(sse_error(err));
          st.reply->end_stream();
        } else {
          st.reply->respond(status, "application/json", encode_api_error(err));
        }
        self->quit();
      },
  };
}

// Parses the call's body here, on a CAF thread (a detached one for a large
// body), never on the gateway's I/O thread that read it; a bad body or a
// refused rate limit is answered with its HTTP error before any stream starts.
client_hdl::behavior_type openai_from_call(openai_actor* self, net::api_reply_ptr reply, planner_hdl planner,
                                           std::shared_ptr<const model::tokenizer> tok, request_options opts,
                                           net::api_call call) {
  auto& st = self->state;
  st.reply = std::move(reply);
  st.planner = std::move(planner);
  st.tok = std::move(tok);
  const auto kind = call.path == "/v1/completions" ? api_kind::completion : api_kind::chat;
  try {
    auto req = parse_api_request(kind, call.body, call.served_model, opts.config.max_tokens_default,
                                 request_limits_of(opts.config));
    std::string().swap(call.body);  // the parsed copy is all that is needed from here
    // Formatted and tokenised by the request actor.
    for (auto& m : req.messages)
      req.params.chat.emplace_back(m.role, m.content);
    if (call.meter) {
      // Refused before any stream starts, so a streaming client gets HTTP 429 too.
      if (auto refused = call.meter->check())
        throw api_error(429, "rate limit exceeded: " + *refused, "requests", "", "rate_limit_exceeded");
      opts.meter = call.meter;
    }
    st.opts = std::move(opts);
    start_call(self, std::move(req));
  } catch (const api_error& e) {
    st.ended = true;
    st.reply->respond(e.status, "application/json", encode_api_error(e));
    self->quit();
  }
  return openai_handlers(self);
}

class actor_http_handler : public net::http_request_handler {
public:
  explicit actor_http_handler(client_hdl target) : target_(std::move(target)) {}
  void on_disconnect() override { caf::anon_send(target_, ws_closed{"client disconnected"}); }

private:
  client_hdl target_;
};

}  // namespace

net::http_request_handler_ptr start_openai_call(caf::actor_system& sys, net::api_call call, net::api_reply_ptr reply,
                                                planner_hdl planner, std::shared_ptr<const model::tokenizer> tok,
                                                request_options opts) {
  // A body of up to 2 MiB takes a while to parse: on a thread of its own it
  // cannot delay the scheduler threads that read workers' heartbeats.
  bool large = call.body.size() > inline_tokenize_bytes;
  auto actor = large ? sys.spawn<caf::detached>(openai_from_call, std::move(reply), std::move(planner), std::move(tok),
                                                std::move(opts), std::move(call))
                     : sys.spawn(openai_from_call, std::move(reply), std::move(planner), std::move(tok),
                                 std::move(opts), std::move(call));
  return std::make_shared<actor_http_handler>(actor);
}

}  // namespace tessera::actors
