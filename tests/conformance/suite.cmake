# The conformance suite runs as one CTest entry per backend, so `ctest -j` runs the backends in
# parallel. The concurrency cases get entries of their own, labelled "concurrency", so that a
# ThreadSanitizer build can run just them (`ctest -L concurrency`); tsan.supp, when present, holds
# the suppressions for races reported inside the uninstrumented backend libraries.
# The filters select by Boost's template case names, "case<lmdb_backend>". Note that Boost 1.74's
# --list_content ignores --run_test and always lists all cases; to see what an entry runs, use
# --log_level=test_suite (conformance_lmdb enters 165 cases, all "<lmdb_backend>", and
# conformance_concurrency_lmdb the 8 concurrency ones).
set(conformance_tsan_options "halt_on_error=1 second_deadlock_stack=1")
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/tsan.supp)
  string(APPEND conformance_tsan_options " suppressions=${CMAKE_CURRENT_LIST_DIR}/tsan.supp")
endif()
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
