// Searching the indexes of this process's shards on the caller's thread.
#include "telos/shard/local_indexes.hpp"

#include <mutex>

namespace telos {

local_indexes::local_indexes(const std::vector<opened_shard>& shards) {
  for (const auto& s : shards)
    shards_.push_back(shard_indexes{s.indexes, s.catalog});
}

expected<void> local_indexes::search(search_run& run) const {
  std::shared_lock alive{alive_};
  if (closed_) return make_error(ec::closed, "the store is closed");
  if (run.shard_count() != shards_.size())
    return make_error(ec::internal, "a search over " + std::to_string(run.shard_count()) +
                                        " shards, this process holds " +
                                        std::to_string(shards_.size()));
  std::vector<std::vector<hit>> lists(run.list_count());
  for (size_t i = 0; i < lists.size(); ++i) {
    const auto& shard = shards_[run.list_shard(i)];
    const auto& part = run.list_part(i);
    auto& handle = *shard.indexes[part.index];
    std::shared_lock guard{handle.lock};
    lists[i] = search_handle(handle, *shard.catalog, part.query, run.depth(), run.request_filter());
  }
  run.take_lists(std::move(lists));
  auto asked = run.missing_scores();
  std::vector<std::vector<hit>> scores(asked.size());
  for (size_t i = 0; i < asked.size(); ++i) {
    const auto& part = run.parts()[asked[i].part];
    auto& handle = *shards_[asked[i].shard].indexes[part.index];
    std::shared_lock guard{handle.lock};
    scores[i] = score_handle(handle, part.query, asked[i].ids);
  }
  run.take_scores(asked, std::move(scores));
  return {};
}

void local_indexes::close() {
  std::unique_lock guard{alive_};
  closed_ = true;
}

} // namespace telos
