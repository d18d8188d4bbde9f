# The conformance suite runs as one CTest entry: every case against every backend. (Per-backend
# entries via --run_test filters did not select what they named with Boost 1.74's template case
# names, so they would have run everything several times.) Labelled "concurrency" as well, so a
# ThreadSanitizer build can run it with `ctest -L concurrency`; tsan.supp, when present, holds
# the suppressions for races reported inside the uninstrumented backend libraries.
set(conformance_tsan_options "halt_on_error=1 second_deadlock_stack=1")
if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/tsan.supp)
  string(APPEND conformance_tsan_options " suppressions=${CMAKE_CURRENT_LIST_DIR}/tsan.supp")
endif()
add_test(NAME ${suite} COMMAND ${target} --log_level=message)
set_tests_properties(${suite} PROPERTIES LABELS "conformance;concurrency" TIMEOUT 1500
                     ENVIRONMENT "TSAN_OPTIONS=${conformance_tsan_options}")
