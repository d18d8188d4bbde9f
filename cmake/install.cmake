# Installs the library as a relocatable CMake package: find_package(telos) then link telos::telos.
# examples/consumer/check.sh proves it works from a copy of the prefix, away from this tree.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Our public headers are C++17; say so in the usage requirements so a consumer that sets no
# standard (or an older default) still compiles them.
target_compile_features(telos_messages PUBLIC cxx_std_17)

install(TARGETS telos telos_messages telos_storage telos_shard telos_actors EXPORT telosTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
foreach(layer messages storage shard actors)
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/${layer}/ DESTINATION include/telos/${layer}
          FILES_MATCHING PATTERN "*.hpp")
endforeach()
install(EXPORT telosTargets NAMESPACE telos:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/telos)
configure_package_config_file(cmake/telosConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/telosConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/telos)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/telosConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/telosConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/telosConfigVersion.cmake
              cmake/FindCAF.cmake cmake/FindTelosNative.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/telos)
