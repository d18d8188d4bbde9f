# The engine suite runs as one CTest entry per Boost.Test suite (actors, graph, recovery, store),
# so `ctest -j` spreads them: under ASan+UBSan the whole folder took about a minute.
telos_add_suite_tests(engine_suites engine ${target} ${srcs})
# Slowest entry under ASan+UBSan: FIGURE s.
telos_test_timeout(300 ${engine_suites})
