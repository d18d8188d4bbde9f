// How floats travel in messages: as their IEEE-754 bit patterns.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace telos {

// CAF 0.17.6 writes a float or double through its own portable packing (caf::detail::pack754),
// which normalises by halving the value while it is at least 2: an infinity never gets there, so
// serialising a message that holds one loops forever (found by fuzz_caf_message: a peer's bytes
// that read as an infinite score hung the node when it wrote the value again). Our message types
// carry each float as its bit pattern instead (a u32 or u64 in CAF's byte order): exact for every
// value, NaN and infinities included, and cheaper than pack754's loop.

inline uint32_t bits_of(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

inline float float_of(uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

inline uint64_t bits_of(double x) {
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

inline double double_of(uint64_t b) {
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

inline std::vector<uint32_t> bits_of(const std::vector<float>& xs) {
  std::vector<uint32_t> out(xs.size());
  if (!xs.empty()) std::memcpy(out.data(), xs.data(), xs.size() * sizeof(float));
  return out;
}

inline std::vector<float> floats_of(const std::vector<uint32_t>& bs) {
  std::vector<float> out(bs.size());
  if (!bs.empty()) std::memcpy(out.data(), bs.data(), bs.size() * sizeof(float));
  return out;
}

inline std::map<std::string, uint32_t> bits_of(const std::map<std::string, float>& xs) {
  std::map<std::string, uint32_t> out;
  for (const auto& [k, v] : xs)
    out.emplace_hint(out.end(), k, bits_of(v));
  return out;
}

inline std::map<std::string, float> floats_of(const std::map<std::string, uint32_t>& bs) {
  std::map<std::string, float> out;
  for (const auto& [k, v] : bs)
    out.emplace_hint(out.end(), k, float_of(v));
  return out;
}

} // namespace telos
