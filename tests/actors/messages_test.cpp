// Every message type in actors/messages.hpp is registered and survives a trip
// through CAF's binary serializer inside a caf::message (what a remote peer or
// a federation link would see). An unregistered type must fail here.
#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/message.hpp>

#include "actors/messages.hpp"

using namespace tessera::actors;

namespace {

struct config : caf::actor_system_config {
  config() { register_message_types(*this); }
};

template <class T>
void check_round_trip(caf::actor_system& sys, const T& value) {
  auto msg = caf::make_message(value);
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto err = sink(msg);
  INFO("serialize " << caf::deep_to_string(msg));
  REQUIRE(!err);
  caf::message copy;
  caf::binary_deserializer source{sys, buf};
  REQUIRE(!source(copy));
  REQUIRE(copy.match_elements<T>());
  CHECK(caf::deep_to_string(copy) == caf::deep_to_string(msg));
}

tensor_blob sample_tensor() {
  return {"hidden", 1, {1, 3, 8}, std::string("\x01\x02\x00\xff", 4)};
}

route sample_route(const worker_hdl& a) {
  route r;
  r.plan_version = 7;
  r.hops.push_back({a, 3, "abc123", 0, 4});
  r.hops.push_back({a, 4, "def456", 4, 8});
  return r;
}

struct unregistered_msg {
  int x = 1;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unregistered_msg& x) {
  return f(caf::meta::type_name("unregistered_msg"), x.x);
}

}  // namespace

TEST_CASE("every registered message type round-trips through the serializer by name") {
  config cfg;
  caf::actor_system sys{cfg};
  auto a = sys.spawn([]() -> caf::behavior { return {[](int) {}}; });
  // Handles only travel here; nothing is sent to them.
  auto worker = caf::actor_cast<worker_hdl>(a);
  auto request = caf::actor_cast<request_hdl>(a);

  stage_step step;
  step.request_id = 11;
  step.sequence_id = 12;
  step.step = 3;
  step.position = 9;
  step.seq_len = 1;
  step.token_ids = {1, 2, 3};
  step.tensors = {sample_tensor()};
  step.sampling = {0.7f, 40, 0.9f, 0.25f};
  step.path = sample_route(worker);
  step.hop = 1;
  step.reply_to = request;
  step.compute_ms = 1.5;
  step.sent_ns = 123456789;
  step.keep_inputs_hops = 0b110;
  step.end_hop = 2;
  step.fork_from = {11, 12};
  step.fork_length = 32;

  check_round_trip(sys, sample_tensor());
  check_round_trip(sys, sampling_params{0.5f, 3, 0.8f, 0.1f});
  check_round_trip(sys, route_hop{worker, 1, "x", 0, 2, 3});
  check_round_trip(sys, sample_route(worker));
  check_round_trip(sys, step);
  check_round_trip(sys, step_result{1, 2, 3, {42}, 2.5, 3});
  check_round_trip(sys, step_failed{1, 2, 3, 1, 9, "socket closed", 7});
  check_round_trip(sys, relayed_input{1, 2, 1, 5, 1, {sample_tensor()}});
  check_round_trip(sys, release_sequence{77, true});
  check_round_trip(sys, cache_lookup{9, "salt", {1, 2, 3}, 2, sample_route(worker)});
  check_round_trip(sys, cache_match{16, {4, 5}});
  check_round_trip(sys, cache_insert{9, "salt", {1, 2, 3}, sample_route(worker)});
  check_round_trip(sys, cache_forget{9, 3});
  check_round_trip(sys, ws_frame{std::string("\0bin", 4), true});
  check_round_trip(sys, ws_closed{"bye"});
  worker_info info{5, "w", "node-cpu", 1ull << 30, 1e9, 2, {"s1", "s2"}};
  check_round_trip(sys, info);
  check_round_trip(sys, worker_joined{info, worker});
  check_round_trip(sys, shard_file_ref{"stage_0_2.onnx", "/shards/x/stage_0_2.onnx", "ff", 10});
  check_round_trip(sys, assign_shard{"x", 0, 2, "sample", {{"a", "/a", "00", 1}}, 4, true});
  check_round_trip(sys, shard_loaded{5, "x", true, "", 1.0, 2.0});
  check_round_trip(sys, route_reply{true, sample_route(worker), ""});
  check_round_trip(sys, plan_changed{sample_route(worker), "worker 3 left"});
  check_round_trip(sys, kv_summary{5, 2, 300, 4096, 2, 8192, 1 << 20, 3, 1024, 6});
  check_round_trip(sys, plan_pause{6, "worker 4 joined"});
  check_round_trip(sys, plan_parked{request, 6});
  stage_news moved{4, "laptop", 2, 8, true, 0, 4};
  check_round_trip(sys, moved);
  check_round_trip(sys, plan_news{6, "worker 4 joined", {moved, stage_news{7, "big", 8, 12}}, {3}});
  check_round_trip(sys, token_event{72, "H"});
  check_round_trip(sys, status_event{"queued", "waiting for workers"});
  request_timings timings{1, 2, 3, 4, 5, 6, 7, 3, 1, 2, 0, 1};
  check_round_trip(sys, timings);
  check_round_trip(sys, done_event{"length", "!", 4, 8, timings, 3});
  check_round_trip(sys, error_event{"empty prompt", "bad_request"});
  check_round_trip(sys, cut_shards{{0, 2, 4}, {"0-2_2-4_sample"}});
  check_round_trip(sys, shards_ready{"0-2_2-4_sample", {assign_shard{"x", 0, 2, "", {{"a", "/a", "00", 1}}, 0, false}}, ""});
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

TEST_CASE("the registered names list every message struct once") {
  const auto& names = registered_message_names();
  CHECK(names.size() == 35);
  std::set<std::string> unique(names.begin(), names.end());
  CHECK(unique.size() == names.size());
}

TEST_CASE("an unregistered message type does not survive the trip (the check above can fail)") {
  config cfg;
  caf::actor_system sys{cfg};
  auto msg = caf::make_message(unregistered_msg{});
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  bool survived = false;
  try {
    if (!sink(msg)) {
      caf::message copy;
      caf::binary_deserializer source{sys, buf};
      survived = !source(copy) && copy.match_elements<unregistered_msg>();
    }
  } catch (const std::exception&) {
    survived = false;
  }
  CHECK_FALSE(survived);
}

TEST_CASE("tessera errors render with their category and context") {
  config cfg;
  caf::actor_system sys{cfg};
  auto err = make_error(errc::protocol_mismatch, "worker sent version 2, node speaks 1");
  CHECK(err.category() == caf::atom("tessera"));
  auto text = sys.render(err);
  CHECK(text.find("protocol_mismatch") != std::string::npos);
  CHECK(text.find("version 2") != std::string::npos);
}
