// Plans of writes over the shards (see shard_plan.hpp).
#include "telos/actors/shard_plan.hpp"

#include <cmath>
#include <string>
#include <tuple>

namespace telos {

std::set<uuid> shard_plan::ids() const {
  std::set<uuid> ids;
  for (const auto& [shard, part] : parts) {
    for (const auto& m : part.puts)
      ids.insert(m.id);
    ids.insert(part.removes.begin(), part.removes.end());
    for (const auto* edges : {&part.graph.edge_puts, &part.graph.edge_removes})
      for (const auto& e : *edges)
        ids.insert({e.source, e.target});
  }
  return ids;
}

flag_list shard_plan::removed(const std::map<size_t, shard_write_result>& results, size_t n) const {
  flag_list removed(n, false);
  for (const auto& [shard, result] : results) {
    auto at = positions.find(shard);
    if (at == positions.end()) continue;
    for (size_t k = 0; k < result.removed.size() && k < at->second.size(); ++k)
      removed[at->second[k]] = result.removed[k];
  }
  return removed;
}

flag_list shard_plan::edges_existed(const std::map<size_t, shard_write_result>& results) const {
  flag_list existed;
  for (auto [shard, k] : answers) {
    auto at = results.find(shard);
    existed.push_back(at != results.end() && k < at->second.graph.edges_removed.size() &&
                      at->second.graph.edges_removed[k]);
  }
  return existed;
}

expected<void> check_edge(const edge_data& e) {
  auto name = "edge " + e.source.to_string() + " -[" + e.type + "]-> " + e.target.to_string();
  if (e.source.is_nil() || e.target.is_nil())
    return make_error(ec::invalid_argument, name + " has a nil endpoint");
  if (e.type.empty()) return make_error(ec::invalid_argument, name + " has an empty type");
  if (e.ns.empty()) return make_error(ec::invalid_argument, name + " has an empty namespace");
  if (!std::isfinite(e.weight))
    return make_error(ec::invalid_argument, name + " has a non-finite weight");
  return {};
}

expected<std::vector<uuid>> name_and_validate(std::vector<memory>& batch,
                                              const telos::profile& profile,
                                              const telos::limits& limits) {
  std::vector<uuid> ids;
  ids.reserve(batch.size());
  for (auto& m : batch) {
    if (m.id.is_nil()) m.id = uuid::time_ordered();
    ids.push_back(m.id);
  }
  if (auto ok = validate(batch, profile, limits); !ok) return std::move(ok.error());
  return ids;
}

shard_plan plan_puts(std::vector<memory> batch, const shard_of_fn& shard_of) {
  shard_plan plan;
  for (auto& m : batch) {
    auto s = shard_of(m.id);
    plan.parts[s].puts.push_back(std::move(m));
  }
  return plan;
}

shard_plan plan_removes(const std::vector<uuid>& ids, const std::vector<edge_data>& edges,
                        const shard_of_fn& shard_of) {
  shard_plan plan;
  std::set<uuid> removed{ids.begin(), ids.end()};
  for (size_t i = 0; i < ids.size(); ++i) {
    auto s = shard_of(ids[i]);
    plan.parts[s].removes.push_back(ids[i]);
    plan.positions[s].push_back(i);
  }
  // The memory's own shard deletes every edge of it (both directions); the copy on the other
  // endpoint's shard is deleted there, unless that endpoint is removed too.
  std::set<std::pair<size_t, std::tuple<uuid, std::string, uuid, std::string>>> planned;
  for (const auto& e : edges) {
    for (const auto& [end, other] :
         {std::pair{e.source, e.target}, std::pair{e.target, e.source}}) {
      if (removed.count(end) == 0 || removed.count(other) != 0) continue;
      auto s = shard_of(other);
      if (s == shard_of(end)) continue;
      if (!planned.insert({s, {e.source, e.type, e.target, e.ns}}).second) continue;
      plan.parts[s].graph.edge_removes.push_back(e);
    }
  }
  return plan;
}

namespace {

/// The shards an edge is stored on: its source's and, when different, its target's.
std::vector<size_t> stored_on(const edge_data& e, const shard_of_fn& shard_of) {
  auto a = shard_of(e.source);
  auto b = shard_of(e.target);
  if (a == b) return {a};
  return {a, b};
}

} // namespace

shard_plan plan_edge_puts(const std::vector<edge_data>& edges, const shard_of_fn& shard_of) {
  shard_plan plan;
  for (const auto& e : edges)
    for (auto s : stored_on(e, shard_of))
      plan.parts[s].graph.edge_puts.push_back(e);
  return plan;
}

shard_plan plan_edge_removes(const std::vector<edge_data>& edges, const shard_of_fn& shard_of) {
  shard_plan plan;
  for (const auto& e : edges) {
    auto shards = stored_on(e, shard_of);
    plan.answers.emplace_back(shards.front(), plan.parts[shards.front()].graph.edge_removes.size());
    for (auto s : shards)
      plan.parts[s].graph.edge_removes.push_back(e);
  }
  return plan;
}

} // namespace telos
