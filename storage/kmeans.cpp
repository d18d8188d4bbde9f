// k-means in bounded steps (see kmeans.hpp), on the library's vector kernels.
#include "telos/storage/kmeans.hpp"

#include "telos/storage/vector_kernels.hpp"

#include <algorithm>
#include <utility>

namespace telos::storage {

void sample_front(std::vector<uint32_t>& positions, size_t count, std::mt19937_64& rng) {
  for (size_t i = 0; i < count; ++i) {
    std::uniform_int_distribution<size_t> pick{i, positions.size() - 1};
    std::swap(positions[i], positions[pick(rng)]);
  }
}

size_t nearest_centroid(const float* x, const float* centroids, size_t count, size_t dim,
                        kmeans_kind kind, float* scores) {
  if (kind == kmeans_kind::spherical) {
    kernels::dot_rows(x, centroids, count, dim, dim, scores);
    return static_cast<size_t>(std::max_element(scores, scores + count) - scores);
  }
  kernels::squared_l2_rows(x, centroids, count, dim, dim, scores);
  return static_cast<size_t>(std::min_element(scores, scores + count) - scores);
}

kmeans_training::kmeans_training(std::vector<float> sample, size_t dim, size_t centroids,
                                 size_t iterations, kmeans_kind kind, std::mt19937_64 rng)
    : centroid_count_(centroids), dim_(dim), points_(0), iterations_(iterations), kind_(kind),
      rng_(std::move(rng)) {
  use_sample(std::move(sample));
}

kmeans_training::kmeans_training(std::function<std::vector<float>()> make_sample, size_t dim,
                                 size_t centroids, size_t iterations, kmeans_kind kind,
                                 std::mt19937_64 rng)
    : make_sample_(std::move(make_sample)), centroid_count_(centroids), dim_(dim), points_(0),
      iterations_(iterations), kind_(kind), rng_(std::move(rng)) {}

void kmeans_training::use_sample(std::vector<float> sample) {
  sample_ = std::move(sample);
  points_ = dim_ == 0 ? 0 : sample_.size() / dim_;
  const size_t centroids = std::min(centroid_count_, points_);
  centroids_.assign(sample_.begin(), sample_.begin() + static_cast<ptrdiff_t>(centroids * dim_));
  sums_.assign(centroids * dim_, 0.0f);
  counts_.assign(centroids, 0);
  scores_.resize(centroids);
  centroid_count_ = centroids;
}

bool kmeans_training::step(size_t work) {
  if (make_sample_) {
    auto make = std::move(make_sample_);
    make_sample_ = nullptr;
    use_sample(make());
  }
  if (done() || points_ == 0 || counts_.empty()) {
    iteration_ = iterations_;
    return true;
  }
  const size_t centroids = counts_.size();
  const size_t chunk = std::max<size_t>(1, work / std::max<size_t>(centroids * dim_, 1));
  for (size_t end = std::min(points_, position_ + chunk); position_ < end; ++position_) {
    const float* x = sample_.data() + position_ * dim_;
    size_t c = nearest_centroid(x, centroids_.data(), centroids, dim_, kind_, scores_.data());
    float* sum = sums_.data() + c * dim_;
    for (size_t d = 0; d < dim_; ++d)
      sum[d] += x[d];
    ++counts_[c];
  }
  if (position_ < points_) return false;
  std::uniform_int_distribution<size_t> any{0, points_ - 1};
  for (size_t c = 0; c < centroids; ++c) {
    float* centre = centroids_.data() + c * dim_;
    if (counts_[c] == 0) {
      const float* x = sample_.data() + any(rng_) * dim_;
      std::copy(x, x + dim_, centre);
    } else if (kind_ == kmeans_kind::spherical) {
      std::copy(sums_.data() + c * dim_, sums_.data() + (c + 1) * dim_, centre);
      kernels::normalize(centre, dim_);
    } else {
      const float inverse = 1.0f / static_cast<float>(counts_[c]);
      for (size_t d = 0; d < dim_; ++d)
        centre[d] = sums_[c * dim_ + d] * inverse;
    }
  }
  std::fill(sums_.begin(), sums_.end(), 0.0f);
  std::fill(counts_.begin(), counts_.end(), 0u);
  position_ = 0;
  return ++iteration_ >= iterations_;
}

bool kmeans_training::run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed) && (make_sample_ || !done()))
    step();
  return done();
}

size_t kmeans_training::memory_bytes() const {
  return (sample_.capacity() + centroids_.capacity() + sums_.capacity() + scores_.capacity()) *
             sizeof(float) +
         counts_.capacity() * sizeof(uint32_t);
}

} // namespace telos::storage
