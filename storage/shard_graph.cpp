// One shard's graph: commit-group bookkeeping around the storage-level graph components.
#include "telos/storage/shard_graph.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/storage/key_codec.hpp"

namespace telos::storage {

namespace {

constexpr size_t max_term_bytes = 64 * 1024;

std::string describe_quad(const text_quad& q) {
  auto cut = [](const std::string& s) { return s.size() > 40 ? s.substr(0, 40) + "…" : s; };
  return "(" + cut(q.s) + ", " + cut(q.p) + ", " + cut(q.o) + ", " + cut(q.c) + ")";
}

} // namespace

const std::vector<std::string>& graph_keyspace_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (const auto* part :
         {&interner_keyspaces::names(), &quad_keyspaces::names(), &index_keyspaces::names()})
      all.insert(all.end(), part->begin(), part->end());
    return all;
  }();
  return names;
}

shard_graph::shard_graph(graph_options opts, std::unique_ptr<interner> terms, quad_store quads,
                         secondary_index index)
    : opts_(std::move(opts)), terms_(std::move(terms)), quads_(quads), edges_(quads_, *terms_),
      index_(std::move(index)) {}

expected<std::unique_ptr<shard_graph>> shard_graph::open(const backend& db, graph_options opts,
                                                         interner_options io) {
  auto iks = interner_keyspaces::resolve(db);
  if (!iks) return std::move(iks.error());
  auto qks = quad_keyspaces::resolve(db);
  if (!qks) return std::move(qks.error());
  auto xks = index_keyspaces::resolve(db);
  if (!xks) return std::move(xks.error());
  auto terms = interner::open(db, *iks, io);
  if (!terms) return std::move(terms.error());
  auto index =
      secondary_index::make(db, **terms, *xks, {opts.indexed_attributes, opts.time_bucket_ms});
  if (!index) return std::move(index.error());
  // The index keeps a pointer to the interner, which the graph owns and never moves.
  auto* raw =
      new shard_graph(std::move(opts), std::move(*terms), quad_store{db, *qks}, std::move(*index));
  return std::unique_ptr<shard_graph>{raw};
}

// -- commit groups --------------------------------------------------------------------------------

void shard_graph::begin_request() {
  request_staging_ = interner::staging{};
  request_edges_.clear();
  request_quads_.clear();
}

void shard_graph::end_request(bool accepted) {
  if (!accepted) {
    terms_->abandon(request_staging_);
  } else {
    if (!request_staging_.empty()) group_stagings_.push_back(std::move(request_staging_));
    for (auto& [k, v] : request_edges_)
      group_edges_[k] = v;
    for (auto& [k, v] : request_quads_)
      group_quads_[k] = v;
  }
  request_staging_ = interner::staging{};
  request_edges_.clear();
  request_quads_.clear();
}

void shard_graph::settle(bool committed) {
  auto group = take_group();
  settle(group, committed);
}

shard_graph::group_stagings shard_graph::take_group() {
  group_stagings group{std::move(group_stagings_)};
  group_stagings_.clear();
  group_edges_.clear();
  group_quads_.clear();
  return group;
}

void shard_graph::settle(group_stagings& group, bool committed) {
  for (auto& s : group.stagings)
    if (committed)
      terms_->confirm(s);
    else
      terms_->abandon(s);
  group.stagings.clear();
}

std::optional<bool> shard_graph::staged_edge(const edge_id& e) const {
  if (auto it = request_edges_.find(e); it != request_edges_.end()) return it->second;
  if (auto it = group_edges_.find(e); it != group_edges_.end()) return it->second;
  return std::nullopt;
}

std::optional<bool> shard_graph::staged_quad(const quad_id& q) const {
  if (auto it = request_quads_.find(q); it != request_quads_.end()) return it->second;
  if (auto it = group_quads_.find(q); it != group_quads_.end()) return it->second;
  return std::nullopt;
}

expected<void> shard_graph::on_put(const memory* before, const memory& now, write_batch& rows) {
  if (before) return index_.replace(*before, now, rows, request_staging_);
  return index_.insert(now, rows, request_staging_);
}

expected<void> shard_graph::on_remove(const memory& before, write_batch& rows,
                                      std::vector<edge_key>& removed) {
  if (auto ok = index_.remove(before, rows); !ok) return ok;
  auto committed = edges_.remove_all(before.id, rows);
  if (!committed) return std::move(committed.error());
  for (auto& e : *committed) {
    request_edges_[edge_id{e.source, e.type, e.target, e.ns}] = false;
    removed.push_back(std::move(e));
  }
  // Edges added earlier in this group are not on disk yet: remove_all cannot see them.
  std::vector<edge_id> pending;
  for (const auto* staged : {&group_edges_, &request_edges_})
    for (const auto& [k, present] : *staged)
      if (present && (std::get<0>(k) == before.id || std::get<2>(k) == before.id))
        pending.push_back(k);
  for (const auto& k : pending) {
    if (staged_edge(k) != true) continue;
    edge_key key{std::get<0>(k), std::get<1>(k), std::get<2>(k), std::get<3>(k)};
    if (auto ok = edges_.remove(key, rows); !ok) return std::move(ok.error());
    request_edges_[k] = false;
    removed.push_back(std::move(key));
  }
  return {};
}

expected<void> shard_graph::add_edge(const edge_data& e, write_batch& rows) {
  if (auto ok = edges_.add(e, rows, request_staging_); !ok) return ok;
  request_edges_[edge_id{e.source, e.type, e.target, e.ns}] = true;
  return {};
}

expected<bool> shard_graph::remove_edge(const edge_key& e, write_batch& rows) {
  edge_id k{e.source, e.type, e.target, e.ns};
  bool existed = false;
  if (auto staged = staged_edge(k)) {
    existed = *staged;
  } else {
    auto stored = edges_.get(e);
    if (!stored) return std::move(stored.error());
    existed = stored->has_value();
  }
  if (existed) {
    if (auto ok = edges_.remove(e, rows); !ok) return std::move(ok.error());
    request_edges_[k] = false;
  }
  return existed;
}

expected<void> shard_graph::add_quad(const text_quad& q, write_batch& rows) {
  for (const auto* term : {&q.s, &q.p, &q.o, &q.c})
    if (term->size() > max_term_bytes)
      return make_error(ec::invalid_argument, "quad " + describe_quad(q) + ": a term of " +
                                                  std::to_string(term->size()) +
                                                  " bytes exceeds the limit of 65536");
  quad ids;
  for (auto [text, slot] : {std::pair{&q.s, &ids.s}, std::pair{&q.p, &ids.p},
                            std::pair{&q.o, &ids.o}, std::pair{&q.c, &ids.c}}) {
    auto id = terms_->intern(make_term(term_kind::text, *text), rows, request_staging_);
    if (!id) return std::move(id.error());
    *slot = *id;
  }
  quads_.add(ids, {}, rows);
  request_quads_[quad_id{q.s, q.p, q.o, q.c}] = true;
  return {};
}

expected<bool> shard_graph::remove_quad(const text_quad& q, write_batch& rows) {
  quad ids;
  for (auto [text, slot] : {std::pair{&q.s, &ids.s}, std::pair{&q.p, &ids.p},
                            std::pair{&q.o, &ids.o}, std::pair{&q.c, &ids.c}}) {
    auto id = terms_->find(make_term(term_kind::text, *text));
    if (!id) return std::move(id.error());
    if (!*id) return false;
    *slot = **id;
  }
  quad_id k{q.s, q.p, q.o, q.c};
  bool existed = false;
  if (auto staged = staged_quad(k)) {
    existed = *staged;
  } else {
    auto stored = quads_.get(ids);
    if (!stored) return std::move(stored.error());
    existed = stored->has_value();
  }
  if (existed) {
    quads_.remove(ids, rows);
    request_quads_[k] = false;
  }
  return existed;
}

// -- reads ----------------------------------------------------------------------------------------

expected<std::vector<neighbour>> shard_graph::neighbours(const uuid& node,
                                                         const neighbour_query& q) const {
  return edges_.neighbours(node, q);
}

expected<std::vector<graph_path>> shard_graph::traverse(const uuid& start,
                                                        const traversal_query& q) const {
  return edges_.traverse(start, q);
}

expected<text_quad_page> shard_graph::match(const text_pattern& pattern, const std::string& after,
                                            size_t limit) const {
  if (limit == 0) return make_error(ec::invalid_argument, "quad match limit must be positive");
  text_quad_page result;
  quad_pattern ids;
  for (auto [text, slot] : {std::pair{&pattern.s, &ids.s}, std::pair{&pattern.p, &ids.p},
                            std::pair{&pattern.o, &ids.o}, std::pair{&pattern.c, &ids.c}}) {
    if (!*text) continue;
    auto id = terms_->find(make_term(term_kind::text, **text));
    if (!id) return std::move(id.error());
    // A term never interned matches nothing.
    if (!*id) return result;
    *slot = **id;
  }
  std::optional<quad> from;
  if (!after.empty()) {
    auto q = decode_quad_key(quad_order::spoc, after);
    if (!q || !ids.matches(*q))
      return make_error(ec::invalid_argument,
                        "quad match continuation does not belong to this pattern");
    from = *q;
  }
  auto page = quads_.page(ids, from, limit);
  if (!page) return std::move(page.error());
  std::vector<term_id> wanted;
  wanted.reserve(page->rows.size() * 4);
  for (const auto& [q, value] : page->rows)
    wanted.insert(wanted.end(), {q.s, q.p, q.o, q.c});
  auto texts = terms_->lookup(wanted);
  if (!texts) return std::move(texts.error());
  auto text_of = [](const std::optional<std::string>& t) -> std::optional<std::string> {
    if (!t || t->empty() || (*t)[0] != static_cast<char>(term_kind::text)) return std::nullopt;
    return t->substr(1);
  };
  for (size_t i = 0; i < page->rows.size(); ++i) {
    text_quad tq;
    std::string* slots[] = {&tq.s, &tq.p, &tq.o, &tq.c};
    bool free_text = true;
    for (size_t k = 0; k < 4 && free_text; ++k) {
      auto t = text_of((*texts)[4 * i + k]);
      if (!t) {
        if (!(*texts)[4 * i + k])
          return make_error(ec::corrupt_value,
                            "quad " +
                                printable_key(quad_key(quad_order::spoc, page->rows[i].first)) +
                                " references a term missing from intern_rev");
        free_text = false;
      } else {
        *slots[k] = std::move(*t);
      }
    }
    // Edges are quads of other term kinds; a text pattern shows only text quads.
    if (free_text) result.quads.push_back(std::move(tq));
  }
  if (page->continuation) result.next = quad_key(quad_order::spoc, *page->continuation);
  return result;
}

expected<graph_report> shard_graph::verify(const memory_exists& exists) const {
  return verify_graph(*terms_, quads_, &index_, exists);
}

expected<uint64_t> shard_graph::repair(const memory_exists& exists,
                                       const std::vector<memory>& memories, write_batch& rows,
                                       interner::staging& staged) {
  uint64_t changed = 0;
  // Index rows end with the memory id (16 bytes), in both index keyspaces.
  for (auto ks : {index_.keyspaces().attributes, index_.keyspaces().time}) {
    auto it = quads_.db().scan_prefix(ks, {});
    if (!it) return std::move(it.error());
    for (auto& i = *it; i->valid(); i->next()) {
      auto key = i->key();
      if (key.size() < 16) continue;
      auto id = uuid::from_bytes(key.substr(key.size() - 16));
      auto found = exists(id);
      if (!found) return std::move(found.error());
      if (!*found) {
        rows.del(ks, key);
        ++changed;
      }
    }
    if (auto err = (*it)->status()) return err;
  }
  // Edges with an endpoint that is gone: every quad naming that memory's term.
  std::set<uuid> gone;
  auto cursor = quads_.scan({});
  if (!cursor) return std::move(cursor.error());
  std::vector<quad> all;
  for (; cursor->valid(); cursor->next())
    all.push_back(cursor->current());
  if (auto err = cursor->status()) return err;
  std::vector<term_id> ids;
  for (const auto& q : all)
    ids.insert(ids.end(), {q.s, q.o});
  auto texts = terms_->lookup(ids);
  if (!texts) return std::move(texts.error());
  for (const auto& t : *texts) {
    if (!t) continue;
    auto id = memory_of_term(*t);
    if (!id) continue;
    auto found = exists(*id);
    if (!found) return std::move(found.error());
    if (!*found) gone.insert(*id);
  }
  for (const auto& id : gone) {
    auto removed = edges_.remove_all(id, rows);
    if (!removed) return std::move(removed.error());
    changed += removed->size();
  }
  for (const auto& m : memories) {
    auto missing = index_.missing_rows(m);
    if (!missing) return std::move(missing.error());
    if (missing->empty()) continue;
    if (auto ok = index_.insert(m, rows, staged); !ok) return std::move(ok.error());
    changed += missing->size();
  }
  return changed;
}

} // namespace telos::storage
