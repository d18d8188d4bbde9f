// The JSON codec of json.hpp on nlohmann documents, for code that builds or inspects JSON itself
// (the CLI). Names differ from the text API (…_json_value) so that a std::string argument is
// never ambiguous between text and a document.
#pragma once

#include "telos/messages/json.hpp"

#include <nlohmann/json.hpp>

namespace telos {

/// Keeps keys in insertion order, so printed memories read id, namespace, content, ….
using json_value = nlohmann::ordered_json;

/// Parses JSON text; a syntax error is ec::invalid_argument "invalid JSON: parse error at line
/// 1, column 5: ...".
expected<json_value> parse_json(std::string_view text);
/// Prints a document (indent < 0: one line); invalid UTF-8 in strings is replaced, never thrown.
std::string dump(const json_value& doc, int indent = -1);

expected<profile> profile_from_json_value(const json_value& doc);
json_value to_json_value(const profile& p);

expected<memory> memory_from_json_value(const json_value& doc, const profile& p);
json_value to_json_value(const memory& m, const profile& p, bool with_embeddings = true);

expected<std::map<std::string, embedding>> parse_query_value(const json_value& doc,
                                                             const profile& p);

/// One embedding in the form of its embedder's kind.
expected<embedding> embedding_from_json_value(const json_value& doc, const embedder& spec);
json_value to_json_value(const embedding& e, const embedder& spec);

json_value to_json_value(const std::vector<hit>& hits);
json_value to_json_value(const search_result& r, const profile& p, bool with_embeddings = true);
json_value to_json_value(const caf::error& err);

} // namespace telos
