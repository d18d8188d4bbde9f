#!/usr/bin/env bash
# Configures and builds one build tree. Usage: scripts/build.sh DIR [cmake args...]
# TELOS_TARGETS="a b" builds just those targets (default: all).
# TELOS_UNITY=N builds as a unity build (CMAKE_UNITY_BUILD) of N sources per translation unit,
# TELOS_UNITY=all one translation unit per target; unset or empty: one per source (the default,
# what ccache caches best). scripts/test.sh, i.e. CI, builds with unity on (README.md says why).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
shift
jobs=${TELOS_JOBS:-$(nproc)}
launcher=()
# ccache (optional) lets several build trees of the same sources share compiled objects.
if command -v ccache >/dev/null 2>&1 && [ "${CI:-}" != true ]; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
unity=(-DCMAKE_UNITY_BUILD=OFF)
case "${TELOS_UNITY:-}" in
  "") ;;
  all) unity=(-DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=0) ;;
  *[!0-9]* | 0*)
    echo "scripts/build.sh: TELOS_UNITY='$TELOS_UNITY' is neither a positive batch size nor 'all'" >&2
    exit 2
    ;;
  *) unity=(-DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE="$TELOS_UNITY") ;;
esac
cmake -S . -B "$dir" "${launcher[@]}" "${unity[@]}" -DCMAKE_BUILD_TYPE=${TELOS_BUILD_TYPE:-RelWithDebInfo} -DTELOS_WERROR=ON "$@" >/dev/null
targets=()
for t in ${TELOS_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$dir" -j "$jobs" "${targets[@]}"
