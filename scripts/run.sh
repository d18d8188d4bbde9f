#!/usr/bin/env bash
# Installs everything, builds, and runs the main job: telos-stress with its defaults (about a
# minute on 2 cores). Extra arguments go to telos-stress, e.g. scripts/run.sh --backend lmdb.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build -DTELOS_BUILD_APPS=ON -DTELOS_BUILD_TESTS=OFF
exec build/bin/telos-stress "$@"
