// One line of a JSONL import (`telos import`): reading, completing and validating a memory, the
// pure part of the CLI's importer, kept here so that it is tested and fuzzed without a store.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace telos {

/// Fills in what a memory read from JSON may leave out: a random id for a nil one, `now_ms` for
/// zero timestamps.
void complete_memory(memory& m, int64_t now_ms);

/// One line of JSONL: nullopt for a blank line (only spaces, tabs, CR), else the memory of
/// memory_from_json, completed with `now_ms` and valid for `p` and `lim`. A line that does not
/// parse or validate is ec::invalid_argument saying what is wrong.
expected<std::optional<memory>> parse_import_line(std::string_view text, const profile& p,
                                                  const limits& lim, int64_t now_ms);

} // namespace telos
