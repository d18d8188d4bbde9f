# telosd --http serves the Qdrant dialect through the server/ layer.
target_link_libraries(${app} PRIVATE telos_server)
