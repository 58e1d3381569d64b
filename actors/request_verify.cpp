// Spot checks, the request actor's side (actors/spot_check.hpp decides and
// compares). A token step may be picked for checks of some of its hops: the
// same positions are re-run, for each, on a verifier (a standby holding that hop's shard, in
// the route's `verifiers`) as a fresh sequence of positions [0, position +
// seq_len) — the tokens for the first stage, else the inputs the request kept
// at that boundary plus this step's — and the two answers are compared.
//
// The verifier's run starts as soon as its inputs are known (at once for the
// first stage, when the step is relayed into the hop otherwise), beside the
// pipeline. The step's token is held until the verdict: no token that depends
// on a checked step reaches the client or the next step before the check
// passed. Unchecked steps never wait.
//
// Who is guilty: the verifier is a standby, the checked worker serves. On a
// mismatch the serving worker is evicted and banned, its result dropped, and
// the request re-runs every token from position 0 on the next route (the
// stages after the guilty one built KV from its outputs; the inputs kept at
// boundaries after it are its outputs too, so they are dropped). A check the
// verifier cannot answer (it went away, refused, ran past the step's
// deadline) counts as inconclusive and releases the held token.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/request_state.hpp"
#include "actors/spot_check.hpp"

namespace tessera::actors::request_detail {

namespace {

std::optional<route_hop> verifier_for(const request_state& st, uint32_t hop) {
  const auto& h = st.path.hops[hop];
  for (const auto& v : st.path.verifiers)
    if (v.shard_id == h.shard_id && v.worker_id != h.worker_id && !st.dead.count(v.worker.address()))
      return v;
  return std::nullopt;
}

spot_check* check_of_sequence(request_state& st, uint64_t sequence) {
  if (st.check)
    for (auto& c : st.check->hops)
      if (c.sequence == sequence)
        return &c;
  return nullptr;
}

// Ends the step's checks: the verifiers drop their sequences.
void end_checks(request_actor* self) {
  auto& st = self->state;
  for (auto& c : st.check->hops)
    if (c.sent)
      self->send(c.verifier.worker, release_sequence{c.sequence});
  st.check.reset();
}

// Sends one verifier its run of positions [0, position + seq_len) into the
// checked hop: `tokens` for the first stage, `inputs` otherwise.
void send_verifier(request_actor* self, spot_check& c, std::vector<int64_t> tokens, std::vector<tensor_blob> inputs) {
  auto& st = self->state;
  const auto& sc = *st.check;
  stage_step s;
  // Ids no request has: the verifier may serve this request's route later
  // (a standby taking over) while the check still runs there. A request id
  // other than the sequence id tells a worker actor it is no pipeline step.
  s.request_id = new_request_id();
  s.sequence_id = c.sequence;
  s.step = sc.step;
  s.position = 0;
  s.seq_len = sc.position + sc.seq_len;
  s.token_ids = std::move(tokens);
  s.tensors = std::move(inputs);
  s.sampling = sc.sampling;
  s.path.plan_version = st.path.plan_version;
  s.path.epoch = st.path.epoch;  // a pooled worker refuses older epochs (actors/plan_epoch.hpp)
  s.path.hops = {c.verifier};
  s.reply_to = self;
  c.sent = true;
  self->send(c.verifier.worker, std::move(s));
}

// A hop's verdict once its verifier answered; nullopt while it has not.
std::optional<check_outcome> verdict(const request_state& st, const spot_check& c) {
  check_outcome none;
  if (c.abandoned) {
    none.detail = *c.abandoned;
    return none;
  }
  if (!c.verified)
    return std::nullopt;
  bool last = c.hop + 1 == st.path.hops.size();
  if (last)
    return compare_tokens(st.check->held->token_ids, c.verified->token_ids);
  if (!c.checked_output) {
    none.detail = "the checked hop's output was not relayed back";
    return none;
  }
  const auto& h = st.path.hops[c.hop];
  return compare_hidden(*c.checked_output, c.verified->tensors, st.check->seq_len,
                        st.opts.checks->settings().tolerances.of(h.backend, c.verifier.backend));
}

// Evicts (and bans) a worker that a second holder contradicted, and rolls the
// request back: the next route re-runs every token from position 0.
void convict(request_actor* self, const spot_check& c, const check_outcome& o) {
  auto& st = self->state;
  const auto& sc = *st.check;
  const auto& h = st.path.hops[c.hop];
  auto reason = "spot check of step " + std::to_string(sc.step) + " (positions " + std::to_string(sc.position) +
                ".." + std::to_string(sc.position + sc.seq_len - 1) + ", layers " + std::to_string(h.layer_begin) +
                "-" + std::to_string(h.layer_end) + "): " + o.detail + "; second holder: worker " +
                std::to_string(c.verifier.worker_id) + " (" + c.verifier.worker_name + ")";
  spdlog::warn("request={} worker={} name={} fails a {}", st.id, h.worker_id, h.worker_name, reason);
  self->send(h.worker, evict_atom::value, reason);
  st.dead.insert(h.worker.address());
}

// Every checked hop has answered (and the pipeline): pass the token on, or
// convict the workers that disagreed and roll back.
void judge(request_actor* self) {
  auto& st = self->state;
  if (!st.check->held)
    return;
  std::vector<std::pair<const spot_check*, check_outcome>> outcomes;
  for (const auto& c : st.check->hops) {
    auto o = verdict(st, c);
    if (!o)
      return;  // still waiting for a verifier
    outcomes.emplace_back(&c, std::move(*o));
  }
  std::string guilty;
  for (auto& [c, o] : outcomes) {
    const auto& h = st.path.hops[c->hop];
    bool answered = c->verified && !c->abandoned && (c->checked_output || c->hop + 1 == st.path.hops.size());
    spdlog::debug("request={} step={} spot check hop={} worker={} verifier={} difference={:.3g} agree={}", st.id,
                  st.check->step, c->hop, h.worker_id, c->verifier.worker_id, o.difference, o.agree);
    if (!answered) {
      spdlog::info("request={} step={} spot check of hop {} inconclusive: {}", st.id, st.check->step, c->hop, o.detail);
      st.opts.checks->inconclusive();
      ++st.checks_inconclusive;
    } else if (o.agree) {
      st.opts.checks->passed(h.worker_id);
      ++st.checks_passed;
      st.check_max_difference = std::max(st.check_max_difference, o.difference);
    } else {
      st.opts.checks->mismatched();
      convict(self, *c, o);
      if (guilty.empty())
        guilty = "worker " + std::to_string(h.worker_id) + " (" + h.worker_name + ") failed a spot check: " + o.detail;
    }
  }
  if (guilty.empty()) {
    auto held = std::move(st.check->held);
    end_checks(self);
    return take_result(self, *held);
  }
  end_checks(self);
  // Nothing computed downstream of a guilty hop is kept: not the inputs kept
  // at later boundaries, not the KV of later stages.
  st.kept = input_store(st.opts.config.kept_inputs_bytes);
  recover(self, guilty);
  st.lost_positions = 0;
}

}  // namespace

uint64_t plan_check(request_actor* self, const stage_step& s, uint64_t wanted_keep) {
  auto& st = self->state;
  if (!st.opts.checks || st.now == phase::rebuilding || s.hop != 0 || s.end_hop != 0)
    return 0;
  if (st.check)
    end_checks(self);  // a step replaced before its answer came
  const auto& settings = st.opts.checks->settings();
  std::vector<check_candidate> candidates;
  for (uint32_t k = 0; k < st.path.hops.size(); ++k) {
    const auto& h = st.path.hops[k];
    check_candidate c;
    c.has_verifier = verifier_for(st, k).has_value();
    c.can_replay = k == 0 || s.position == 0 || st.kept.covers(h.layer_begin, s.position);
    c.is_new = settings.first_steps > 0 && st.opts.checks->is_new(h.worker_id);
    candidates.push_back(c);
  }
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  auto hops = choose_check_hops(candidates, settings.rate, [&] { return uniform(st.rng); });
  if (hops.empty())
    return 0;
  step_checks sc;
  sc.step = s.step;
  sc.position = s.position;
  sc.seq_len = s.seq_len;
  sc.sampling = s.sampling;
  for (auto k : hops) {
    spot_check c;
    c.hop = k;
    c.verifier = *verifier_for(st, k);
    c.sequence = new_request_id();
    sc.hops.push_back(std::move(c));
    // The request hears what is relayed into a checked hop (its input) and
    // out of it (its output), whether or not it keeps those for rebuilds.
    for (uint32_t j : {k, k + 1})
      if (j > 0 && j < st.path.hops.size() && j < 64 && !((wanted_keep >> j) & 1))
        sc.forced_keep |= uint64_t{1} << j;
  }
  st.check = std::move(sc);
  if (st.check->hops.front().hop == 0) {
    const auto& tokens = st.session->tokens();
    send_verifier(self, st.check->hops.front(),
                  std::vector<int64_t>(tokens.begin(), tokens.begin() + s.position + s.seq_len), {});
  }
  return st.check->forced_keep;
}

bool on_check_input(request_actor* self, const relayed_input& in) {
  auto& st = self->state;
  if (!st.check || in.step != st.check->step)
    return true;
  auto& sc = *st.check;
  for (auto& c : sc.hops) {
    if (in.hop == c.hop + 1)
      c.checked_output = in.tensors;
    if (in.hop != c.hop || c.sent || c.abandoned)
      continue;
    std::vector<tensor_blob> inputs = in.tensors;
    if (sc.position > 0) {
      auto kept = st.kept.replay(st.path.hops[c.hop].layer_begin, sc.position);
      std::string error;
      auto joined = kept ? concat_positions(*kept, in.tensors, error) : std::nullopt;
      if (!joined) {
        c.abandoned = kept ? error : "the inputs of earlier positions are no longer kept";
        continue;
      }
      inputs = std::move(*joined);
    }
    send_verifier(self, c, {}, std::move(inputs));
  }
  return !((sc.forced_keep >> in.hop) & 1);
}

bool hold_for_check(request_actor* self, step_result& r) {
  auto& st = self->state;
  if (!st.check || r.step != st.check->step)
    return false;
  st.check->held = std::move(r);
  for (auto& c : st.check->hops)
    if (!c.sent && !c.abandoned)
      c.abandoned = "the verifier never got its inputs";
  judge(self);
  return true;
}

bool on_check_answer(request_actor* self, step_result& r) {
  auto& st = self->state;
  if (r.sequence_id == st.id)
    return false;
  if (auto* c = check_of_sequence(st, r.sequence_id)) {
    c->verified = std::move(r);
    judge(self);
  }
  return true;
}

bool on_check_failed(request_actor* self, const step_failed& f) {
  auto& st = self->state;
  if (f.sequence_id == st.id)
    return false;
  if (auto* c = check_of_sequence(st, f.sequence_id)) {
    c->sent = false;  // nothing of the check is left on the verifier
    c->abandoned = "verifier worker " + std::to_string(f.worker_id) + ": " + f.reason;
    judge(self);
  }
  return true;
}

bool check_overdue(request_actor* self) {
  auto& st = self->state;
  if (!st.check || !st.check->held)
    return false;
  for (auto& c : st.check->hops)
    if (!c.verified && !c.abandoned)
      c.abandoned = "the verifier did not answer within the step's deadline";
  judge(self);
  return true;
}

void cancel_check(request_actor* self) {
  if (self->state.check)
    end_checks(self);
}

}  // namespace tessera::actors::request_detail
