// An outside program using the installed Telos package: opens an in-memory store, writes one
// atomic batch across two keyspaces, reads it back, scans a prefix, and shows that a transaction
// which lost a race is refused instead of silently overwriting. Exits non-zero on any surprise.
#include <telos/storage/backend.hpp>

#include <iostream>
#include <string>

namespace {

int failed(const std::string& what) {
  std::cerr << "telos-consumer: " << what << '\n';
  return 1;
}

} // namespace

int main() {
  using namespace telos;
  storage::backend_options opts;
  opts.keyspaces = {"users", "emails"};
  auto opened = storage::make_backend(storage::backend_kind::memory, opts);
  if (!opened) return failed("open: " + describe(opened.error()));
  storage::backend& db = **opened;
  auto users = db.keyspace("users");
  auto emails = db.keyspace("emails");
  if (!users || !emails) return failed("keyspaces missing");

  // A user record and its email index entry commit together or not at all.
  write_batch batch;
  batch.put(*users, "user/1", "Ada");
  batch.put(*users, "user/2", "Grace");
  batch.put(*emails, "ada@example.org", "user/1");
  batch.put(*emails, "grace@example.org", "user/2");
  if (auto ok = db.write(batch); !ok) return failed("write: " + describe(ok.error()));

  auto owner = db.get(*emails, "grace@example.org");
  if (!owner || !*owner) return failed("email index entry missing");
  auto name = db.get(*users, **owner);
  if (!name || !*name || **name != "Grace") return failed("user record missing");
  std::cout << "grace@example.org -> " << **owner << " -> " << **name << '\n';

  auto scan = db.scan_prefix(*users, "user/");
  if (!scan) return failed("scan: " + describe(scan.error()));
  size_t listed = 0;
  for (auto& it = **scan; it.valid(); it.next(), ++listed)
    std::cout << "  " << it.key() << " = " << it.value() << '\n';
  if (listed != 2) return failed("prefix scan listed " + std::to_string(listed) + " users, not 2");

  // Two transactions rename the same user; the second to commit must get ec::conflict.
  auto first = db.begin();
  auto second = db.begin();
  if (!first || !second) return failed("begin transaction");
  if (!(*first)->put(*users, "user/1", "Ada Lovelace") ||
      !(*second)->put(*users, "user/1", "Ada Byron"))
    return failed("transaction put");
  if (auto ok = (*first)->commit(); !ok) return failed("first commit: " + describe(ok.error()));
  auto lost = (*second)->commit();
  if (lost || code_of(lost.error()) != ec::conflict)
    return failed("the losing transaction was not refused with a conflict");
  std::cout << "conflicting commit refused: " << describe(lost.error()) << '\n';

  auto renamed = db.get(*users, "user/1");
  if (!renamed || !*renamed || **renamed != "Ada Lovelace") return failed("first commit lost");
  std::cout << "telos-consumer: ok\n";
  return 0;
}
