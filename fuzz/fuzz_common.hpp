// What every fuzz target shares: the check that stops a run when a decoder breaks one of its
// promises (beyond crashes and sanitizer reports, which stop it anyway), and the framing that
// lets the fuzzer reach past checksums it cannot forge.
#pragma once

#include "telos/messages/envelope.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace telos::fuzz {

/// Aborts (a finding for libFuzzer) when a property the decoders promise does not hold.
inline void require(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

/// A checksummed envelope around `framed` = [format byte][schema u16 LE][payload]: the header's
/// length and the trailer's checksum are computed here, so the fuzzer explores the payload
/// decoders rather than the checksum. Inputs shorter than the 3 header bytes give an empty string.
inline std::string envelope_of(std::string_view framed) {
  if (framed.size() < 3) return {};
  auto format = static_cast<value_format>(static_cast<uint8_t>(framed[0]));
  auto schema =
      static_cast<uint16_t>(static_cast<uint8_t>(framed[1]) | static_cast<uint8_t>(framed[2]) << 8);
  return encode_envelope(format, schema, framed.substr(3));
}

/// The inverse of envelope_of for a well-formed envelope (what the seed generator stores).
inline std::string framed_of(std::string_view envelope) {
  std::string out{envelope.substr(0, 3)};
  out.append(envelope.substr(envelope_header_size, envelope.size() - envelope_overhead));
  return out;
}

} // namespace telos::fuzz
