// Filter evaluation and fusion names.
#include "telos/messages/search.hpp"

#include <algorithm>

namespace telos {

const char* to_string(fusion f) {
  switch (f) {
  case fusion::rrf:
    return "rrf";
  case fusion::weighted_sum:
    return "weighted_sum";
  }
  return "invalid";
}

std::optional<fusion> parse_fusion(std::string_view text) {
  for (auto f : {fusion::rrf, fusion::weighted_sum})
    if (text == to_string(f)) return f;
  return std::nullopt;
}

bool filter::matches(const memory& m) const {
  if (!ns.empty() && m.ns != ns) return false;
  if (created_after && m.created_at < *created_after) return false;
  if (created_before && m.created_at >= *created_before) return false;
  for (const auto& predicate : where) {
    auto it = m.attributes.find(predicate.key);
    if (it == m.attributes.end()) return false;
    if (std::find(predicate.values.begin(), predicate.values.end(), it->second) ==
        predicate.values.end())
      return false;
  }
  return true;
}

std::vector<hit> merge_top(std::vector<std::vector<hit>>& lists, size_t k) {
  std::vector<hit> all;
  for (auto& l : lists)
    all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end(), better);
  if (all.size() > k) all.resize(k);
  return all;
}

expected<size_t> check_query(const profile& p, const limits& lim, const std::string& embedder,
                             const embedding& query) {
  auto j = p.index_of(embedder);
  if (!j) return std::move(j.error());
  if (auto ok = validate(query, p.embedders[*j], lim); !ok)
    return make_error(ec::invalid_argument,
                      "query for embedder '" + embedder + "': " + describe(ok.error()));
  return *j;
}

} // namespace telos
