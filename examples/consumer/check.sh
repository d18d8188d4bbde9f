#!/usr/bin/env bash
# Proves the installed CMake package stands on its own: copies the installed prefix and this
# consumer to a scratch directory outside the Telos tree, builds and runs the consumer there, and
# fails if any of its compile commands, dependency files or cache mention the Telos source or
# build tree. Copying the prefix also proves the package is relocatable.
# Usage: examples/consumer/check.sh PREFIX   (PREFIX: where `cmake --install` put Telos)
set -euo pipefail
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 INSTALLED_PREFIX" >&2
  exit 2
fi
prefix=$(cd "$1" && pwd)
consumer_src=$(cd "$(dirname "$0")" && pwd)
telos_root=$(cd "$consumer_src/../.." && pwd)
jobs=${TELOS_JOBS:-$(nproc)}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/telos-consumer-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
case "$scratch/" in "$telos_root"/*)
  echo "$0: the scratch directory $scratch must lie outside $telos_root (set TMPDIR)" >&2
  exit 2 ;;
esac
cp -r "$prefix" "$scratch/prefix"
mkdir "$scratch/src"
cp "$consumer_src/CMakeLists.txt" "$consumer_src/main.cpp" "$scratch/src/"

cmake -S "$scratch/src" -B "$scratch/build" -DCMAKE_PREFIX_PATH="$scratch/prefix" \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
cmake --build "$scratch/build" -j "$jobs"

# Text files only (-I): the static libraries legitimately carry their own source paths in their
# debug information, which ends up in the consumer's binary.
if leaks=$(grep -rIl -- "$telos_root" "$scratch/build"); then
  echo "consumer: the build saw the Telos tree ($telos_root) in:" >&2
  echo "$leaks" >&2
  grep -rIoh -- "$telos_root[^ \"';]*" "$scratch/build" | sort -u | head -20 >&2
  exit 1
fi
"$scratch/build/telos-consumer"
