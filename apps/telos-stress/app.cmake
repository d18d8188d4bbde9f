# telos-stress hashes ids and seeds with xxHash (XXH3) directly.
target_link_libraries(${app} PRIVATE xxHash::xxhash)
