#include "actors/wire_codec.hpp"

#include "net/proto/worker.pb.h"

namespace tessera::actors {

namespace {

void to_wire(const tensor_blob& t, wire::Tensor* out) {
  out->set_name(t.name);
  out->set_dtype(static_cast<wire::DType>(t.dtype));
  for (auto d : t.shape)
    out->add_shape(d);
  out->set_data(t.data);
}

tensor_blob from_wire(const wire::Tensor& t) {
  tensor_blob out;
  out.name = t.name();
  out.dtype = static_cast<int32_t>(t.dtype());
  out.shape.assign(t.shape().begin(), t.shape().end());
  out.data = t.data();
  return out;
}

std::string serialize(const wire::ToWorker& msg) {
  std::string out;
  msg.SerializeToString(&out);
  return out;
}

}  // namespace

std::string encode_welcome(uint64_t worker_id, uint32_t heartbeat_ms) {
  wire::ToWorker msg;
  auto* w = msg.mutable_welcome();
  w->set_protocol_version(kProtocolVersion);
  w->set_worker_id(worker_id);
  w->set_heartbeat_ms(heartbeat_ms);
  return serialize(msg);
}

std::string encode_assign(const assign_shard& a) {
  wire::ToWorker msg;
  auto* w = msg.mutable_assign();
  w->set_shard_id(a.shard_id);
  w->set_layer_begin(a.layer_begin);
  w->set_layer_end(a.layer_end);
  w->set_head(a.head);
  w->set_plan_version(a.plan_version);
  w->set_standby(a.standby);
  w->set_kv_budget(a.kv_budget);
  for (const auto& f : a.files) {
    auto* out = w->add_files();
    out->set_name(f.name);
    out->set_url(f.url);
    out->set_sha256(f.sha256);
    out->set_bytes(f.bytes);
  }
  return serialize(msg);
}

std::string encode_forward(const stage_step& s) {
  wire::ToWorker msg;
  auto* f = msg.mutable_forward();
  f->set_request_id(s.request_id);
  f->set_sequence_id(s.sequence_id);
  f->set_step(s.step);
  f->set_position(s.position);
  f->set_seq_len(s.seq_len);
  if (s.hop == 0)
    for (auto id : s.token_ids)
      f->add_token_ids(id);
  for (const auto& t : s.tensors)
    to_wire(t, f->add_tensors());
  if (s.hop + 1 == s.path.hops.size()) {
    auto* sp = f->mutable_sampling();
    sp->set_temperature(s.sampling.temperature);
    sp->set_top_k(s.sampling.top_k);
    sp->set_top_p(s.sampling.top_p);
    sp->set_random(s.sampling.random);
  }
  if (s.hop < s.path.hops.size())
    f->set_shard_id(s.path.hops[s.hop].shard_id);
  if (s.hop < s.fork_from.size() && s.fork_from[s.hop] != 0) {
    f->set_fork_from(s.fork_from[s.hop]);
    f->set_fork_length(s.fork_length);
  }
  return serialize(msg);
}

std::string encode_release(uint64_t sequence_id, bool keep) {
  wire::ToWorker msg;
  msg.mutable_release()->set_sequence_id(sequence_id);
  msg.mutable_release()->set_keep(keep);
  return serialize(msg);
}

std::string encode_probe(uint64_t seq, const std::string& payload) {
  wire::ToWorker msg;
  auto* p = msg.mutable_probe();
  p->set_seq(seq);
  p->set_payload(payload);
  return serialize(msg);
}

std::string encode_heartbeat(uint64_t unix_ms) {
  wire::ToWorker msg;
  msg.mutable_heartbeat()->set_unix_ms(unix_ms);
  return serialize(msg);
}

std::string encode_plan_news(const plan_news& n) {
  wire::ToWorker msg;
  auto* out = msg.mutable_plan_news();
  out->set_plan_version(n.plan_version);
  out->set_why(n.why);
  for (const auto& s : n.stages) {
    auto* st = out->add_stages();
    st->set_worker_id(s.worker_id);
    st->set_worker_name(s.worker_name);
    st->set_layer_begin(s.layer_begin);
    st->set_layer_end(s.layer_end);
    st->set_had_previous(s.had_previous);
    st->set_previous_begin(s.previous_begin);
    st->set_previous_end(s.previous_end);
  }
  for (auto id : n.dropped)
    out->add_dropped(id);
  return serialize(msg);
}

bool decode_from_worker(const std::string& bytes, worker_frame& out, std::string& error) {
  wire::FromWorker msg;
  if (!msg.ParseFromString(bytes)) {
    error = "undecodable FromWorker frame of " + std::to_string(bytes.size()) + " bytes";
    return false;
  }
  switch (msg.body_case()) {
    case wire::FromWorker::kHello: {
      const auto& h = msg.hello();
      out.what = worker_frame::kind::hello;
      out.protocol_version = h.protocol_version();
      out.hello.name = h.name();
      out.hello.device_kind = h.device_kind();
      out.hello.memory_bytes = h.memory_bytes();
      out.hello.flops_per_s = h.flops_per_s();
      out.hello.threads = h.threads();
      out.hello.cached_shards.assign(h.cached_shards().begin(), h.cached_shards().end());
      return true;
    }
    case wire::FromWorker::kLoaded: {
      const auto& l = msg.loaded();
      out.what = worker_frame::kind::loaded;
      out.loaded.shard_id = l.shard_id();
      out.loaded.ok = l.ok();
      out.loaded.error = l.error();
      out.loaded.download_ms = l.download_ms();
      out.loaded.load_ms = l.load_ms();
      return true;
    }
    case wire::FromWorker::kResult: {
      const auto& r = msg.result();
      out.what = worker_frame::kind::result;
      out.request_id = r.request_id();
      out.sequence_id = r.sequence_id();
      out.step = r.step();
      out.tensors.reserve(r.tensors_size());
      for (const auto& t : r.tensors())
        out.tensors.push_back(from_wire(t));
      out.token_ids.assign(r.token_ids().begin(), r.token_ids().end());
      out.compute_ms = r.compute_ms();
      out.shard_id = r.shard_id();
      return true;
    }
    case wire::FromWorker::kHeartbeat: {
      const auto& h = msg.heartbeat();
      out.what = worker_frame::kind::heartbeat;
      out.kv_sequences = h.sequences();
      out.kv_tokens = h.kv_tokens();
      out.kv_bytes = h.kv_bytes();
      out.kv_budget = h.kv_budget();
      out.cached_sequences = h.cached_sequences();
      out.cached_bytes = h.cached_bytes();
      out.evictions = h.evictions();
      return true;
    }
    case wire::FromWorker::kEcho:
      out.what = worker_frame::kind::echo;
      out.echo_seq = msg.echo().seq();
      out.echo_payload = msg.echo().payload();
      return true;
    case wire::FromWorker::kEvicted:
      out.what = worker_frame::kind::evicted;
      out.evicted.assign(msg.evicted().sequence_ids().begin(), msg.evicted().sequence_ids().end());
      return true;
    case wire::FromWorker::kError: {
      const auto& e = msg.error();
      out.what = worker_frame::kind::error;
      out.error_code = e.code();
      out.error_message = e.message();
      out.request_id = e.request_id();
      out.sequence_id = e.sequence_id();
      return true;
    }
    case wire::FromWorker::kProgress: {
      const auto& p = msg.progress();
      out.what = worker_frame::kind::progress;
      out.shard_id = p.shard_id();
      out.bytes_done = p.bytes_done();
      out.bytes_total = p.bytes_total();
      return true;
    }
    case wire::FromWorker::BODY_NOT_SET:
      break;
  }
  error = "FromWorker frame without a body (" + std::to_string(bytes.size()) + " bytes)";
  return false;
}

}  // namespace tessera::actors
