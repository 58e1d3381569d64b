#!/usr/bin/env bash
# Flakiness proof: runs the whole integration label RUNS times in a row with
# `ctest -j2` while `stress-ng --cpu 2` loads both cores beside it, and stops
# at the first run with a failure. Each run's full ctest output is kept in
# LOGDIR/run-K.log, so a failure can be read afterwards.
#   bench/soak/integration_runs.sh BUILD_DIR [RUNS] [LOGDIR]
# Prints one line per run (passed/failed counts, seconds, load average) and a
# last line "consecutive passing runs: K of RUNS". Exit 0 only if all passed.
set -u
build=${1:?usage: integration_runs.sh BUILD_DIR [RUNS] [LOGDIR]}
runs=${2:-10}
logdir=${3:-$build/integration-runs}
[[ -f $build/CTestTestfile.cmake ]] || { echo "integration_runs: $build has no CTestTestfile.cmake (build first)" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "integration_runs: RUNS must be a positive integer, got '$runs'" >&2; exit 2; }
command -v stress-ng >/dev/null || { echo "integration_runs: stress-ng is missing (scripts/install-deps.sh installs it)" >&2; exit 2; }
mkdir -p "$logdir"

stress_pid=
stop_stress() { [[ -n $stress_pid ]] && kill "$stress_pid" 2>/dev/null; wait "$stress_pid" 2>/dev/null; stress_pid=; }
trap stop_stress EXIT INT TERM

passed_runs=0
for ((k = 1; k <= runs; k++)); do
  stress-ng --cpu 2 --quiet & stress_pid=$!
  start=$(date +%s)
  ctest --test-dir "$build" -L integration -j2 --output-on-failure > "$logdir/run-$k.log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  stop_stress
  summary=$(grep -E '^[0-9]+% tests passed' "$logdir/run-$k.log" || echo "no summary")
  echo "run $k/$runs: $summary; ${secs} s; load average $load; log $logdir/run-$k.log"
  if (( rc != 0 )); then
    grep -E '^\s+[0-9]+ - ' "$logdir/run-$k.log" | sed 's/^/  failed: /'
    break
  fi
  passed_runs=$k
done
echo "consecutive passing runs: $passed_runs of $runs"
(( passed_runs == runs ))
