#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, build-fuzz/) and runs each
# for SECONDS seconds, one after another under `nice -n 19`, starting from the
# kept seed corpus in tests/fuzz/corpus/<target>/. New inputs go to a scratch
# corpus in build-fuzz/corpus/<target>/ (the kept one is not touched); crash
# inputs land in build-fuzz/crashes/<target>/. Prints one line per target and
# exits non-zero when any target crashed.
#
#   bench/fuzz/run.sh SECONDS [TARGET...]      (default: every target)
#   JOBS=2 bench/fuzz/run.sh 600               (JOBS targets at a time)
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:?usage: bench/fuzz/run.sh SECONDS [TARGET...]}
shift
all_targets=(fuzz_wire_codec fuzz_client_json fuzz_openai_request fuzz_node_config
             fuzz_tokenizer_json fuzz_tokenizer_model fuzz_safetensors fuzz_onnx_inspector)
targets=("${@:-${all_targets[@]}}")
jobs=${JOBS:-1}
build=${BUILD_DIR:-build-fuzz}

if ! command -v "${CXX:-clang++}" >/dev/null; then
  echo "run.sh: ${CXX:-clang++} not found; libFuzzer needs clang (Debian: apt-get install clang)" >&2
  exit 2
fi
CC=${CC:-clang} CXX=${CXX:-clang++} cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_FUZZ=ON >/dev/null
nice -n 19 cmake --build "$build" -j "$jobs" --target "${targets[@]}" >/dev/null

# Runs one target; its log is $build/fuzz-logs/<target>.log.
run_target() {
  local t=$1
  local kept=tests/fuzz/corpus/$t work=$build/corpus/$t crashes=$build/crashes/$t
  rm -rf "$crashes"
  mkdir -p "$work" "$crashes" "$build/fuzz-logs"
  local dict=()
  [[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
  # -timeout: an input that takes this long is a hang (reported like a crash).
  # -rss_limit_mb/-malloc_limit_mb: runaway allocations are bugs too.
  TMPDIR=$scratch nice -n 19 "$build/tests/fuzz/$t" "$work" "$kept" "${dict[@]}" -max_total_time="$seconds" \
    -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$crashes/" >"$build/fuzz-logs/$t.log" 2>&1 || true
}

report() {
  local t=$1 log=$build/fuzz-logs/$1.log
  local execs corpus crashes
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  corpus=$(find "$build/corpus/$t" -type f | wc -l)
  crashes=$(find "$build/crashes/$t" -type f | wc -l)
  printf '%-22s %6ss  execs=%-10s corpus=%-6s crashes=%s\n' "$t" "$seconds" "${execs:-?}" "$corpus" "$crashes"
  ((crashes == 0))
}

# Targets whose loaders take a path get their inputs through a scratch file:
# on tmpfs when there is one.
scratch=${TMPDIR:-/tmp}
[[ -d /dev/shm && -w /dev/shm ]] && scratch=/dev/shm

running=0
for t in "${targets[@]}"; do
  run_target "$t" &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n
    running=$((running - 1))
  fi
done
wait

status=0
for t in "${targets[@]}"; do report "$t" || status=1; done
exit $status
