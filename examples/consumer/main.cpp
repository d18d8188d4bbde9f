// An outside program using the installed Telos package. Part one uses the storage layer alone: an
// in-memory backend, one atomic batch across two keyspaces, a prefix scan, and a transaction that
// lost a race and is refused instead of silently overwriting. Part two uses the whole engine
// through the blocking store facade (actors, CAF): memories with an embedding, then a nearest-
// neighbour search. Exits non-zero on any surprise.
#include <telos/actors/store.hpp>
#include <telos/storage/backend.hpp>

#include <iostream>
#include <string>

namespace {

int failed(const std::string& what) {
  std::cerr << "telos-consumer: " << what << '\n';
  return 1;
}

} // namespace

int key_value_demo() {
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
  return 0;
}

int memory_store_demo() {
  using namespace telos;
  store_options opts;
  opts.backend = storage::backend_kind::memory;
  opts.profile = profile{"custom", {embedder{"topic", embedder_kind::dense, 3, metric::cosine}}};
  auto opened = store::open(opts);
  if (!opened) return failed("store open: " + describe(opened.error()));
  store& memories = **opened;

  const std::pair<const char*, std::vector<float>> notes[] = {
      {"Lists of numbers are vectors", {1.0f, 0.1f, 0.0f}},
      {"Bake bread at 230 degrees", {0.0f, 1.0f, 0.2f}},
      {"Cosine similarity compares directions", {0.9f, 0.0f, 0.3f}},
  };
  for (const auto& [content, topic] : notes) {
    memory m;
    m.content = content;
    m.embeddings["topic"] = embedding::dense(topic);
    if (auto id = memories.put(std::move(m)); !id) return failed("put: " + describe(id.error()));
  }

  search_request query;
  query.embedder = "topic";
  query.query = embedding::dense({1.0f, 0.0f, 0.1f});
  query.k = 2;
  auto found = memories.search(query);
  if (!found) return failed("search: " + describe(found.error()));
  if (found->hits.size() != 2 || found->records.size() != 2)
    return failed("search returned " + std::to_string(found->hits.size()) + " hits, not 2");
  for (size_t i = 0; i < found->hits.size(); ++i)
    std::cout << "  " << found->hits[i].score << "  " << found->records[i].content << '\n';
  if (found->records[1].content == notes[1].first) return failed("the bread note ranked second");
  if (auto closed = memories.close(); !closed) return failed("close: " + describe(closed.error()));
  return 0;
}

int main() {
  if (int rc = key_value_demo()) return rc;
  if (int rc = memory_store_demo()) return rc;
  std::cout << "telos-consumer: ok\n";
  return 0;
}
