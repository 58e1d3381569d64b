// Dinic's max-flow; edges are stored in pairs (e, e^1 = its residual twin).
#include "model/graph/graph_mincut.hpp"

#include <algorithm>
#include <deque>

namespace tessera::model {

min_cut_graph::min_cut_graph(int vertices) : out_(vertices), level_(vertices), next_(vertices) {}

void min_cut_graph::add_edge(int from, int to, int64_t capacity) {
  out_[from].push_back(int(edges_.size()));
  edges_.push_back({to, capacity});
  out_[to].push_back(int(edges_.size()));
  edges_.push_back({from, 0});
}

bool min_cut_graph::levels(int s, int t) {
  std::fill(level_.begin(), level_.end(), -1);
  std::deque<int> queue{s};
  level_[s] = 0;
  while (!queue.empty()) {
    int v = queue.front();
    queue.pop_front();
    for (int e : out_[v])
      if (edges_[e].cap > 0 && level_[edges_[e].to] < 0) {
        level_[edges_[e].to] = level_[v] + 1;
        queue.push_back(edges_[e].to);
      }
  }
  return level_[t] >= 0;
}

int64_t min_cut_graph::push(int v, int t, int64_t limit) {
  if (v == t) return limit;
  for (int& i = next_[v]; i < int(out_[v].size()); ++i) {
    int e = out_[v][i];
    int w = edges_[e].to;
    if (edges_[e].cap <= 0 || level_[w] != level_[v] + 1) continue;
    int64_t pushed = push(w, t, std::min(limit, edges_[e].cap));
    if (pushed > 0) {
      edges_[e].cap -= pushed;
      edges_[e ^ 1].cap += pushed;
      return pushed;
    }
  }
  return 0;
}

int64_t min_cut_graph::max_flow(int s, int t) {
  int64_t flow = 0;
  while (flow < infinite && levels(s, t)) {
    std::fill(next_.begin(), next_.end(), 0);
    while (int64_t pushed = push(s, t, infinite)) {
      flow += pushed;
      if (flow >= infinite) return flow;
    }
  }
  return flow;
}

std::vector<bool> min_cut_graph::source_side(int s) const {
  std::vector<bool> seen(out_.size(), false);
  std::deque<int> queue{s};
  seen[s] = true;
  while (!queue.empty()) {
    int v = queue.front();
    queue.pop_front();
    for (int e : out_[v])
      if (edges_[e].cap > 0 && !seen[edges_[e].to]) {
        seen[edges_[e].to] = true;
        queue.push_back(edges_[e].to);
      }
  }
  return seen;
}

std::vector<bool> min_cut_graph::sink_side(int t) const {
  // w can reach t iff some edge w->v with residual capacity leads to a vertex that can.
  std::vector<bool> seen(out_.size(), false);
  std::deque<int> queue{t};
  seen[t] = true;
  while (!queue.empty()) {
    int v = queue.front();
    queue.pop_front();
    for (int e : out_[v]) {
      // e is v->w; its twin e^1 is w->v with residual capacity edges_[e^1].cap.
      int w = edges_[e].to;
      if (!seen[w] && edges_[e ^ 1].cap > 0) {
        seen[w] = true;
        queue.push_back(w);
      }
    }
  }
  return seen;
}

}  // namespace tessera::model
