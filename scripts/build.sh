#!/usr/bin/env bash
# Configures and builds one build tree. Usage: scripts/build.sh DIR [cmake args...]
# TELOS_TARGETS="a b" builds just those targets (default: all).
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
cmake -S . -B "$dir" "${launcher[@]}" -DCMAKE_BUILD_TYPE=${TELOS_BUILD_TYPE:-RelWithDebInfo} -DTELOS_WERROR=ON "$@" >/dev/null
targets=()
for t in ${TELOS_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$dir" -j "$jobs" "${targets[@]}"
