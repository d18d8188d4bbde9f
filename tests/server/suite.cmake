# The server suite tests server/ alone (HTTP limits, authentication, TLS refusal of plain HTTP,
# Qdrant error bodies) in process, on loopback ports, against a memory-backend collection.
set(suite_libs telos_server)
add_test(NAME server COMMAND ${target} --log_level=message)
set_tests_properties(server PROPERTIES LABELS http)
telos_test_timeout(300 server)
