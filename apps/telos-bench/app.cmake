# telos-bench kv measures the raw RocksDB and LMDB APIs next to Telos, so it links them directly.
target_link_libraries(${app} PRIVATE RocksDB::rocksdb LMDB::lmdb)
# telos-bench index reads Fashion-MNIST's gzip-compressed IDX files.
find_package(ZLIB REQUIRED)
target_link_libraries(${app} PRIVATE ZLIB::ZLIB)
# telos-bench scale compares with Debian's FAISS (static, OpenMP, reference BLAS/LAPACK).
find_package(OpenMP REQUIRED)
find_package(faiss CONFIG REQUIRED)
target_link_libraries(${app} PRIVATE faiss OpenMP::OpenMP_CXX)
# telos-bench http runs the HTTP server of telosd --http in process.
target_link_libraries(${app} PRIVATE telos_server)
