# The index folder runs as one CTest entry per Boost.Test suite (index.flat_index, index.hnsw_index,
# index.ivf_index, …), and maxsim_candidates, whose cases each settle a few thousand multi-vector
# memories above the threshold, as one entry per case (index.maxsim_candidates.<case>), so
# `ctest -j` spreads them. As one entry the folder passed its 300 s under ASan+UBSan once E12
# re-scored from a reader (fresh-clone CI of 21c4454, 2026-12-03, 2-core development machine:
# maxsim_candidates 311 s in all). Split, in that clone under ASan+UBSan with ctest -j2: the 24
# entries 3 min 16 s, slowest index.maxsim_candidates.with_a_reader_… 56 s, so 300 s is over 5x.
# Since the distance kernels compile at -O2 in the sanitizer trees (CMakeLists.txt), on the same
# machine under ASan+UBSan: the 25 index entries 94 s with ctest -j2, slowest 18 s (were 70 s in
# the fresh-clone CI of 53a2165).
set(index_sources ${srcs})
list(FILTER index_sources EXCLUDE REGEX "maxsim_candidates_test\\.cpp$")
telos_add_suite_tests(index_suites index ${target} ${index_sources})
telos_add_case_tests(index_maxsim_cases index.maxsim_candidates ${target} maxsim_candidates
                     ${dir}/maxsim_candidates_test.cpp)
telos_test_timeout(300 ${index_suites} ${index_maxsim_cases})
# The int8 kernels again in the lower instruction sets (TELOS_KERNELS steps the library down when
# it loads; the suite checks that it did where the CPU runs the set): a CPU with AVX-512 would
# otherwise never run the AVX2 and portable kernels. Each run takes well under a second.
foreach(set avx2 portable)
  add_test(NAME index.int8_kernels.${set} COMMAND ${target} --log_level=message
                                                  --run_test=int8_kernels)
  set_tests_properties(index.int8_kernels.${set} PROPERTIES ENVIRONMENT TELOS_KERNELS=${set})
  telos_test_timeout(300 index.int8_kernels.${set})
endforeach()
