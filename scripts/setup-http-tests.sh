#!/usr/bin/env bash
# Installs the Node packages of tests/http (@qdrant/js-client-rest, @langchain/qdrant and
# @langchain/core, pinned in tests/http/package-lock.json) with `npm ci`. Idempotent: does nothing
# when node_modules was installed from the same lock file. Needs Node 20+ with npm on the PATH.
set -euo pipefail
cd "$(dirname "$0")/../tests/http"
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "setup-http-tests: node and npm are needed for tests/http (Node 20 or newer)" >&2
  exit 1
fi
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f node_modules/.telos-lock-sum ] && [ "$(cat node_modules/.telos-lock-sum)" = "$lock_sum" ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$lock_sum" >node_modules/.telos-lock-sum
