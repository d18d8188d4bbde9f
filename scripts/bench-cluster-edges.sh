#!/bin/bash
# Cost of a cross-shard edge write in a telosd cluster (docs/BENCHMARKS.md, "Cross-shard edge
# writes in a cluster"). Usage: scripts/bench-cluster-edges.sh BIN_DIR LABEL N
# A 2-shard loopback cluster (two shard nodes, one coordinator); N cross-shard and N same-shard
# `telos edge add` calls, alternating; prints mean ms per call of each.
B=$1; L=$2; N=$3
D=$(mktemp -d /tmp/telos-bench-edges.XXXX); cd $D
echo '{"name":"b","embedders":[{"name":"E1","kind":"dense","dim":8,"metric":"cosine"},{"name":"E2","kind":"sparse","dim":100}]}' > profile.json
$B/telosd --data-dir a --shard-count 2 --shard-id 0 --profile profile.json > a.out 2>a.err & PA=$!
$B/telosd --data-dir b --shard-count 2 --shard-id 1 --profile profile.json > b.out 2>b.err & PB=$!
addr() { for t in $(seq 100); do l=$(head -1 $1 2>/dev/null); [ -n "$l" ] && { echo "$l" | python3 -c 'import json,sys;print(json.load(sys.stdin)["listening"])'; return; }; sleep 0.1; done; }
A=$(addr a.out); BB=$(addr b.out)
$B/telosd --coordinator --shards $A,$BB --data-dir c > c.out 2>c.err & PC=$!
C=$(addr c.out)
# Ids 1 and 7 live on shard 0, id 0 on shard 1 (stable_hash % 2).
for i in 0 1 7; do echo '{"id":"00000000-0000-4000-8000-00000000000'$i'","content":"m'$i'","embeddings":{"E1":[1,0,0,0,0,0,0,0.5],"E2":{"indices":[1],"values":[0.5]}}}'; done > in.jsonl
$B/telos --connect $C import in.jsonl --batch 1 > /dev/null
X=00000000-0000-4000-8000-000000000001; Y=00000000-0000-4000-8000-000000000000; Z=00000000-0000-4000-8000-000000000007
cross=0; same=0
for i in $(seq $N); do
  t0=$(date +%s%N); $B/telos --connect $C edge add $X t$i $Y > /dev/null || echo FAIL cross; t1=$(date +%s%N)
  $B/telos --connect $C edge add $X t$i $Z > /dev/null || echo FAIL same; t2=$(date +%s%N)
  cross=$((cross + t1 - t0)); same=$((same + t2 - t1))
done
echo "$L cross-shard $(echo "scale=1; $cross/$N/1000000" | bc) ms  same-shard $(echo "scale=1; $same/$N/1000000" | bc) ms  (N=$N, load $(cut -d' ' -f1 /proc/loadavg))"
kill $PC; wait $PC; kill $PA $PB; wait $PA $PB 2>/dev/null
cd /; rm -rf $D
