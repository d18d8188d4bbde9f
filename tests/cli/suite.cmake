# The cli suite runs the real telos and telos-stress binaries, passed after "--"; without the apps
# there is nothing to run. Each test case is a CTest entry of its own (telos_add_case_tests), so
# `ctest -j` spreads them. Three more entries run telos-stress itself, small and short: a load run
# with the full check, and crash cycles that SIGKILL a writer process, so CI proves durability on
# every change.
if(TARGET telos-cli AND TARGET telos-stress)
  add_dependencies(${target} telos-cli telos-stress)
  telos_add_case_tests(cli_cases cli ${target} cli ${dir}/cli_test.cpp
                       ARGS -- $<TARGET_FILE:telos-cli> $<TARGET_FILE:telos-stress>)
  # Slowest case under ASan+UBSan: 30 s (cli.cross_shard_edge_writes_survive_a_kill_between_the_two_shards,
  # fresh-clone CI run of 2f9b75f, 2026-12-02, 2-core development machine, ctest -j2), so 300 s is 10x.
  telos_test_timeout(300 ${cli_cases})
  add_test(NAME ${suite}_stress_load
           COMMAND $<TARGET_FILE:telos-stress> --profile small --memories 400 --duration 3
                   --writers 2 --readers 2 --quiet)
  # Both crash runs checkpoint their indexes every 20 changed vectors, so kills also land while
  # snapshots are written and their markers recorded, and reopens load a checkpoint.
  add_test(NAME ${suite}_stress_crash
           COMMAND $<TARGET_FILE:telos-stress> --crash 5 --profile small --memories 300
                   --kill-min-ms 100 --kill-max-ms 400 --checkpoint-every 20 --quiet)
  add_test(NAME ${suite}_stress_crash_lmdb_sync
           COMMAND $<TARGET_FILE:telos-stress> --crash 3 --backend lmdb --sync --profile small
                   --memories 300 --kill-min-ms 100 --kill-max-ms 400 --checkpoint-every 20
                   --quiet)
  # Injected disk faults (one cycle of each kind) and simulated power cuts with sync writes:
  # no abort, nothing acknowledged lost, writes resume without a reopen (docs/STRESS.md).
  # Both with checkpoints every 20 changed vectors: faults and cuts also hit snapshot files.
  add_test(NAME ${suite}_stress_faults
           COMMAND $<TARGET_FILE:telos-stress> --faults 5 --profile small --memories 300
                   --checkpoint-every 20 --quiet)
  add_test(NAME ${suite}_stress_power_loss_sync
           COMMAND $<TARGET_FILE:telos-stress> --power-loss 4 --sync --profile small
                   --memories 300 --checkpoint-every 20 --quiet)
  # Overload: 20 writers (ten per core on the 2-core machine) against a limit of 4 writes in
  # flight: writers must be pushed back ('overloaded', then a retry after a back-off), every
  # acknowledged write is checked as in the load run, and resident memory stays bounded (the
  # bound is generous: a plain run peaks near 100 MiB, ASan adds its shadow memory).
  add_test(NAME ${suite}_stress_push_back
           COMMAND $<TARGET_FILE:telos-stress> --profile small --memories 400 --duration 2
                   --writers 20 --readers 2 --max-inflight-writes 4 --require-push-back
                   --max-rss-mib 1024 --quiet)
  # Slowest of these under ASan+UBSan: 21 s (cli_stress_crash, same run), so 300 s is 14x.
  telos_test_timeout(300 ${suite}_stress_load ${suite}_stress_push_back ${suite}_stress_crash
                     ${suite}_stress_crash_lmdb_sync ${suite}_stress_faults
                     ${suite}_stress_power_loss_sync)
  # The same on LMDB, whose file calls are faulted through libfiu's POSIX preload library
  # (telos-stress starts itself again with it; scripts/setup.sh installs fiu-utils). About 2 s
  # each in a plain tree. In a sanitizer tree too: the restart puts the sanitizer runtime first in
  # LD_PRELOAD, ahead of libfiu (storage/posix_faults.cpp), as ASan requires.
  add_test(NAME ${suite}_stress_faults_lmdb
           COMMAND $<TARGET_FILE:telos-stress> --faults 5 --backend lmdb --profile small
                   --memories 300 --checkpoint-every 20 --quiet)
  add_test(NAME ${suite}_stress_power_loss_lmdb_sync
           COMMAND $<TARGET_FILE:telos-stress> --power-loss 4 --sync --backend lmdb
                   --profile small --memories 300 --checkpoint-every 20 --quiet)
  telos_test_timeout(120 ${suite}_stress_faults_lmdb ${suite}_stress_power_loss_lmdb_sync)
endif()
# telos-bench scale, tiny: a child ingests 400 teleo13 memories with every acknowledgement logged,
# a second child is killed with SIGKILL halfway (the run fails if an acknowledged memory is
# missing after the reopen), and every embedder and the fused search must find the exact top 10
# (below the HNSW threshold every index is exact). The bench is built in the plain stage only.
if(TARGET telos-bench)
  add_test(NAME bench_scale_smoke
           COMMAND $<TARGET_FILE:telos-bench> scale --n 400 --compare-n 200 --queries 5
                   --crash-n 200 --min-recall 0.99 --plot "" --dir ${CMAKE_CURRENT_BINARY_DIR}/bench-scale-smoke)
  # Plain build, loaded machine (load 20): 19 s.
  telos_test_timeout(300 bench_scale_smoke)
endif()

