#!/usr/bin/env bash
# Installs everything, builds, and runs every test: the normal build, a consumer built against the
# installed CMake package, the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, and
# the concurrency cases under ThreadSanitizer, and every fuzz target on its corpus for a few seconds.
# Set TELOS_SKIP_SANITIZE=1 to skip both sanitizer passes, TELOS_SKIP_FUZZ=1 the fuzz stage.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=${TELOS_JOBS:-$(nproc)}
# The plain and the ASan tree are unity builds (scripts/build.sh's TELOS_UNITY): batches of sources
# per translation unit instantiate CAF's templates once per batch instead of once per source
# (README.md, "Unity build in CI", has the measurements). The ASan tree uses batches of 8, so that
# the heavy actor sources, which compile for minutes each at -O0 under ASan, do not all land in one
# unit on the critical path. TELOS_UNITY in the environment (N or "all") sets both batch sizes.
# The TSan tree is never a unity build: its unity test executables crashed at load (SIGSEGV in a
# target_clones resolver of storage/vector_kernels.cpp, which the loader runs before the TSan
# runtime is up; keeping that one source out of the unity batches did not help), while the same
# tree built one object per source passes.
plain_unity=${TELOS_UNITY:-16}
asan_unity=${TELOS_UNITY:-8}
# Sanitizer trees are Debug builds with line tables only (-g1): a report still names file and line
# of every frame, and full debug info costs compile time and links 300 MB binaries.
sanitizer_debug_flags=(-DCMAKE_CXX_FLAGS_DEBUG=-g1)

stage() { echo "== $(date +%T) $*"; }

# Runs ctest in build tree $1 with the remaining arguments, keeping its output in $1/ctest.log so
# that the slowest entries can be listed at the end.
ctest_logs=()
run_ctest() {
  local dir=$1
  shift
  ctest_logs+=("$dir/ctest.log")
  (cd "$dir" && ctest --output-on-failure -j "$jobs" "$@" 2>&1 | tee ctest.log)
}

# Prints the slowest CTest entries of every stage that ran (README.md, "CI", says what they were).
slowest_entries() {
  local log
  for log in "${ctest_logs[@]}"; do
    [ -f "$log" ] || continue
    echo "-- slowest entries of $(dirname "$log"):"
    awk '/ Test +#[0-9]+: / { for (i = 1; i <= NF; ++i) if ($i == "sec") printf "%8.1f s  %s\n", $(i-1), $4 }' \
      "$log" | sort -rn | sed -n 1,8p
  done
  # A listing never fails the run (under pipefail, `head` closing the pipe early once gave 141).
  return 0
}

# Optimised as RelWithDebInfo (-O2) but without debug info: -g costs a quarter of the compile
# time of our CAF-heavy sources, and a test failure is reproduced in a developer's own build.
stage "build (-O2, -Werror)"
TELOS_UNITY=$plain_unity TELOS_BUILD_TYPE=Release scripts/build.sh build -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DTELOS_BUILD_APPS=ON -DTELOS_BUILD_BENCH=ON -DTELOS_BUILD_TESTS=ON
stage "tests"
# The Node packages of the HTTP client suite (tests/http), pinned in its package-lock.json.
scripts/setup-http-tests.sh
trap slowest_entries ERR
run_ctest build

stage "installed package + example consumer"
rm -rf build/_install
cmake --install build --prefix "$PWD/build/_install" >/dev/null
examples/consumer/check.sh build/_install

if [ "${TELOS_SKIP_FUZZ:-0}" != 1 ]; then
  # Every libFuzzer target on its committed corpus, then 2000 mutations from a fixed seed
  # (deterministic; docs/FUZZ.md); a clang tree of the messages and storage layers only.
  stage "fuzz targets on their corpora"
  TELOS_FUZZ_RUNS=2000 scripts/fuzz.sh
fi

if [ "${TELOS_SKIP_SANITIZE:-0}" != 1 ]; then
  asan_options=${ASAN_OPTIONS:-detect_leaks=1}
  stage "build and tests under ASan + UBSan"
  TELOS_UNITY=$asan_unity TELOS_BUILD_TYPE=Debug scripts/build.sh build-asan -DTELOS_SANITIZE=address,undefined \
    "${sanitizer_debug_flags[@]}" -DTELOS_BUILD_TESTS=ON -DTELOS_BUILD_APPS=ON -DTELOS_BUILD_BENCH=OFF
  ASAN_OPTIONS=$asan_options UBSAN_OPTIONS=print_stacktrace=1 run_ctest build-asan

  stage "concurrency tests under ThreadSanitizer"
  # Only the storage layer and the conformance suite are built, and only the cases labelled
  # "concurrency" run: many readers and writers on each backend from threads of their own. (CAF
  # comes uninstrumented from Debian, so the actor suites are left to ASan.)
  TELOS_UNITY= TELOS_BUILD_TYPE=Debug TELOS_TARGETS=telos_conformance_tests \
    scripts/build.sh build-tsan "${sanitizer_debug_flags[@]}" \
    -DTELOS_SANITIZE=thread -DTELOS_BUILD_TESTS=ON -DTELOS_BUILD_APPS=OFF
  run_ctest build-tsan -L concurrency
fi
trap - ERR
slowest_entries
stage "all tests passed"
