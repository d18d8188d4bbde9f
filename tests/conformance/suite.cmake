# The conformance suite runs as one CTest entry per backend, so `ctest -j` runs the backends in
# parallel. The concurrency cases get entries of their own, labelled "concurrency", so that a
# ThreadSanitizer build can run just them (`ctest -L concurrency`, stage 3 of scripts/test.sh).
# The filters select by Boost's template case names, "case<lmdb_backend>". Note that Boost 1.74's
# --list_content ignores --run_test and always lists all cases; to see what an entry runs, use
# --log_level=test_suite (conformance_lmdb enters 165 cases, all "<lmdb_backend>", and
# conformance_concurrency_lmdb the 9 concurrency ones).
#
# TSAN_OPTIONS: librocksdb and liblmdb are not built with ThreadSanitizer. RocksDB's memtable skip
# list publishes a new entry with a release store that readers pair with acquire loads, both inside
# the library; TSan sees the library's memcpy (through its interceptor) and our reader's access to
# the returned slice, but not the synchronisation, and reports races that cannot happen (and cannot
# restore the writer's stack, so no suppression pattern matches them).
# ignore_noninstrumented_modules=1 makes interceptors called from uninstrumented libraries record
# no accesses; every access made by our own code, between our own threads, is still checked.
set(suite_libs telos::storage)
set(conformance_tsan_options "halt_on_error=1 second_deadlock_stack=1 history_size=7 ignore_noninstrumented_modules=1")
foreach(backend memory rocksdb lmdb)
  add_test(NAME ${suite}_${backend}
           COMMAND ${target} --log_level=message "--run_test=!concurrency"
                   "--run_test=*/*<${backend}_backend>")
  set_tests_properties(${suite}_${backend} PROPERTIES LABELS "conformance" TIMEOUT 600)
  add_test(NAME ${suite}_concurrency_${backend}
           COMMAND ${target} --log_level=message "--run_test=concurrency/*<${backend}_backend>")
  set_tests_properties(${suite}_concurrency_${backend} PROPERTIES
    LABELS "conformance;concurrency" TIMEOUT 600
    ENVIRONMENT "TSAN_OPTIONS=${conformance_tsan_options}")
endforeach()
