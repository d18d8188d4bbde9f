# The index suite runs as one CTest entry per Boost.Test suite (flat_index, hnsw_index, ivf_index,
# maxsim_candidates, quantised_index, …), so `ctest -j` spreads them: under ASan+UBSan the folder
# as one entry passed 300 s once E12 re-scored from a reader (fresh-clone CI of 21c4454,
# 2026-12-03: maxsim_candidates alone ≈ 200 s of it, ivf_index and hnsw_index ≈ 20 s each).
telos_add_suite_tests(index_suites index ${target} ${srcs})
telos_test_timeout(600 ${index_suites})
