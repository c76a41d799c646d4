#!/usr/bin/env bash
# README command 2: installs what is missing, builds, and runs every test (unit + integration
# against real throwaway PostgreSQL and mosquitto servers). Ends with a one-line count.
#   tools/test.sh               normal build (build/)
#   tools/test.sh --sanitize    ASan + UBSan build (build-asan/)
#   tools/test.sh -L unit       pass-through ctest arguments (e.g. only unit tests)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"

build=build
cmake_args=()
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) build=build-asan; cmake_args+=(-DBUYT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug) ;;
    *) ctest_args+=("$1") ;;
  esac
  shift
done

tools/install-deps.sh
cmake -S . -B "$build" "${cmake_args[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
stamp=$(mktemp)
start=$(date +%s)
sleep 1 # json reports must be newer than the stamp
set +e
(cd "$build" && ctest --output-on-failure --output-log ctest.log "${ctest_args[@]}")
rc=$?
set -e
secs=$(( $(date +%s) - start ))

# Sum the Criterion reports of the programs this run executed into one closing line.
awk -v secs="$secs" -v build="$build" '
  FNR == 1 { progs++ }
  match($0, /^  "passed": [0-9]+/) { p += substr($0, RSTART + 12, RLENGTH - 12) }
  match($0, /^  "failed": [0-9]+/) { f += substr($0, RSTART + 12, RLENGTH - 12) }
  match($0, /^  "errored": [0-9]+/) { e += substr($0, RSTART + 13, RLENGTH - 13) }
  match($0, /^  "skipped": [0-9]+/) { s += substr($0, RSTART + 13, RLENGTH - 13) }
  END {
    printf "buyt tests (%s): %d programs, %d tests: %d passing, %d failing, %d crashing, %d skipped in %ds\n",
           build, progs, p + f + e + s, p, f, e, s, secs
  }' $(find "$build/test-results" -name '*.json' -newer "$stamp" 2>/dev/null) </dev/null
rm -f "$stamp"
exit $rc
