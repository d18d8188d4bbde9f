// The one factory of vector indexes: the embedder's kind picks the structure.
#include "telos/storage/index_kinds.hpp"

#include <algorithm>
#include <thread>

namespace telos::storage {

std::unique_ptr<vector_index> make_vector_index(const embedder& spec, const index_options& opts) {
  switch (spec.kind) {
  case embedder_kind::dense:
    return make_dense_index(spec, opts);
  case embedder_kind::sparse:
    return make_sparse_index(spec, opts);
  case embedder_kind::multi:
    return make_maxsim_index(spec, opts);
  }
  return nullptr;
}

namespace {

thread_local bool searches_unsplit = false;

} // namespace

unsplit_searches::unsplit_searches() : was_(searches_unsplit) {
  searches_unsplit = true;
}

unsplit_searches::~unsplit_searches() {
  searches_unsplit = was_;
}

bool unsplit_searches::allowed() {
  return !searches_unsplit;
}

size_t search_parts(const index_options& opts) {
  if (!opts.run_parts || !unsplit_searches::allowed()) return 1;
  static const size_t cores = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
  return opts.split_parts != 0 ? opts.split_parts : cores;
}

size_t rescored_candidates(size_t k, size_t rescore_depth, size_t oversample) {
  oversample = std::max<size_t>(1, oversample);
  if (rescore_depth == 0 || k <= rescore_depth) return std::max<size_t>(1, k * oversample);
  return rescore_depth * oversample + (k - rescore_depth);
}

std::optional<std::vector<std::optional<float>>>
visited_scores(const index_options& opts, const embedder& spec, const std::vector<uuid>& ids,
               const std::function<std::optional<float>(float* values, size_t count)>& score) {
  std::vector<std::optional<float>> scores(ids.size());
  auto visited = opts.visit_originals(spec, ids, [&](size_t i, float* values, size_t count) {
    if (i < scores.size()) scores[i] = score(values, count);
  });
  if (!visited) return std::nullopt;
  return scores;
}

std::string describe_embedder(const embedder& spec) {
  std::string out = spec.name + " (" + to_string(spec.kind) + ", dim " + std::to_string(spec.dim);
  if (spec.kind == embedder_kind::dense) out += std::string{", "} + to_string(spec.metric);
  const auto& policy = spec.index;
  if (policy != index_policy{}) {
    out += std::string{", index "} + to_string(policy.structure) + ", " +
           to_string(policy.quantization);
    if (policy.m != 0) out += ", m " + std::to_string(policy.m);
    if (policy.ef_construction != 0)
      out += ", ef_construction " + std::to_string(policy.ef_construction);
    if (policy.oversample != 0) out += ", oversample " + std::to_string(policy.oversample);
  }
  return out + ")";
}

} // namespace telos::storage
