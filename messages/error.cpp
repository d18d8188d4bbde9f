// Names and rendering of Telos error codes.
#include "telos/messages/error.hpp"

#include <caf/message.hpp>

namespace telos {

const char* to_string(ec code) {
  switch (code) {
  case ec::none:
    return "none";
  case ec::not_found:
    return "not_found";
  case ec::invalid_argument:
    return "invalid_argument";
  case ec::unknown_keyspace:
    return "unknown_keyspace";
  case ec::corrupt_value:
    return "corrupt_value";
  case ec::conflict:
    return "conflict";
  case ec::io_error:
    return "io_error";
  case ec::closed:
    return "closed";
  case ec::format_mismatch:
    return "format_mismatch";
  case ec::not_a_store:
    return "not_a_store";
  case ec::already_exists:
    return "already_exists";
  case ec::overloaded:
    return "overloaded";
  case ec::read_only:
    return "read_only";
  case ec::locked:
    return "locked";
  case ec::unavailable:
    return "unavailable";
  case ec::internal:
    return "internal";
  }
  return "unknown";
}

caf::error make_error(ec code, std::string what) {
  return caf::make_error(code, std::move(what));
}

ec code_of(const caf::error& err) {
  if (!err) return ec::none;
  if (err.category() != caf::atom("telos")) return ec::internal;
  return static_cast<ec>(err.code());
}

std::string describe(const caf::error& err) {
  if (!err) return "no error";
  std::string out;
  if (err.category() == caf::atom("telos"))
    out = to_string(static_cast<ec>(err.code()));
  else
    out = caf::to_string(err.category()) + " error " + std::to_string(err.code());
  const auto& ctx = err.context();
  if (ctx.match_elements<std::string>()) {
    out += ": ";
    out += ctx.get_as<std::string>(0);
  } else if (!ctx.empty()) {
    out += ": ";
    out += caf::to_string(ctx);
  }
  return out;
}

} // namespace telos
