// k-means trained in steps of bounded work, so the index actor that drives it never blocks for
// long, or run to its end on a thread of the index actor's own (vector_index::begin_training): the
// MaxSim index's token centroids and the dense IVF index's list centroids.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace telos::storage {

/// Multiply-adds one training or filing step may spend (about a millisecond), so searches and
/// writes that wait for the owner's lock wait for one step at most.
inline constexpr size_t kmeans_step_work = size_t{1} << 21;

/// Puts a uniform sample of `count` of `positions` (count <= size) at its front: a partial
/// Fisher-Yates shuffle.
void sample_front(std::vector<uint32_t>& positions, size_t count, std::mt19937_64& rng);

enum class kmeans_kind : uint8_t {
  /// Spherical: rows go to the centroid of the largest dot product; centroids are normalised
  /// means (cosine and dot embeddings, MaxSim tokens).
  spherical,
  /// Euclidean: rows go to the centroid of the smallest squared L2 distance; centroids are means.
  euclidean,
};

/// Lloyd's iterations over a fixed sample. An empty centroid restarts at a random sampled row.
class kmeans_training {
public:
  /// `sample` holds points x dim floats (points >= centroids >= 1); its first `centroids` rows are
  /// the starting centroids. `rng` picks restarts.
  kmeans_training(std::vector<float> sample, size_t dim, size_t centroids, size_t iterations,
                  kmeans_kind kind, std::mt19937_64 rng);

  /// The same, with a sample that `make_sample` makes when the training first steps or runs: an
  /// index copies the sampled rows as they are stored (int8 codes are a quarter of their floats)
  /// and has them decoded on the training's thread, not under its lock. `make_sample` must own
  /// what it reads and give points x dim floats (points >= centroids >= 1, or none).
  kmeans_training(std::function<std::vector<float>()> make_sample, size_t dim, size_t centroids,
                  size_t iterations, kmeans_kind kind, std::mt19937_64 rng);

  /// Assigns up to about `work` multiply-adds' worth of sample rows (at least one) to their
  /// nearest centroid; at the end of the sample moves the centroids. True once the last
  /// iteration ended: centroids() are then the result.
  bool step(size_t work = kmeans_step_work);

  /// Steps until the last iteration ended or `stop` is set (checked between steps): what an index's
  /// owner runs on a thread of its own (vector_index::begin_training). The centroids are those
  /// that step() alone would give. Returns done().
  bool run(const std::atomic<bool>& stop);

  bool done() const { return iteration_ >= iterations_; }
  size_t centroid_count() const { return centroid_count_; }
  /// centroid_count() x dim floats: the current iteration's centroids, or the result once done().
  const std::vector<float>& centroids() const { return centroids_; }
  std::vector<float> take_centroids() { return std::move(centroids_); }
  /// Heap bytes of the sample, centroids, sums and counts.
  size_t memory_bytes() const;

private:
  /// Takes the sample and starts the centroids at its first rows.
  void use_sample(std::vector<float> sample);

  std::function<std::vector<float>()> make_sample_;
  size_t centroid_count_;
  std::vector<float> sample_;
  size_t dim_;
  size_t points_;
  size_t iterations_;
  kmeans_kind kind_;
  std::mt19937_64 rng_;
  std::vector<float> centroids_;
  std::vector<float> sums_;
  std::vector<uint32_t> counts_;
  std::vector<float> scores_;
  size_t iteration_ = 0;
  size_t position_ = 0;
};

/// The nearest of `count` centroid rows (dim floats each) to x under `kind`; `scores` is scratch
/// of at least count floats.
size_t nearest_centroid(const float* x, const float* centroids, size_t count, size_t dim,
                        kmeans_kind kind, float* scores);

} // namespace telos::storage
