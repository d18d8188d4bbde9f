// Opens an in-memory store through the installed package, writes and reads one key.
#include <telos/storage/backend.hpp>

#include <iostream>

int main() {
  using namespace telos;
  storage::backend_options opts;
  opts.keyspaces = {"greetings"};
  auto db = storage::make_backend(storage::backend_kind::memory, opts);
  if (!db) {
    std::cerr << describe(db.error()) << '\n';
    return 1;
  }
  write_batch batch;
  batch.put(0, "hello", "world");
  if (auto ok = (*db)->write(batch); !ok) {
    std::cerr << describe(ok.error()) << '\n';
    return 1;
  }
  auto value = (*db)->get(0, "hello");
  if (!value || !*value || **value != "world") {
    std::cerr << "read back failed\n";
    return 1;
  }
  std::cout << "telos-consumer: hello " << **value << '\n';
  return 0;
}
