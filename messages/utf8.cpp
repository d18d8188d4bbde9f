// A table-free UTF-8 checker following the well-formed byte sequences of Unicode 15, table 3-7.
#include "telos/messages/utf8.hpp"

#include <cstdint>

namespace telos {

size_t utf8_error_offset(std::string_view text) {
  auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    uint8_t lead = byte(i);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    // The allowed range of the second byte depends on the lead byte: this is what excludes
    // overlong forms (E0, F0), surrogates (ED) and code points above U+10FFFF (F4).
    size_t length = 0;
    uint8_t second_min = 0x80;
    uint8_t second_max = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) second_min = 0xA0;
      if (lead == 0xED) second_max = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) second_min = 0x90;
      if (lead == 0xF4) second_max = 0x8F;
    } else {
      return i;
    }
    if (i + 1 >= n || byte(i + 1) < second_min || byte(i + 1) > second_max) return i;
    for (size_t k = 2; k < length; ++k)
      if (i + k >= n || (byte(i + k) & 0xC0) != 0x80) return i;
    i += length;
  }
  return std::string_view::npos;
}

} // namespace telos
