// Generates the kv workload from its seed, so every store under test and every rerun with the
// same seed gets byte-identical keys, values and access order.
#include "kv_workload.hpp"

#include <limits>
#include <random>

namespace telos::bench {

namespace {

void fill_random(std::mt19937_64& rng, char* out, size_t size) {
  while (size > 0) {
    uint64_t word = rng();
    size_t n = size < sizeof(word) ? size : sizeof(word);
    std::memcpy(out, &word, n);
    out += n;
    size -= n;
  }
}

} // namespace

kv_dataset::kv_dataset(const kv_workload_config& config) : config_(config) {
  if (config.keys == 0 || config.keys > std::numeric_limits<uint32_t>::max())
    throw kv_failure("--keys must be between 1 and 4294967295, got " + std::to_string(config.keys));
  if (config.key_size == 0 || config.value_size == 0 || config.batch_size == 0 ||
      config.scan_length == 0)
    throw kv_failure("key size, value size, batch size and scan length must be positive");
  std::mt19937_64 rng{config.seed};
  keys_.resize(config.keys * config.key_size);
  fill_random(rng, keys_.data(), keys_.size());
  // Half random, half a repeat of the random half: compresses to about 50%, like db_bench's
  // default --compression_ratio=0.5, so LZ4/ZSTD do realistic work instead of giving up.
  values_.resize(config.keys * config.value_size);
  size_t random_part = (config.value_size + 1) / 2;
  for (size_t i = 0; i < config.keys; ++i) {
    char* value = values_.data() + i * config.value_size;
    fill_random(rng, value, random_part);
    for (size_t j = random_part; j < config.value_size; ++j)
      value[j] = value[j - random_part];
  }
  std::uniform_int_distribution<uint32_t> any_key{0, static_cast<uint32_t>(config.keys - 1)};
  read_order_.resize(config.reads);
  for (auto& index : read_order_)
    index = any_key(rng);
  scan_starts_.resize(config.scans);
  for (auto& index : scan_starts_)
    index = any_key(rng);
}

} // namespace telos::bench
