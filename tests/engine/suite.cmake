# The engine suite runs as one CTest entry per Boost.Test suite (actors, graph, recovery, store),
# so `ctest -j` spreads them: under ASan+UBSan the whole folder took about a minute.
telos_add_suite_tests(engine_suites engine ${target} ${srcs})
# Not yet measured per entry under ASan+UBSan; the whole folder took 41 s there in one entry
# (2026-11 CI run), so 300 s is over 7x.
telos_test_timeout(300 ${engine_suites})
