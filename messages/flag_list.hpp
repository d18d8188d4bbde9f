// A list of yes/no answers that travels in messages (whether each removed id was stored, each
// removed edge or quad existed, each asked id exists).
#pragma once

#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/sec.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace telos {

/// A std::vector<bool> with its own wire format. CAF 0.17.6 reads a std::vector<bool> by
/// resizing to whatever element count the bytes claim before reading any element, so one message
/// with a garbage count (2^32 - 1) allocates 4 GiB (found by fuzz_caf_message). A flag_list
/// travels as its count and the flags packed 8 to a byte in a string, which CAF reads only as far
/// as the bytes it has; a count that does not match the packed bytes is an error.
struct flag_list : std::vector<bool> {
  using std::vector<bool>::vector;
  flag_list() = default;
  flag_list(std::vector<bool> xs) : std::vector<bool>(std::move(xs)) {}
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, flag_list& x) {
  auto count = static_cast<uint32_t>(x.size());
  std::string packed((x.size() + 7) / 8, '\0');
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i]) packed[i / 8] = static_cast<char>(packed[i / 8] | (1 << (i % 8)));
  auto unpack = caf::meta::load_callback([&]() -> caf::error {
    // One form per list only, so what reads writes back the same bytes: exactly the bytes the
    // count needs, unused bits of the last byte clear.
    if (packed.size() != (uint64_t{count} + 7) / 8)
      return caf::make_error(caf::sec::invalid_argument);
    if (count % 8 != 0 && (static_cast<uint8_t>(packed.back()) >> (count % 8)) != 0)
      return caf::make_error(caf::sec::invalid_argument);
    x.assign(count, false);
    for (uint32_t i = 0; i < count; ++i)
      x[i] = (static_cast<uint8_t>(packed[i / 8]) >> (i % 8)) & 1;
    return caf::none;
  });
  return f(caf::meta::type_name("flag_list"), count, packed, unpack);
}

} // namespace telos
