// Fashion-MNIST's gzip-compressed IDX image files (Debian package dataset-fashion-mnist) as float
// vectors, for the subcommands that measure on real vectors (index, http).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace telos::bench {

/// Row-major float vectors.
struct vectors {
  size_t count = 0;
  size_t dim = 0;
  std::vector<float> values;
  const float* row(size_t i) const { return values.data() + i * dim; }
};

/// Reads up to `limit` images of a gzip-compressed IDX file (magic 0x803, u8 pixels) as floats;
/// std::runtime_error naming the file when it cannot be read or is not such a file.
vectors read_idx_images(const std::string& path, size_t limit);

} // namespace telos::bench
