// The worker actor with a fake socket: Hello/Welcome and the version check,
// malformed frames, relaying a step worker -> worker -> requester, losing the
// socket mid-step, and heartbeat silence.
#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/socket_handler.hpp"
#include "actors/spawn.hpp"
#include "fake_socket.hpp"
#include "net/proto/worker.pb.h"

using namespace tessera::actors;
using tessera::testing::fake_connection;
namespace wire = tessera::wire;

namespace {

struct config : caf::actor_system_config {
  config() { register_message_types(*this); }
};

std::string hello_frame(uint32_t version, const std::string& name = "w") {
  wire::FromWorker m;
  auto* h = m.mutable_hello();
  h->set_protocol_version(version);
  h->set_device_kind("node-cpu");
  h->set_memory_bytes(1ull << 30);
  h->set_flops_per_s(2e9);
  h->set_name(name);
  h->set_threads(1);
  return m.SerializeAsString();
}

// A worker's Result for (request = sequence, step): either a boundary tensor
// "hidden" [1, 3] of `fill` bytes (a middle stage) or one token (the last).
std::string result_frame(uint64_t request, uint32_t step, double compute_ms, char fill, int64_t token = -1) {
  wire::FromWorker m;
  auto* res = m.mutable_result();
  res->set_request_id(request);
  res->set_sequence_id(request);
  res->set_step(step);
  res->set_compute_ms(compute_ms);
  if (token >= 0) {
    res->add_token_ids(token);
    return m.SerializeAsString();
  }
  auto* t = res->add_tensors();
  t->set_name("hidden");
  t->set_dtype(wire::FLOAT32);
  t->add_shape(1);
  t->add_shape(3);
  t->set_data(std::string(12, fill));
  return m.SerializeAsString();
}

wire::ToWorker to_worker(const fake_connection::frame& f) {
  wire::ToWorker m;
  REQUIRE(f.binary);
  REQUIRE(m.ParseFromString(f.payload));
  return m;
}

struct worker_fixture {
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  worker_options opts = no_probes();
  // Tests count the frames a worker is sent: link probes only where a test
  // turns them on (the link probe tests at the end of this file).
  static worker_options no_probes() {
    worker_options o;
    o.config.link_probe = false;
    return o;
  }
  // The test stands in for the planner and for requests: it receives what
  // they would (worker_joined, step_result, ...) through these handles.
  planner_hdl as_planner() { return caf::actor_cast<planner_hdl>(self); }
  request_hdl as_requester() { return caf::actor_cast<request_hdl>(self); }

  // Spawns a worker actor on a fake socket and completes its Hello.
  std::pair<worker_hdl, std::shared_ptr<fake_connection>> joined(uint64_t id) {
    auto conn = std::make_shared<fake_connection>();
    auto w = spawn_worker_actor(sys, conn, id, as_planner(), opts);
    actor_socket_handler handler(w);
    handler.on_message(hello_frame(1, "w" + std::to_string(id)), true);
    bool got = false;
    self->receive([&](worker_joined& j) {
      CHECK(j.info.worker_id == id);
      CHECK(j.info.memory_bytes == (1ull << 30));
      got = true;
    }, caf::after(std::chrono::seconds(5)) >> [] {});
    REQUIRE(got);
    auto welcome = conn->wait_frame(0);
    REQUIRE(welcome);
    CHECK(to_worker(*welcome).welcome().worker_id() == id);
    return {w, conn};
  }

  caf::error wait_down(const worker_hdl&) {
    caf::error reason;
    bool got = false;
    self->receive([&](caf::down_msg& d) {
      reason = d.reason;
      got = true;
    }, caf::after(std::chrono::seconds(5)) >> [] {});
    REQUIRE(got);
    return reason;
  }
};

bool is(const caf::error& e, errc code) {
  return e.category() == caf::atom("tessera") && e.code() == static_cast<uint8_t>(code);
}

}  // namespace

TEST_CASE_METHOD(worker_fixture, "a worker's Hello is answered with Welcome and reported to the planner") {
  auto [w, conn] = joined(7);
  CHECK(to_worker(*conn->wait_frame(0)).welcome().protocol_version() == 1);
  self->send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(worker_fixture, "a worker speaking another protocol version is disconnected with the reason") {
  auto conn = std::make_shared<fake_connection>();
  auto w = spawn_worker_actor(sys, conn, 1, as_planner(), opts);
  self->monitor(w);
  actor_socket_handler(w).on_message(hello_frame(2), true);
  CHECK(conn->wait_close() == 1008);
  CHECK(conn->close_reason().find("version 2") != std::string::npos);
  CHECK(is(wait_down(w), errc::protocol_mismatch));
}

TEST_CASE_METHOD(worker_fixture, "a malformed frame disconnects the worker") {
  auto [w, conn] = joined(2);
  self->monitor(w);
  actor_socket_handler(w).on_message(std::string("\xff\xff\xff", 3), true);
  CHECK(conn->wait_close() == 1008);
  CHECK(is(wait_down(w), errc::malformed_frame));
}

TEST_CASE_METHOD(worker_fixture, "a step travels worker to worker and the last stage's token reaches the requester") {
  auto [a, conn_a] = joined(1);
  auto [b, conn_b] = joined(2);
  stage_step s;
  s.request_id = 5;
  s.sequence_id = 5;
  s.step = 1;
  s.position = 0;
  s.seq_len = 3;
  s.token_ids = {10, 11, 12};
  s.sampling = {1.0f, 1, 1.0f, 0.5f};
  s.path.plan_version = 1;
  s.path.hops = {{a, 1, "shardA", 0, 2}, {b, 2, "shardB", 2, 4}};
  s.reply_to = as_requester();
  self->send(a, s);

  auto fwd_a = to_worker(*conn_a->wait_frame(1)).forward();
  CHECK(fwd_a.shard_id() == "shardA");
  CHECK(fwd_a.token_ids_size() == 3);
  CHECK(fwd_a.seq_len() == 3);
  CHECK_FALSE(fwd_a.has_sampling());

  actor_socket_handler(a).on_message(result_frame(5, 1, 2.0, '\x01'), true);

  auto fwd_b = to_worker(*conn_b->wait_frame(1)).forward();
  CHECK(fwd_b.shard_id() == "shardB");
  CHECK(fwd_b.token_ids_size() == 0);
  REQUIRE(fwd_b.tensors_size() == 1);
  CHECK(fwd_b.tensors(0).name() == "hidden");
  CHECK(fwd_b.tensors(0).data() == std::string(12, '\x01'));
  CHECK(fwd_b.sampling().top_k() == 1);
  CHECK(fwd_b.sampling().random() == Approx(0.5f));

  auto rb = result_frame(5, 1, 3.0, 0, 42);
  actor_socket_handler(b).on_message(rb, true);

  bool got = false;
  self->receive([&](step_result& r) {
    CHECK(r.request_id == 5);
    CHECK(r.step == 1);
    REQUIRE(r.token_ids.size() == 1);
    CHECK(r.token_ids[0] == 42);
    CHECK(r.compute_ms == Approx(5.0));
    got = true;
  }, caf::after(std::chrono::seconds(5)) >> [] {});
  CHECK(got);

  // A late duplicate of the same result is ignored (stale), nothing reaches us.
  actor_socket_handler(b).on_message(rb, true);
  bool extra = false;
  self->receive([&](step_result&) { extra = true; }, caf::after(std::chrono::milliseconds(100)) >> [] {});
  CHECK_FALSE(extra);
  self->send_exit(a, caf::exit_reason::user_shutdown);
  self->send_exit(b, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(worker_fixture, "a step with end_hop stops after that hop and answers the requester without tokens") {
  auto [a, conn_a] = joined(1);
  auto [b, conn_b] = joined(2);
  stage_step s;
  s.request_id = 6;
  s.sequence_id = 6;
  s.step = 2;
  s.seq_len = 3;
  s.tensors = {{"hidden", 1, {1, 3, 1}, std::string(12, '\x02')}};
  s.path.plan_version = 1;
  s.path.hops = {{b, 2, "shardB", 0, 2}, {a, 1, "shardA", 2, 3}, {b, 2, "shardC", 3, 4}};
  s.hop = 1;
  s.end_hop = 2;  // rebuild hop 1 only: hop 2 already holds its KV
  s.reply_to = as_requester();
  self->send(a, s);
  auto fwd = to_worker(*conn_a->wait_frame(1)).forward();
  CHECK(fwd.shard_id() == "shardA");
  actor_socket_handler(a).on_message(result_frame(6, 2, 1.5, '\x03'), true);
  bool got = false;
  self->receive([&](step_result& x) {
    CHECK(x.step == 2);
    CHECK(x.token_ids.empty());
    CHECK(x.compute_ms == Approx(1.5));
    got = true;
  }, caf::after(std::chrono::seconds(5)) >> [] {});
  CHECK(got);
  CHECK(conn_b->count() == 1);  // only its Welcome: nothing was forwarded to the next hop
  self->send_exit(a, caf::exit_reason::user_shutdown);
  self->send_exit(b, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(worker_fixture, "a socket that closes mid-step fails the step and the worker quits with the reason") {
  auto [w, conn] = joined(3);
  self->monitor(w);
  stage_step s;
  s.request_id = 9;
  s.sequence_id = 9;
  s.step = 4;
  s.seq_len = 1;
  s.token_ids = {1};
  s.path.hops = {{w, 3, "s", 0, 4}};
  s.reply_to = as_requester();
  self->send(w, s);
  REQUIRE(conn->wait_frame(1));
  actor_socket_handler(w).on_close("tab closed");
  bool failed = false;
  self->receive([&](step_failed& f) {
    CHECK(f.request_id == 9);
    CHECK(f.step == 4);
    CHECK(f.worker_id == 3);
    failed = true;
  }, caf::after(std::chrono::seconds(5)) >> [] {});
  CHECK(failed);
  CHECK(is(wait_down(w), errc::socket_closed));
}

TEST_CASE_METHOD(worker_fixture, "a worker that stops sending heartbeats is declared gone") {
  opts.config.heartbeat_ms = 20;
  opts.config.heartbeat_timeout_ms = 150;
  auto [w, conn] = joined(4);
  self->monitor(w);
  CHECK(is(wait_down(w), errc::heartbeat_timeout));
  CHECK(conn->wait_close() == 1011);
}

TEST_CASE_METHOD(worker_fixture, "the kv ledger follows steps and releases") {
  auto [w, conn] = joined(6);
  stage_step s;
  s.request_id = 1;
  s.sequence_id = 77;
  s.step = 1;
  s.position = 0;
  s.seq_len = 4;
  s.token_ids = {1, 2, 3, 4};
  s.path.hops = {{w, 6, "s", 0, 4}};
  s.reply_to = as_requester();
  self->send(w, s);
  REQUIRE(conn->wait_frame(1));
  wire::FromWorker r;
  r.mutable_result()->set_request_id(1);
  r.mutable_result()->set_sequence_id(77);
  r.mutable_result()->set_step(1);
  r.mutable_result()->add_token_ids(5);
  actor_socket_handler(w).on_message(r.SerializeAsString(), true);
  self->receive([](step_result&) {}, caf::after(std::chrono::seconds(5)) >> [] { FAIL("no result"); });
  kv_summary before;
  self->request(w, std::chrono::seconds(5), kv_query_atom::value).receive(
      [&](kv_summary& s) { before = s; }, [](caf::error&) { FAIL("kv query failed"); });
  CHECK(before.sequences == 1);
  CHECK(before.tokens == 4);
  self->send(w, release_sequence{77});
  auto rel = conn->wait_frame(2);
  REQUIRE(rel);
  CHECK(to_worker(*rel).release().sequence_id() == 77);
  kv_summary after;
  self->request(w, std::chrono::seconds(5), kv_query_atom::value).receive(
      [&](kv_summary& s) { after = s; }, [](caf::error&) { FAIL("kv query failed"); });
  CHECK(after.sequences == 0);
  self->send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(worker_fixture, "a step that arrives after its sequence's release is dropped, not run") {
  auto [w, conn] = joined(8);
  self->send(w, release_sequence{88});
  auto rel = conn->wait_frame(1);
  REQUIRE(rel);
  CHECK(to_worker(*rel).release().sequence_id() == 88);
  stage_step s;
  s.request_id = 88;
  s.sequence_id = 88;
  s.step = 3;
  s.position = 0;
  s.seq_len = 1;
  s.token_ids = {1};
  s.path.hops = {{w, 8, "s", 0, 4}};
  s.reply_to = as_requester();
  self->send(w, s);  // relayed late: must not reach the worker
  s.request_id = s.sequence_id = 89;
  self->send(w, s);
  auto next = conn->wait_frame(2);
  REQUIRE(next);
  CHECK(to_worker(*next).forward().sequence_id() == 89);
  self->send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(worker_fixture, "an assignment or a step stamped with an epoch older than one seen is refused") {
  auto [w, conn] = joined(8);
  auto assign = [&](const std::string& shard, uint64_t epoch) {
    assign_shard a;
    a.shard_id = shard;
    a.layer_end = 4;
    a.plan_version = 1;
    a.epoch = epoch;
    self->send(w, a);
  };
  assign("s5", 5);
  auto first = conn->wait_frame(1);
  REQUIRE(first);
  CHECK(to_worker(*first).assign().shard_id() == "s5");
  assign("s4", 4);   // a deposed leader's: refused
  assign("s5b", 5);  // the same leader's next one: sent (frames keep their order, so s4 was not)
  auto second = conn->wait_frame(2);
  REQUIRE(second);
  CHECK(to_worker(*second).assign().shard_id() == "s5b");
  stage_step s;
  s.request_id = s.sequence_id = 90;
  s.step = 1;
  s.seq_len = 1;
  s.token_ids = {1};
  s.path.hops = {{w, 8, "s5b", 0, 4}};
  s.path.epoch = 3;
  s.reply_to = as_requester();
  self->send(w, s);
  std::string reason;
  self->receive([&](step_failed& f) { reason = f.reason; }, caf::after(std::chrono::seconds(5)) >> [] {});
  CHECK(reason == "stale plan: epoch 3 is older than epoch 5 seen here");
  s.path.epoch = 6;  // a newer leader's route: run, and epoch 6 is the one to beat from now on
  self->send(w, s);
  auto forward = conn->wait_frame(3);
  REQUIRE(forward);
  CHECK(to_worker(*forward).forward().sequence_id() == 90);
  assign("s5c", 5);  // below 6 now: refused, and so is a deposed leader's plan news
  plan_news old;
  old.plan_version = 2;
  old.epoch = 5;
  self->send(w, old);
  s.step = 2;
  self->send(w, s);  // so the next frame is this step's Forward
  auto after = conn->wait_frame(4);
  REQUIRE(after);
  CHECK(to_worker(*after).body_case() == wire::ToWorker::kForward);
  self->send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(worker_fixture, "plan news reaches the worker's socket as a decodable ToWorker.plan_news") {
  auto [w, conn] = joined(8);
  plan_news n;
  n.plan_version = 3;
  n.why = "worker 9 (laptop) joined; better by 12%";
  n.stages = {{8, "w8", 0, 6, true, 0, 4}, {9, "laptop", 6, 12, false, 0, 0}};
  n.dropped = {2, 1ull << 40};
  self->send(w, n);
  auto frame = conn->wait_frame(1);
  REQUIRE(frame);
  auto msg = to_worker(*frame);
  REQUIRE(msg.body_case() == wire::ToWorker::kPlanNews);
  const auto& p = msg.plan_news();
  CHECK(p.plan_version() == 3);
  CHECK(p.why() == n.why);
  REQUIRE(p.stages_size() == 2);
  CHECK(p.stages(0).worker_id() == 8);
  CHECK(p.stages(0).worker_name() == "w8");
  CHECK(p.stages(0).layer_begin() == 0);
  CHECK(p.stages(0).layer_end() == 6);
  CHECK(p.stages(0).had_previous());
  CHECK(p.stages(0).previous_end() == 4);
  CHECK(p.stages(1).worker_name() == "laptop");
  CHECK(p.stages(1).layer_begin() == 6);
  CHECK_FALSE(p.stages(1).had_previous());
  REQUIRE(p.dropped_size() == 2);
  CHECK(p.dropped(0) == 2);
  CHECK(p.dropped(1) == (1ull << 40));
  self->send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(worker_fixture, "the sequence count a worker reports in its heartbeat shows up in the kv query") {
  auto [w, conn] = joined(5);
  auto query = [&] {
    kv_summary out;
    self->request(w, std::chrono::seconds(5), kv_query_atom::value).receive(
        [&](kv_summary& s) { out = s; }, [](caf::error&) { FAIL("kv query failed"); });
    return out;
  };
  auto before = query();
  CHECK(before.worker_id == 5);
  CHECK(before.worker_sequences == -1);  // no heartbeat yet
  wire::FromWorker hb;
  hb.mutable_heartbeat()->set_unix_ms(1);
  hb.mutable_heartbeat()->set_sequences(3);
  hb.mutable_heartbeat()->set_kv_tokens(40);
  actor_socket_handler(w).on_message(hb.SerializeAsString(), true);
  auto after = query();  // frames and queries reach the actor in order
  CHECK(after.worker_sequences == 3);
  CHECK(after.sequences == 0);  // the node's own ledger is separate
  wire::FromWorker old;  // an older worker: no counts -> 0
  old.mutable_heartbeat()->set_unix_ms(2);
  actor_socket_handler(w).on_message(old.SerializeAsString(), true);
  CHECK(query().worker_sequences == 0);
  self->send_exit(w, caf::exit_reason::user_shutdown);
}

namespace {

kv_summary kv_of(caf::scoped_actor& self, const worker_hdl& w) {
  kv_summary out;
  self->request(w, std::chrono::seconds(5), kv_query_atom::value).receive(
      [&](kv_summary& s) { out = s; }, [](caf::error&) { FAIL("kv query failed"); });
  return out;
}

std::string echo_frame(uint64_t seq, const std::string& payload) {
  wire::FromWorker m;
  m.mutable_echo()->set_seq(seq);
  m.mutable_echo()->set_payload(payload);
  return m.SerializeAsString();
}

}  // namespace

TEST_CASE_METHOD(worker_fixture, "a joining worker's link is probed: its RTT and bandwidth reach the planner's kv query") {
  opts.config.link_probe = true;
  opts.config.link_probe_interval_ms = 0;  // the join burst only
  opts.config.link_probe_bytes = 4096;
  auto [w, conn] = joined(8);
  CHECK_FALSE(kv_of(self, w).link_measured);
  // Answer each probe as it comes: 3 small, then 3 of link_probe_bytes.
  std::vector<size_t> sizes;
  for (size_t n = 1; n <= 6; ++n) {
    auto f = conn->wait_frame(n);
    REQUIRE(f);
    auto m = to_worker(*f);
    REQUIRE(m.has_probe());
    sizes.push_back(m.probe().payload().size());
    actor_socket_handler(w).on_message(echo_frame(m.probe().seq(), m.probe().payload()), true);
  }
  CHECK(sizes == std::vector<size_t>{64, 64, 64, 4096, 4096, 4096});
  auto kv = kv_of(self, w);  // frames and queries reach the actor in order
  CHECK(kv.link_measured);
  CHECK(kv.link_echoes == 6);
  CHECK(kv.link_rtt_ms >= 0);
  CHECK(kv.link_bytes_per_s > 0);
  CHECK_FALSE(conn->wait_frame(7, std::chrono::milliseconds(50)));  // no more probes
  self->send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(worker_fixture, "an echo that does not carry its probe's bytes back measures nothing") {
  opts.config.link_probe = true;
  auto [w, conn] = joined(9);
  auto f = conn->wait_frame(1);
  REQUIRE(f);
  auto m = to_worker(*f);
  REQUIRE(m.has_probe());
  actor_socket_handler(w).on_message(echo_frame(m.probe().seq(), std::string(m.probe().payload().size(), 'x')), true);
  actor_socket_handler(w).on_message(echo_frame(m.probe().seq() + 1, m.probe().payload()), true);
  auto kv = kv_of(self, w);
  CHECK_FALSE(kv.link_measured);
  CHECK(kv.link_echoes == 0);
  CHECK(conn->count() == 2);  // still waiting for the echo of the one probe in flight
  self->send_exit(w, caf::exit_reason::user_shutdown);
}
