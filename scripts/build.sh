#!/usr/bin/env bash
# Configures and builds one build tree. Usage: scripts/build.sh DIR [cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
shift
jobs=${TELOS_JOBS:-$(nproc)}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=${TELOS_BUILD_TYPE:-RelWithDebInfo} -DTELOS_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j "$jobs"
