#!/usr/bin/env bash
# Installs everything, builds, and runs the main job: telos-stress with its defaults (about a
# minute on 2 cores). Extra arguments go to telos-stress, e.g. scripts/run.sh --backend lmdb.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Builds just telos-stress, without touching the build tree's options: a tree configured with the
# tests keeps building them (an earlier version set TELOS_BUILD_TESTS=OFF here, and a developer's
# later `ctest` in build/ then ran stale test binaries).
TELOS_TARGETS=telos-stress scripts/build.sh build -DTELOS_BUILD_APPS=ON
exec build/bin/telos-stress "$@"
