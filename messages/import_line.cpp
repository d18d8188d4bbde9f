// One line of a JSONL import: parse (json.hpp), complete, validate (memory.hpp).
#include "telos/messages/import_line.hpp"

#include "telos/messages/json.hpp"

namespace telos {

void complete_memory(memory& m, int64_t now_ms) {
  if (m.id.is_nil()) m.id = uuid::random();
  if (m.created_at == 0) m.created_at = now_ms;
  if (m.updated_at == 0) m.updated_at = now_ms;
}

expected<std::optional<memory>> parse_import_line(std::string_view text, const profile& p,
                                                  const limits& lim, int64_t now_ms) {
  if (text.find_first_not_of(" \t\r") == std::string_view::npos) return std::optional<memory>{};
  auto m = memory_from_json(text, p);
  if (!m) return std::move(m.error());
  complete_memory(*m, now_ms);
  if (auto valid = validate(*m, p, lim); !valid) return std::move(valid.error());
  return std::optional<memory>{std::move(*m)};
}

} // namespace telos
