# The cluster suite starts real telosd processes on loopback and talks to them with the real telos
# CLI: both binaries, and the certificate script, are passed after "--". It reuses the process
# helpers of the cli suite.
target_sources(${target} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/cli/process.cpp)
target_link_libraries(${target} PRIVATE nlohmann_json::nlohmann_json)
if(TARGET telos-cli AND TARGET telosd)
  add_dependencies(${target} telos-cli telosd)
  add_test(NAME ${suite} COMMAND ${target} --log_level=message -- $<TARGET_FILE:telos-cli>
                                 $<TARGET_FILE:telosd> ${PROJECT_SOURCE_DIR}/scripts/make-certs.sh)
  set_tests_properties(${suite} PROPERTIES TIMEOUT 300 LABELS cluster)
endif()
