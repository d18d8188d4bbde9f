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
# RocksDB's cases take most of the time (94 s in one entry on a loaded 2-core machine), so its
# entry is split once more, one per Boost.Test suite: conformance_rocksdb.<suite>. Every suite
# but the disabled damage_probe (run only as a child process) has RocksDB cases.
file(GLOB conformance_sources CONFIGURE_DEPENDS ${dir}/*_test.cpp)
set(conformance_suites "")
foreach(source ${conformance_sources})
  file(STRINGS ${source} lines REGEX "^BOOST_AUTO_TEST_SUITE\\(")
  foreach(line ${lines})
    string(REGEX REPLACE "^BOOST_AUTO_TEST_SUITE\\(([A-Za-z0-9_]+).*" "\\1" name "${line}")
    if(NOT name STREQUAL "concurrency" AND NOT name STREQUAL "damage_probe")
      list(APPEND conformance_suites ${name})
    endif()
  endforeach()
endforeach()
foreach(backend memory rocksdb lmdb)
  if(backend STREQUAL "rocksdb")
    set(entries "")
    foreach(name ${conformance_suites})
      add_test(NAME ${suite}_${backend}.${name}
               COMMAND ${target} --log_level=message "--run_test=${name}/*<${backend}_backend>")
      list(APPEND entries ${suite}_${backend}.${name})
    endforeach()
  else()
    add_test(NAME ${suite}_${backend}
             COMMAND ${target} --log_level=message "--run_test=!concurrency"
                     "--run_test=*/*<${backend}_backend>")
    set(entries ${suite}_${backend})
  endif()
  set_tests_properties(${entries} PROPERTIES LABELS "conformance")
  add_test(NAME ${suite}_concurrency_${backend}
           COMMAND ${target} --log_level=message "--run_test=concurrency/*<${backend}_backend>")
  set_tests_properties(${suite}_concurrency_${backend} PROPERTIES
    LABELS "conformance;concurrency"
    ENVIRONMENT "TSAN_OPTIONS=${conformance_tsan_options}")
  # Under ASan+UBSan (fresh-clone CI run of 2f9b75f, 2026-12-02, 2-core development machine, ctest -j2): at most 24 s
  # (conformance_lmdb, conformance_rocksdb.differential); the concurrency entries under TSan at most
  # 8 s. 600 s is 25x: the whole RocksDB entry took 94 s plain at load 25 before its split.
  telos_test_timeout(600 ${entries} ${suite}_concurrency_${backend})
endforeach()
