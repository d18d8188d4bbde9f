// Id maps that grow at a point of their own. Every index of a store holds the same ids, so hash
// maps left to their own load factor rehash in the same write, one after another, and that
// write's acknowledgement waits for all of them (at 172,928 memories all thirteen index actors
// took 0.4-1.4 s in one update: docs/BENCHMARKS.md, "Growth without copies").
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace telos::storage {

/// The share of its load limit at which an index's id map grows, in [0.55, 1): a fixed function
/// of the embedder's name, so the indexes of one profile grow theirs at different sizes.
inline double id_map_growth_share(const std::string& embedder) {
  const size_t h = std::hash<std::string>{}(embedder);
  return 0.55 + 0.45 * static_cast<double>((h >> 7) % 1024) / 1024.0;
}

/// Before an insert into `map` (an id_table or a std::unordered_map): doubles its buckets once it
/// holds `share` of what they take at its max load factor, so it never rehashes on its own (its own
/// limit is never reached). std::bad_alloc leaves the map as it was.
template <class Map>
void grow_id_map_ahead(Map& map, double share) {
  const double room = static_cast<double>(map.bucket_count()) * map.max_load_factor();
  if (static_cast<double>(map.size() + 1) > room * share)
    map.reserve(static_cast<size_t>(2.0 * room));
}

} // namespace telos::storage
