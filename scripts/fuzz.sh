#!/usr/bin/env bash
# Builds the fuzz tree (clang, libFuzzer, ASan+UBSan; only the messages/ and storage/ layers the
# targets link, as a unity build) and runs every fuzz target on its committed corpus
# (fuzz/corpus/<target>) for a few seconds. New inputs go to a scratch directory, never into the
# committed corpus. Exit status 1 when a target finds a crash, a leak, a sanitizer report, an
# allocation above 512 MB or an input slower than 10 s (the input is kept under DIR/artifacts).
# Usage: scripts/fuzz.sh [SECONDS per target, default 5]; TELOS_FUZZ_DIR (default build-fuzz).
# TELOS_FUZZ_RUNS=N (what CI sets) makes the run deterministic instead: every corpus input once,
# then N mutations from a fixed seed, so a CI run fails only on what the code does, not on what a
# random exploration happened to reach (long explorations are documented commands, docs/FUZZ.md).
# Long runs: docs/FUZZ.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
dir=${TELOS_FUZZ_DIR:-build-fuzz}
scripts/setup.sh
TELOS_UNITY=16 TELOS_TARGETS=telos_fuzz TELOS_BUILD_TYPE=RelWithDebInfo scripts/build.sh "$dir" \
  -DCMAKE_CXX_COMPILER="$(command -v clang++)" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DTELOS_FUZZ=ON -DTELOS_SANITIZE=address,undefined -DTELOS_BUILD_APPS=OFF -DTELOS_BUILD_TESTS=OFF
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# fuzz_seeds is built and run too (into the scratch directory, not the committed corpus), so a
# change that breaks it, or makes it fail, is seen here rather than when the corpus is next
# regenerated.
cmake --build "$dir" --target fuzz_seeds -j"${TELOS_JOBS:-$(nproc)}" >&2
if ! "$dir/bin/fuzz_seeds" "$scratch/seeds" >"$scratch/seeds.log" 2>&1; then
  cat "$scratch/seeds.log" >&2
  echo "fuzz: FAILED: fuzz_seeds could not write the seed corpora" >&2
  exit 1
fi
echo "fuzz: fuzz_seeds wrote $(find "$scratch/seeds" -type f | wc -l) seeds" >&2
mkdir -p "$dir/artifacts"
failed=()
for target in envelope key_codec index_snapshot json import_line interner caf_message; do
  dict=()
  case $target in json | import_line) dict=(-dict=fuzz/json.dict) ;; esac
  mkdir -p "$scratch/$target"
  echo "fuzz: fuzz_$target for ${seconds}s" >&2
  budget=(-max_total_time="$seconds")
  if [ -n "${TELOS_FUZZ_RUNS:-}" ]; then
    budget=(-seed=1 -runs="$TELOS_FUZZ_RUNS")
  fi
  if ! "$dir/bin/fuzz_$target" "${dict[@]}" "${budget[@]}" -rss_limit_mb=2048 \
    -malloc_limit_mb=512 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$target-" "$scratch/$target" "fuzz/corpus/$target" \
    >"$scratch/$target.log" 2>&1; then
    tail -n 60 "$scratch/$target.log" >&2
    failed+=("$target")
  else
    grep -E '^stat::number_of_executed_units|^Done' "$scratch/$target.log" | tr '\n' ' ' >&2
    echo >&2
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (inputs under $dir/artifacts)" >&2
  exit 1
fi
echo "fuzz: every target ran clean" >&2
