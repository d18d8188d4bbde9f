// The JSON forms of profiles, memories, queries, search results and errors, as the CLI reads and
// prints them. Text in, text out: this header keeps nlohmann out of its includers; json_value.hpp
// offers the same codec on nlohmann documents.
//
// A memory:
//   {"id":"<uuid>","namespace":"default","content":"text","attributes":{"k":"v"},
//    "created_at":1700000000000,"updated_at":1700000000000,
//    "embeddings":{"E1":[0.1,...],"E6":{"indices":[3,17],"values":[0.5,0.2]},"E12":[[...],[...]]}}
// Each embedding's form follows its embedder's kind: dense = array of numbers, sparse = object of
// indices and values, multi = array of tokens (arrays of exactly dim numbers). Floats are printed
// with the fewest digits that read back to the same float.
//
// Parsing only decodes; it does not validate (dimensions, NaN, completeness): that is validate()
// in memory.hpp, the one place that checks memories. Parse errors are ec::invalid_argument naming
// the field path, e.g. "embeddings.E1[3]: expected a number, got string \"x\"". No function here
// throws.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"
#include "telos/messages/search.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace telos {

/// How text is printed.
struct json_style {
  /// Spaces per level; negative = everything on one line.
  int indent = -1;
  /// Print the embeddings of memories (they are most of the bytes).
  bool embeddings = true;
};

/// Reads {"name":"custom","embedders":[{"name":"E1","kind":"dense","dim":1024,"metric":"cosine"},
/// ...]} and validates the result (profile::validate).
expected<profile> profile_from_json(std::string_view text);
std::string to_json(const profile& p, const json_style& style = {});

/// Reads one memory. A missing "id" (or null) leaves it nil, for the caller to assign; a missing
/// "namespace" is "default"; missing timestamps are 0, for the caller to set; unknown fields and
/// unknown embedders are errors.
expected<memory> memory_from_json(std::string_view text, const profile& p);
std::string to_json(const memory& m, const profile& p, const json_style& style = {});

/// Reads a query: a memory-shaped object whose "embeddings" holds one or more of the profile's
/// embedders (the other memory fields may be present and are ignored, so a stored memory can
/// serve as a query). Returns embedder name → query embedding.
expected<std::map<std::string, embedding>> parse_query(std::string_view text, const profile& p);

/// {"results":[{"id":"<uuid>","score":0.93},...]}.
std::string to_json(const std::vector<hit>& hits, const json_style& style = {});
/// As for hits; when records are present each result also has "memory": {...}.
std::string to_json(const search_result& r, const profile& p, const json_style& style = {});

/// {"error":"invalid_argument: ...","code":"invalid_argument"}.
std::string error_to_json(const caf::error& err, const json_style& style = {});

} // namespace telos
