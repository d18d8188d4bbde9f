// UTF-8 well-formedness (RFC 3629): what validation uses for content, namespaces and attributes.
#pragma once

#include <cstddef>
#include <string_view>

namespace telos {

/// Offset of the first byte that does not belong to a well-formed UTF-8 sequence (overlong
/// forms, surrogates, code points above U+10FFFF and truncated sequences are all ill-formed), or
/// std::string_view::npos when the whole text is well-formed.
size_t utf8_error_offset(std::string_view text);

/// True when the whole text is well-formed UTF-8.
inline bool is_valid_utf8(std::string_view text) {
  return utf8_error_offset(text) == std::string_view::npos;
}

} // namespace telos
