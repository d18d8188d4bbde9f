# The engine suite runs as one CTest entry per Boost.Test suite (actors, graph, recovery, store),
# so `ctest -j` spreads them: under ASan+UBSan the whole folder took about a minute.
telos_add_suite_tests(engine_suites engine ${target} ${srcs})
# Under ASan+UBSan (fresh-clone CI run of 2f9b75f, 2026-12-02, 2-core development machine, ctest -j2):
# engine_recovery 28 s, engine_graph 9 s, engine_store 5 s, engine_actors under 1 s; 300 s is over
# 10x.
telos_test_timeout(300 ${engine_suites})
