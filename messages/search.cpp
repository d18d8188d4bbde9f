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

} // namespace telos
