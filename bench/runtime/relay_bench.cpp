// The orchestrator's own cost per hop, without sockets or workers: three
// worker actors on fake connections whose "worker" answers every Forward at
// once (decode the Forward, encode a Result with a hidden state of the small
// preset's size, hand it back through the socket handler). One request-like
// driver runs decode steps through the 3-stage route, one at a time.
// Prints µs per step and per hop (actor messages + protobuf both ways), and the
// ratio of that per-hop cost to the per-hop overhead measured end to end.
//   runtime_relay_bench [steps] [hidden_bytes]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/socket_handler.hpp"
#include "actors/spawn.hpp"
#include "net/proto/worker.pb.h"

using namespace tessera::actors;
namespace wire = tessera::wire;

namespace {

struct config : caf::actor_system_config {
  config() {
    register_message_types(*this);
    set("scheduler.max-threads", 2);
  }
};

// A connection whose worker answers instantly: Forward in, Result out.
class echo_connection : public tessera::net::ws_connection {
public:
  echo_connection(bool last, size_t hidden_bytes) : last_(last), hidden_(hidden_bytes, '\x01') {}
  void attach(socket_hdl a) { handler_ = std::make_unique<actor_socket_handler>(std::move(a)); }
  void send_text(std::string) override {}
  void send_binary(std::string payload) override {
    wire::ToWorker in;
    if (!in.ParseFromString(payload) || !in.has_forward())
      return;  // Welcome, Assign, Release
    const auto& f = in.forward();
    wire::FromWorker out;
    auto* r = out.mutable_result();
    r->set_request_id(f.request_id());
    r->set_sequence_id(f.sequence_id());
    r->set_step(f.step());
    r->set_compute_ms(0);
    if (last_) {
      r->add_token_ids(65);
    } else {
      auto* t = r->add_tensors();
      t->set_name("hidden");
      t->set_dtype(wire::FLOAT32);
      t->add_shape(1);
      t->add_shape(f.seq_len());
      t->add_shape(static_cast<int64_t>(hidden_.size() / 4));
      t->set_data(hidden_);
    }
    handler_->on_message(out.SerializeAsString(), true);
  }
  void close(uint16_t, std::string) override {}
  std::string remote_endpoint() const override { return "echo"; }

private:
  bool last_;
  std::string hidden_;
  std::unique_ptr<actor_socket_handler> handler_;
};

std::string hello() {
  wire::FromWorker m;
  m.mutable_hello()->set_protocol_version(1);
  m.mutable_hello()->set_name("echo");
  return m.SerializeAsString();
}

}  // namespace

int main(int argc, char** argv) {
  int steps = argc > 1 ? std::atoi(argv[1]) : 20000;
  size_t hidden = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 2048;  // small: 512 floats
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  worker_options opts;
  opts.config.heartbeat_timeout_ms = 600000;
  route r;
  r.plan_version = 1;
  for (int i = 0; i < 3; ++i) {
    auto conn = std::make_shared<echo_connection>(i == 2, hidden);
    auto w = spawn_worker_actor(sys, conn, i + 1, caf::actor_cast<planner_hdl>(self), opts);
    conn->attach(w);
    actor_socket_handler(w).on_message(hello(), true);
    self->receive([](worker_joined&) {});
    r.hops.push_back({w, static_cast<uint64_t>(i + 1), "s" + std::to_string(i), 4u * i, 4u * (i + 1)});
  }
  auto run = [&](int n) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 1; i <= n; ++i) {
      stage_step s;
      s.request_id = 1;
      s.sequence_id = 1;
      s.step = i;
      s.position = i;
      s.seq_len = 1;
      s.token_ids = {65};
      s.sampling = {1.0f, 1, 1.0f, 0.0f};
      s.path = r;
      s.reply_to = caf::actor_cast<request_hdl>(self);
      self->send(r.hops[0].worker, std::move(s));
      self->receive([](step_result&) {}, [](relayed_input&) {});
    }
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n;
  };
  run(steps / 10);  // warm-up
  double us_per_step = run(steps);
  std::printf("3-stage relay, %d steps, hidden %zu bytes: %.1f us per step, %.1f us per hop "
              "(actor messages + protobuf encode/decode, no sockets)\n",
              steps, hidden, us_per_step, us_per_step / 3);
  for (auto& h : r.hops)
    self->send_exit(h.worker, caf::exit_reason::user_shutdown);
  return 0;
}
