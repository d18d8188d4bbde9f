// Reads IDX image files through zlib (see idx_images.hpp).
#include "idx_images.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>

namespace telos::bench {

namespace {

uint32_t big_endian_u32(const unsigned char* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

} // namespace

vectors read_idx_images(const std::string& path, size_t limit) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw std::runtime_error("cannot open " + path);
  std::unique_ptr<gzFile_s, int (*)(gzFile)> closer{file, gzclose};
  unsigned char header[16];
  if (gzread(file, header, sizeof(header)) != static_cast<int>(sizeof(header)) ||
      big_endian_u32(header) != 0x803)
    throw std::runtime_error(path + " is not an IDX file of u8 images (magic 0x00000803)");
  vectors out;
  out.count = std::min<size_t>(big_endian_u32(header + 4), limit);
  out.dim = size_t{big_endian_u32(header + 8)} * big_endian_u32(header + 12);
  std::vector<unsigned char> pixels(out.count * out.dim);
  size_t done = 0;
  while (done < pixels.size()) {
    auto chunk = static_cast<unsigned>(std::min<size_t>(pixels.size() - done, 1 << 24));
    int got = gzread(file, pixels.data() + done, chunk);
    if (got <= 0)
      throw std::runtime_error(path + " ends after " + std::to_string(done) + " pixels");
    done += static_cast<size_t>(got);
  }
  out.values.assign(pixels.begin(), pixels.end());
  return out;
}

} // namespace telos::bench
