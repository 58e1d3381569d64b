// Role DP (docs/planner.md "Role DP"): for position-free costs (uniform
// layers, no cached weights) a stage's cost depends only on its worker, its
// length and its role (first / middle / last / only), so chosen stages can be
// arranged in any order. State: (workers considered k, layers covered L, roles
// placed f) -> best objective. O(m * n * n * 4); exact over every worker
// subset, order and cut.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>

#include "planner/partition_detail.hpp"

namespace tessera::planner::detail {
namespace {

enum role : int { middle = 0, first = 1, last = 2, only = 3 };
constexpr int kSkip = 7;

layer_range role_range(int role_id, int len, int n) {
  switch (role_id) {
    case first: return {0, len};
    case last: return {n - len, n};
    case only: return {0, n};
    default: return {1, 1 + len};
  }
}

}  // namespace

bool position_free(const model_profile& model, const std::vector<worker_profile>& workers) {
  // The last layer's boundary never crosses a link (the last stage returns a token id).
  const layer_profile& a = model.layers.front();
  for (size_t l = 0; l < model.layers.size(); ++l) {
    const layer_profile& b = model.layers[l];
    if (a.param_bytes != b.param_bytes || a.flops_per_token != b.flops_per_token ||
        a.kv_bytes_per_token != b.kv_bytes_per_token)
      return false;
    if (l + 1 < model.layers.size() && a.boundary_bytes_per_token != b.boundary_bytes_per_token) return false;
  }
  for (const auto& w : workers)
    for (const auto& c : w.cached_layers)
      if (!c.empty()) return false;
  return true;
}

// Returns the stages in pipeline order, or an empty vector when nothing fits.
std::vector<assignment> role_dp(const model_profile& model, const std::vector<worker_profile>& workers,
                                const planner_options& options, double stage_cap) {
  const int n = model.num_layers();
  const int m = static_cast<int>(workers.size());
  const cost_model cm(model, options);
  const objective goal = options.goal;
  // cost[(k * 4 + role) * (n + 1) + len]
  const auto N1 = static_cast<size_t>(n + 1);
  std::vector<double> cost(static_cast<size_t>(m) * 4 * N1, inf);
  for (int k = 0; k < m; ++k) {
    const worker_profile& w = workers[static_cast<size_t>(k)];
    auto at = [&](int r, int len) -> double& { return cost[(static_cast<size_t>(k) * 4 + r) * N1 + len]; };
    at(only, n) = cm.stage_ms(w, role_range(only, n, n));
    // Costs are infinite from the first length that does not fit on (memory grows with length).
    for (int r : {first, last, middle}) {
      const int longest = r == middle ? n - 2 : n - 1;
      for (int len = 1; len <= longest; ++len)
        if ((at(r, len) = cm.stage_ms(w, role_range(r, len, n))) == inf) break;
    }
  }
  // dp[(k * (n + 1) + L) * 4 + f], choice packs len * 8 + role (kSkip for skip).
  const size_t layer_states = N1 * 4;
  std::vector<double> dp(static_cast<size_t>(m + 1) * layer_states, inf);
  std::vector<int32_t> choice(dp.size(), -1);
  dp[0] = 0;
  for (int k = 0; k < m; ++k) {
    const double* cur = &dp[static_cast<size_t>(k) * layer_states];
    double* nxt = &dp[static_cast<size_t>(k + 1) * layer_states];
    int32_t* nch = &choice[static_cast<size_t>(k + 1) * layer_states];
    const double* ck = &cost[static_cast<size_t>(k) * 4 * N1];
    for (int L = 0; L <= n; ++L) {
      for (int f = 0; f < 4; ++f) {
        const double v = cur[L * 4 + f];
        if (v == inf) continue;
        auto relax = [&](int L2, int f2, double value, int32_t ch) {
          double& slot = nxt[L2 * 4 + f2];
          if (value < slot) {
            slot = value;
            nch[L2 * 4 + f2] = ch;
          }
        };
        relax(L, f, v, kSkip);
        const int room = n - L;
        for (int r = 0; r < 4; ++r) {
          const int bit = r == only ? 3 : r;
          if (r == only && (f != 0 || L != 0)) continue;
          if (r != middle && r != only && (f & bit)) continue;
          const double* row = ck + static_cast<size_t>(r) * N1;
          const int lo = r == only ? n : 1;
          for (int len = lo; len <= room; ++len) {
            const double c = row[len];
            if (c == inf) break;  // longer ranges need more memory: infinite too
            if (c > stage_cap) continue;
            relax(L + len, f | bit, combine(goal, v, c), len * 8 + r);
          }
        }
      }
    }
  }
  if (dp[static_cast<size_t>(m) * layer_states + static_cast<size_t>(n) * 4 + 3] == inf) return {};
  // Walk back: which worker took which role and length.
  int first_worker = -1, first_len = 0, last_worker = -1, last_len = 0;
  std::vector<std::pair<int, int>> middles;  // (worker, len)
  int L = n, f = 3;
  for (int k = m; k > 0; --k) {
    const int32_t ch = choice[static_cast<size_t>(k) * layer_states + static_cast<size_t>(L) * 4 + static_cast<size_t>(f)];
    if (ch == kSkip) continue;
    const int r = ch % 8, len = ch / 8;
    const int w = k - 1;
    if (r == only || r == first) { first_worker = w; first_len = len; }
    if (r == last) { last_worker = w; last_len = len; }
    if (r == middle) middles.push_back({w, len});
    L -= len;
    if (r != middle) f &= ~(r == only ? 3 : r);
  }
  std::vector<assignment> out;
  int at = 0;
  out.push_back({first_worker, {0, first_len}});
  at = first_len;
  std::reverse(middles.begin(), middles.end());
  for (const auto& [w, len] : middles) {
    out.push_back({w, {at, at + len}});
    at += len;
  }
  if (last_worker >= 0) out.push_back({last_worker, {at, at + last_len}});
  return out;
}

}  // namespace tessera::planner::detail
