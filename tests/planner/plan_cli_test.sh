#!/bin/sh
# End-to-end checks of `tessera plan` (exit codes, table, --json, errors).
# usage: plan_cli_test.sh TESSERA SOURCE_DIR
set -u
T="$1"; SRC="$2"
STATS="$SRC/tests/planner/data/llama7b_like_stats.json"
WORKERS="$SRC/configs/workers.example.json"
DIR=$(mktemp -d) || exit 1
trap 'rm -rf "$DIR"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# Exit 77 (ctest: skipped) when the executable has not been built in this build dir.
[ -x "$T" ] || { echo "SKIP: $T not built"; exit 77; }

"$T" plan --model "$STATS" --workers "$WORKERS" >"$DIR/out" 2>&1 || fail "example plan exited $?: $(cat "$DIR/out")"
grep -q "^total: " "$DIR/out" || fail "no total line"
grep -q "memory_proportional" "$DIR/out" || fail "no baseline line"

"$T" plan --model "$STATS" --workers "$WORKERS" --objective throughput --context 4096 --json >"$DIR/json" 2>&1 \
  || fail "--json exited $?"
grep -q '"objective": "throughput"' "$DIR/json" || fail "objective missing in json"
grep -q '"predicted_ms_per_token"' "$DIR/json" || fail "predicted_ms_per_token missing in json"
grep -q '"equal_split"' "$DIR/json" || fail "baselines missing in json"

printf '{"workers": [{"id": "tiny", "memory_bytes": -1, "flops_per_s": 1e9, "bandwidth_bytes_per_s": 1e6}]}' >"$DIR/bad.json"
if "$T" plan --model "$STATS" --workers "$DIR/bad.json" >"$DIR/err" 2>&1; then fail "negative memory accepted"; fi
grep -q "worker 'tiny': \"memory_bytes\" must be > 0" "$DIR/err" || fail "error does not name worker and field: $(cat "$DIR/err")"

printf '{"workers": [{"id": "small", "memory_bytes": 1e9, "flops_per_s": 1e9, "bandwidth_bytes_per_s": 1e6}]}' >"$DIR/small.json"
if "$T" plan --model "$STATS" --workers "$DIR/small.json" >"$DIR/err" 2>&1; then fail "infeasible pool exited 0"; fi
grep -q "the pool lacks" "$DIR/err" || fail "infeasible reason missing: $(cat "$DIR/err")"

"$T" plan --model "$STATS" --workers "$WORKERS" --objective fastest >"$DIR/err" 2>&1
[ $? -eq 2 ] || fail "bad --objective is not a usage error"
echo "ok"
