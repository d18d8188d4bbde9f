#!/usr/bin/env bash
# Runs telos-bench cluster in process and against telosd clusters of 1, 2 and 4 shard nodes on
# loopback (one coordinator), printing one JSON line per run. Usage:
#   scripts/bench-cluster.sh BUILD_DIR [telos-bench cluster options...]
# e.g. scripts/bench-cluster.sh build --memories 20000 --dim 128 --clients 4
set -euo pipefail
build=$1
shift
bin=$build/bin
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
dim=128
args=("$@")
for ((i = 0; i < ${#args[@]}; ++i)); do
  if [ "${args[$i]}" = --dim ]; then dim=${args[$((i + 1))]}; fi
done
printf '{"name":"bench-cluster","embedders":[{"name":"E1","kind":"dense","dim":%s,"metric":"cosine"},{"name":"E2","kind":"sparse","dim":30522}]}' "$dim" >"$work/profile.json"
# Waits (bounded) for a node's "listening" line and prints its address.
address_of() {
  for _ in $(seq 300); do
    if [ -s "$1" ]; then
      sed -n 's/.*"listening":"\([^"]*\)".*/\1/p' "$1" | head -1
      return
    fi
    sleep 0.1
  done
  echo "node did not start: $(cat "$1.err" 2>/dev/null)" >&2
  exit 1
}
for shards in 1 2 4; do
  "$bin/telos-bench" cluster --local-shards "$shards" --data-dir "$work/local" "$@"
done
for shards in 1 2 4; do
  addresses=()
  for ((s = 0; s < shards; ++s)); do
    out=$work/n$shards-$s.out
    "$bin/telosd" --shard-id "$s" --shard-count "$shards" --data-dir "$work/n$shards-$s" \
      --profile "$work/profile.json" >"$out" 2>"$out.err" &
    pids+=($!)
    addresses+=("$(address_of "$out")")
  done
  list=$(IFS=,; echo "${addresses[*]}")
  out=$work/c$shards.out
  "$bin/telosd" --coordinator --shards "$list" --data-dir "$work/c$shards" >"$out" 2>"$out.err" &
  pids+=($!)
  "$bin/telos-bench" cluster --connect "$(address_of "$out")" "$@"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
done
