#!/usr/bin/env bash
# The unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer
# (GCC's; no extra packages): configures build-asan/ with TESSERA_SANITIZE=ON,
# builds only the unit tests cmake/Sanitize.cmake lists (no CAF runtime, Beast
# or ONNX) and the fuzz replays of the same code, and runs them.
# Any sanitizer report fails the run. .ci/run calls this after `make test`.
#
#   scripts/test-sanitize.sh [BUILD_DIR]      (default build-asan)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-asan}
jobs=${JOBS:-$(nproc)}

# -O1 (the level ASan documents) and line tables only: cheaper to compile than
# -O2 -g, and enough for the reports' stack traces.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" >/dev/null
cmake --build "$build" -j "$jobs" --target sanitize_unit_tests

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
while read -r exe; do
  [[ -n $exe ]] || continue
  name=$(basename "$exe")
  log=$build/sanitize-logs/$name.log
  mkdir -p "$build/sanitize-logs"
  # Each executable runs in its own build directory, as ctest runs it.
  if (cd "$(dirname "$exe")" && "$exe" >"$OLDPWD/$log" 2>&1); then
    echo "sanitize: $name passed"
  else
    echo "sanitize: $name FAILED (log: $log)"
    tail -n 40 "$log"
    failed+=("$name")
  fi
done <"$build/sanitize_unit_tests.txt"

if ! ctest --test-dir "$build" -L sanitize --output-on-failure -j "$jobs" --timeout 600; then
  failed+=("fuzz replays")
fi

if ((${#failed[@]})); then
  echo "sanitize: failed: ${failed[*]}"
  exit 1
fi
echo "sanitize: every unit test passed under ASan+UBSan"
