// Building one shard commit out of a group of writes.
#include "telos/shard/write_group.hpp"

#include "telos/storage/backend.hpp"

#include <unordered_map>

namespace telos {

namespace {

using fact_map = std::unordered_map<uuid, std::optional<record_fact>>;

/// The final state of one id in the indexes after the group.
struct index_slot {
  uuid id;
  bool removed = false;
  /// One per embedder, in profile order (empty when removed).
  std::vector<embedding> embeddings;
};

class group_builder {
public:
  explicit group_builder(const write_group_context& ctx) : ctx_(ctx) {}

  write_group build(std::vector<shard_write>& requests) {
    write_group g;
    g.sequence = ctx_.sequence;
    g.outcomes.reserve(requests.size());
    for (auto& request : requests) {
      request_outcome outcome;
      if (auto err = check(request, outcome.result); err) {
        outcome.error = std::move(err);
        outcome.result = {};
      } else {
        write_batch extra;
        if (ctx_.graph) ctx_.graph->begin_request();
        auto contributed = contribute(request, extra, outcome.result);
        if (ctx_.graph) ctx_.graph->end_request(static_cast<bool>(contributed));
        if (!contributed) {
          outcome.error = std::move(contributed.error());
          outcome.result = {};
        } else {
          apply(request, g.batch);
          g.batch.append(std::move(extra));
        }
      }
      g.outcomes.push_back(std::move(outcome));
    }
    if (g.batch.empty()) return g;
    finish(g);
    return g;
  }

private:
  const storage::shard_layout& layout() const { return *ctx_.layout; }

  std::optional<record_fact> lookup(const uuid& id, const fact_map* local = nullptr) const {
    if (local) {
      if (auto it = local->find(id); it != local->end()) return it->second;
    }
    if (auto it = overlay_.find(id); it != overlay_.end()) return it->second;
    return ctx_.catalog->find(id);
  }

  /// Checks a request and stamps its timestamps; fills the removed flags.
  caf::error check(shard_write& request, shard_write_result& result) const {
    fact_map local;
    for (auto& m : request.puts) {
      auto before = lookup(m.id, &local);
      if (request.must_exist && !before)
        return make_error(ec::not_found, "memory " + m.id.to_string() +
                                             " is not stored; update needs an existing memory");
      auto key_size = storage::namespace_key(m.ns, m.id).size();
      if (key_size > storage::max_key_size)
        return make_error(ec::invalid_argument,
                          "memory " + m.id.to_string() + ": namespace row key of " +
                              std::to_string(key_size) + " bytes exceeds the backend limit of " +
                              std::to_string(storage::max_key_size));
      if (m.created_at == 0) m.created_at = before ? before->created_at : ctx_.now_ms;
      if (m.updated_at == 0) m.updated_at = ctx_.now_ms;
      local[m.id] = make_fact(m);
    }
    result.removed.clear();
    for (const auto& id : request.removes) {
      result.removed.push_back(lookup(id, &local).has_value());
      local[id] = std::nullopt;
    }
    if (!request.graph.empty() && !ctx_.graph)
      return make_error(ec::invalid_argument, "this shard has no graph");
    auto missing = [&](const edge_data& e) -> const uuid* {
      for (const auto* id : {&e.source, &e.target})
        if (!id->is_nil() && (!ctx_.owns || ctx_.owns(*id)) && !lookup(*id, &local)) return id;
      return nullptr;
    };
    for (const auto& e : request.graph.edge_puts)
      if (const auto* id = missing(e))
        return make_error(ec::not_found, "edge " + e.source.to_string() + " -[" + e.type + "]-> " +
                                             e.target.to_string() + ": memory " + id->to_string() +
                                             " is not stored");
    return {};
  }

  /// Rows of the row contributors, simulated in request order.
  expected<void> contribute(const shard_write& request, write_batch& rows,
                            shard_write_result& result) const {
    bool generic = ctx_.contributors && !ctx_.contributors->empty();
    auto* graph = ctx_.graph;
    if (!generic && !graph) return {};
    std::unordered_map<uuid, std::optional<memory>> local;
    auto previous = [&](const uuid& id) -> const memory* {
      if (auto it = local.find(id); it != local.end()) return it->second ? &*it->second : nullptr;
      if (!ctx_.previous) return nullptr;
      auto it = ctx_.previous->find(id);
      return it == ctx_.previous->end() ? nullptr : &it->second;
    };
    for (const auto& m : request.puts) {
      const auto* before = previous(m.id);
      if (generic)
        for (const auto& c : *ctx_.contributors)
          if (auto ok = c->on_put(before, m, layout(), rows); !ok) return ok;
      if (graph)
        if (auto ok = graph->on_put(before, m, rows); !ok) return ok;
      local[m.id] = record_fields(m);
    }
    std::vector<storage::edge_key> dropped;
    for (const auto& id : request.removes) {
      if (const auto* before = previous(id)) {
        if (generic)
          for (const auto& c : *ctx_.contributors)
            if (auto ok = c->on_remove(*before, layout(), rows); !ok) return ok;
        if (graph)
          if (auto ok = graph->on_remove(*before, rows, dropped); !ok) return ok;
      }
      local[id] = std::nullopt;
    }
    if (!graph) return {};
    for (auto& k : dropped)
      result.dropped_edges.push_back(
          edge_data{k.source, std::move(k.type), k.target, std::move(k.ns), 1.0, {}});
    const auto& gw = request.graph;
    for (const auto& e : gw.edge_puts)
      if (auto ok = graph->add_edge(e, rows); !ok) return ok;
    for (const auto& e : gw.edge_removes) {
      auto existed = graph->remove_edge(storage::edge_key{e.source, e.type, e.target, e.ns}, rows);
      if (!existed) return std::move(existed.error());
      result.graph.edges_removed.push_back(*existed);
    }
    for (const auto& q : gw.quad_puts)
      if (auto ok = graph->add_quad(storage::text_quad{q.s, q.p, q.o, q.c}, rows); !ok) return ok;
    for (const auto& q : gw.quad_removes) {
      auto existed = graph->remove_quad(storage::text_quad{q.s, q.p, q.o, q.c}, rows);
      if (!existed) return std::move(existed.error());
      result.graph.quads_removed.push_back(*existed);
    }
    return {};
  }

  index_slot& slot(const uuid& id) {
    auto [it, added] = slot_of_.emplace(id, slots_.size());
    if (added) {
      slots_.push_back(index_slot{id, false, {}});
      change_order_.push_back(id);
    }
    return slots_[it->second];
  }

  void count(const std::string& ns, int64_t delta) {
    ns_delta_[ns] += delta;
    total_delta_ += delta;
  }

  /// Appends the core rows of a checked request and records its effects.
  void apply(shard_write& request, write_batch& batch) {
    const auto& spec = layout().profile().embedders;
    for (auto& m : request.puts) {
      auto before = lookup(m.id);
      auto key = id_key(m.id);
      batch.put_owned(layout().records(), key, storage::encode_record(m));
      auto& s = slot(m.id);
      s.removed = false;
      s.embeddings.resize(spec.size());
      for (size_t j = 0; j < spec.size(); ++j) {
        auto& e = m.embeddings[spec[j].name];
        batch.put_owned(layout().vectors(j), key, storage::encode_vector(spec[j], e));
        s.embeddings[j] = std::move(e);
      }
      if (before) {
        if (before->ns != m.ns)
          batch.del(layout().namespaces(), storage::namespace_key(before->ns, m.id));
        count(before->ns, -1);
      }
      batch.put(layout().namespaces(), storage::namespace_key(m.ns, m.id), {});
      count(m.ns, 1);
      overlay_[m.id] = make_fact(m);
      if (ctx_.previous) (*ctx_.previous)[m.id] = record_fields(m);
    }
    for (const auto& id : request.removes) {
      auto before = lookup(id);
      if (!before) continue;
      auto key = id_key(id);
      batch.del(layout().records(), key);
      for (size_t j = 0; j < spec.size(); ++j)
        batch.del(layout().vectors(j), key);
      batch.del(layout().namespaces(), storage::namespace_key(before->ns, id));
      count(before->ns, -1);
      auto& s = slot(id);
      s.removed = true;
      s.embeddings.clear();
      overlay_[id] = std::nullopt;
      if (ctx_.previous) ctx_.previous->erase(id);
    }
  }

  static std::string_view id_key(const uuid& id) { return storage::id_key(id); }

  /// Counters, sequence, changelog entry, index updates and catalog changes.
  void finish(write_group& g) {
    const auto& spec = layout().profile().embedders;
    auto meta = layout().meta();
    storage::changelog_entry log;
    g.index_updates.resize(spec.size());
    for (auto& update : g.index_updates)
      update.sequence = g.sequence;
    for (auto& s : slots_) {
      if (s.removed) {
        log.removed.push_back(s.id);
        for (auto& update : g.index_updates)
          update.removes.push_back(s.id);
        continue;
      }
      log.written.push_back(s.id);
      for (size_t j = 0; j < spec.size(); ++j) {
        g.index_updates[j].upsert_ids.push_back(s.id);
        g.index_updates[j].upserts.push_back(std::move(s.embeddings[j]));
      }
    }
    g.batch.put(layout().changelog(), storage::changelog_key(g.sequence),
                storage::encode_changelog_entry(log));
    g.batch.put(meta, storage::meta_keys::sequence, storage::encode_counter(g.sequence));
    g.counts.total = total_delta_;
    for (const auto& [ns, delta] : ns_delta_)
      if (delta != 0) g.counts.per_namespace[ns] = delta;
    // Counts on top of the committed catalog and the pending group's changes.
    auto pending_total = ctx_.pending ? ctx_.pending->total : 0;
    auto pending_in = [this](const std::string& ns) -> int64_t {
      if (!ctx_.pending) return 0;
      auto it = ctx_.pending->per_namespace.find(ns);
      return it == ctx_.pending->per_namespace.end() ? 0 : it->second;
    };
    auto total = static_cast<int64_t>(ctx_.catalog->count()) + pending_total + total_delta_;
    g.batch.put(meta, storage::meta_keys::count,
                storage::encode_counter(static_cast<uint64_t>(total)));
    for (const auto& [ns, delta] : ns_delta_) {
      if (delta == 0) continue;
      auto n = static_cast<int64_t>(ctx_.catalog->count(ns)) + pending_in(ns) + delta;
      auto key = storage::namespace_count_key(ns);
      if (n <= 0)
        g.batch.del(meta, key);
      else
        g.batch.put(meta, key, storage::encode_counter(static_cast<uint64_t>(n)));
    }
    g.changes.reserve(change_order_.size());
    for (const auto& id : change_order_)
      g.changes.emplace_back(id, overlay_[id]);
  }

  const write_group_context& ctx_;
  fact_map overlay_;
  std::unordered_map<uuid, size_t> slot_of_;
  std::vector<index_slot> slots_;
  std::vector<uuid> change_order_;
  std::map<std::string, int64_t> ns_delta_;
  int64_t total_delta_ = 0;
};

} // namespace

memory record_fields(const memory& m) {
  memory r;
  r.id = m.id;
  r.ns = m.ns;
  r.content = m.content;
  r.attributes = m.attributes;
  r.created_at = m.created_at;
  r.updated_at = m.updated_at;
  return r;
}

write_group build_write_group(const write_group_context& ctx, std::vector<shard_write>& requests) {
  return group_builder{ctx}.build(requests);
}

} // namespace telos
