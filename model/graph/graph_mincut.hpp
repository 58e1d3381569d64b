// Max-flow / min-cut (Dinic) on a small directed graph with int64 capacities.
// The graph analysis uses it to choose the tensors that cross a layer boundary.
#pragma once

#include <cstdint>
#include <vector>

namespace tessera::model {

class min_cut_graph {
public:
  static constexpr int64_t infinite = int64_t(1) << 50;

  explicit min_cut_graph(int vertices);
  void add_edge(int from, int to, int64_t capacity);
  // Maximum flow from s to t (>= infinite means no finite cut exists).
  int64_t max_flow(int s, int t);
  // After max_flow: vertices that can still reach t in the residual graph (the
  // sink side of the minimum cut closest to t).
  std::vector<bool> sink_side(int t) const;
  // After max_flow: vertices reachable from s in the residual graph (the
  // source side of the minimum cut closest to s).
  std::vector<bool> source_side(int s) const;

private:
  struct edge { int to; int64_t cap; };
  bool levels(int s, int t);
  int64_t push(int v, int t, int64_t limit);
  std::vector<edge> edges_;
  std::vector<std::vector<int>> out_;
  std::vector<int> level_, next_;
};

}  // namespace tessera::model
