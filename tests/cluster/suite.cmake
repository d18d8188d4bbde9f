# The cluster suite starts real telosd processes on loopback and talks to them with the real telos
# CLI: both binaries, and the certificate script, are passed after "--". It reuses the process
# helpers of the cli suite. Each cluster test case is a CTest entry of its own
# (telos_add_case_tests), so `ctest -j` spreads them; the decision-log cases, which start no
# process, share one entry.
target_sources(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/cli/process.cpp)
target_link_libraries(${target} PRIVATE nlohmann_json::nlohmann_json)
if(TARGET telos-cli AND TARGET telosd)
  add_dependencies(${target} telos-cli telosd)
  telos_add_case_tests(cluster_cases cluster ${target} cluster ${dir}/cluster_test.cpp
                       ARGS -- $<TARGET_FILE:telos-cli> $<TARGET_FILE:telosd>
                            ${PROJECT_SOURCE_DIR}/scripts/make-certs.sh)
  add_test(NAME cluster.decisions COMMAND ${target} --log_level=message --run_test=decisions)
  set_tests_properties(${cluster_cases} cluster.decisions PROPERTIES LABELS cluster)
  # Slowest case under ASan+UBSan: 61 s (cluster.import_search_get_across_remote_shards_equal_a_single_node_store,
  # fresh-clone CI run of 2f9b75f, 2026-12-02, 2-core development machine, ctest -j2), so 300 s is 4.9x. (Before the sanitized executables were
  # linked without PIE and whole-store checks read one page, 256 s: README.md, "CI".)
  telos_test_timeout(300 ${cluster_cases} cluster.decisions)
endif()
