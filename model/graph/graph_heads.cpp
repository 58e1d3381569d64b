// Token heads (see graph_heads.hpp): a few standard ops appended to the last stage.
#include "model/graph/graph_heads.hpp"

#include <cstring>
#include <vector>

#include "model/base/model_error.hpp"

namespace tessera::model {

namespace {

// Small helper that appends nodes with unique "/head/..." names.
struct head_writer {
  onnx::GraphProto& g;
  int counter = 0;

  std::string fresh(const std::string& what) { return "/head/" + what + "_" + std::to_string(counter++); }

  onnx::NodeProto& add(const std::string& op, std::vector<std::string> inputs, const std::string& out) {
    auto* n = g.add_node();
    n->set_op_type(op);
    n->set_name(out + "/" + op);
    for (auto& in : inputs) n->add_input(in);
    n->add_output(out);
    return *n;
  }
  std::string op(const std::string& op, std::vector<std::string> inputs, const std::string& what) {
    auto out = fresh(what);
    add(op, std::move(inputs), out);
    return out;
  }
  static void attr_int(onnx::NodeProto& n, const std::string& name, int64_t v) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  std::string i64(const std::vector<int64_t>& values, bool scalar, const std::string& what) {
    auto* t = g.add_initializer();
    t->set_name(fresh(what));
    t->set_data_type(onnx::TensorProto::INT64);
    if (!scalar) t->add_dims(int64_t(values.size()));
    t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(int64_t)));
    return t->name();
  }
  std::string f32(float value, const std::string& what) {
    auto* t = g.add_initializer();
    t->set_name(fresh(what));
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(&value), sizeof(float)));
    return t->name();
  }
  void input(const std::string& name, int32_t type, const std::vector<std::string>& dims) {
    auto* vi = g.add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(type);
    for (const auto& d : dims) {
      auto* dim = tt->mutable_shape()->add_dim();
      if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0]))) dim->set_dim_value(std::stoll(d));
      else dim->set_dim_param(d);
    }
  }
};

}  // namespace

void append_token_head(onnx::GraphProto& graph, const std::string& logits, token_head head, int64_t opset,
                       int logits_rank) {
  if (head == token_head::logits) return;
  if (opset < 13) throw model_error("token heads need ONNX opset >= 13, the model has " + std::to_string(opset));
  if (logits_rank != 2 && logits_rank != 3)
    throw model_error("token heads need logits of rank 3 [batch, seq, vocab] or 2 [batch, vocab], got rank " +
                      std::to_string(logits_rank));
  head_writer w{graph};
  using T = onnx::TensorProto;

  // Last position: Gather(logits, -1, axis=1) -> [batch, vocab].
  auto last = logits;
  if (logits_rank == 3) {
    last = w.fresh("last_logits");
    w.attr_int(w.add("Gather", {logits, w.i64({-1}, true, "minus_one")}, last), "axis", 1);
  }
  std::string greedy_out = head == token_head::greedy ? "next_token" : w.fresh("greedy");
  auto& argmax = w.add("ArgMax", {last}, greedy_out);
  w.attr_int(argmax, "axis", 1);
  w.attr_int(argmax, "keepdims", 0);

  if (head == token_head::sample) {
    w.input("temperature", T::FLOAT, {"1"});
    w.input("top_k", T::INT64, {"1"});
    w.input("top_p", T::FLOAT, {"1"});
    w.input("random", T::FLOAT, {"batch"});
    auto zero_f = w.f32(0.0f, "zero");
    auto one_f = w.f32(1.0f, "one");
    auto axis_last = w.i64({-1}, false, "axis_last");
    auto axis_one = w.i64({1}, false, "axis_one");

    auto t = w.op("Max", {"temperature", w.f32(1e-6f, "min_temperature")}, "temperature_safe");
    auto scaled = w.op("Div", {last, t}, "scaled");
    auto vocab = w.op("Gather", {w.op("Shape", {scaled}, "shape"), axis_one}, "vocab");  // int64 [1]
    auto sorted = w.fresh("sorted"), order = w.fresh("order");
    {
      auto& topk = w.add("TopK", {scaled, vocab}, sorted);
      topk.add_output(order);
      w.attr_int(topk, "axis", -1);
      w.attr_int(topk, "largest", 1);
      w.attr_int(topk, "sorted", 1);
    }
    auto probs = w.fresh("probs");
    w.attr_int(w.add("Softmax", {sorted}, probs), "axis", -1);

    // top-k: ranks < k (k <= 0 means all).
    auto ranks = w.op("Range", {w.i64({0}, true, "zero_i"), w.op("Squeeze", {vocab}, "vocab_scalar"),
                                w.i64({1}, true, "one_i")}, "ranks");
    auto k_off = w.op("LessOrEqual", {"top_k", w.i64({0}, false, "zero_k")}, "k_off");
    auto k_eff = w.op("Where", {k_off, vocab, "top_k"}, "k_eff");
    auto keep_k = w.op("Less", {ranks, k_eff}, "keep_k");  // [vocab] bool
    auto probs_k = w.op("Where", {keep_k, probs, zero_f}, "probs_k");
    auto mass_k = w.op("ReduceSum", {probs_k, axis_last}, "mass_k");  // [batch, 1]
    auto norm_k = w.op("Div", {probs_k, mass_k}, "norm_k");

    // top-p: keep while the mass before a token is below top_p (always the top
    // token; all of them when top_p >= 1).
    auto cum_k = w.fresh("cum_k");
    w.add("CumSum", {norm_k, w.i64({-1}, true, "axis_scalar")}, cum_k);
    auto before = w.op("Sub", {cum_k, norm_k}, "mass_before");
    auto first = w.op("Less", {ranks, w.i64({1}, false, "one_rank")}, "first");  // [vocab] bool
    auto keep_p = w.op("Or", {w.op("Or", {w.op("Less", {before, "top_p"}, "below_p"), first}, "below_p_or_first"),
                              w.op("GreaterOrEqual", {"top_p", one_f}, "p_off")}, "keep_p");
    auto keep = w.op("And", {keep_k, keep_p}, "keep");
    auto kept = w.op("Where", {keep, probs, zero_f}, "kept");

    // Inverse CDF: index = #(cumulative kept mass <= random * total), capped at the last kept.
    auto cum = w.fresh("cum");
    w.add("CumSum", {kept, w.i64({-1}, true, "axis_scalar")}, cum);
    auto total = w.op("ReduceSum", {kept, axis_last}, "total");  // [batch, 1]
    auto target = w.op("Mul", {w.op("Unsqueeze", {"random", axis_one}, "random_col"), total}, "target");
    auto below = w.op("Cast", {w.op("LessOrEqual", {cum, target}, "below_target")}, "below_count_in");
    w.attr_int(*graph.mutable_node(graph.node_size() - 1), "to", T::INT64);
    auto index = w.op("ReduceSum", {below, axis_last}, "index");  // [batch, 1]
    auto n_keep = w.op("Cast", {keep}, "keep_i64");
    w.attr_int(*graph.mutable_node(graph.node_size() - 1), "to", T::INT64);
    auto last_kept = w.op("Sub", {w.op("ReduceSum", {n_keep, axis_last}, "kept_count"), w.i64({1}, false, "one_k")}, "last_kept");
    auto pick = w.op("Min", {index, last_kept}, "pick");
    auto token = w.fresh("sampled");
    w.attr_int(w.add("GatherElements", {order, pick}, token), "axis", 1);
    auto sampled = w.op("Squeeze", {token, axis_one}, "sampled_flat");
    auto greedy_wins = w.op("LessOrEqual", {"temperature", zero_f}, "greedy_wins");  // [1]
    w.add("Where", {greedy_wins, greedy_out, sampled}, "next_token");
  }

  auto* out = graph.add_output();
  out->set_name("next_token");
  auto* tt = out->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(T::INT64);
  tt->mutable_shape()->add_dim()->set_dim_param("batch");
}

}  // namespace tessera::model
