// The Qdrant dialect's data model on Telos records: point ids (unsigned integers or UUIDs) and
// their deterministic Telos uuids, a collection's vector schema and the profile it becomes, the
// payload stored as a record's content, and payload filters (parsed once, evaluated on records).
#pragma once

#include "telos/messages/json_value.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"
#include "telos/messages/search.hpp"
#include "telos/messages/uuid.hpp"

#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace telos::server {

/// A request the API refuses: the HTTP status and the message of Qdrant's error body. Thrown only
/// inside a request's handler and answered there; it never reaches an actor.
struct api_error : std::runtime_error {
  int status;
  api_error(int code, const std::string& message) : std::runtime_error(message), status(code) {}
};

/// 400 "Bad request: <field>: <what>".
[[noreturn]] void bad_request(const std::string& field, const std::string& what);
/// A request's JSON body, which must be an object; an empty body is {} unless `required`.
/// 400 "Format error in JSON body: …" otherwise.
json_value parse_body(const std::string& body, bool required);
/// Refuses keys of a request body (or part of one, its keys prefixed by `prefix`) other than
/// `known`, so a typo is never ignored: 400 naming the key.
void known_keys(const json_value& body, std::initializer_list<const char*> known,
                const std::string& prefix = {});
/// A failed store call as an api_error: invalid input is the client's (400), an absent id 404,
/// overload 503, everything else the server's (500).
[[noreturn]] void store_failure(const caf::error& err);

// -- point ids ------------------------------------------------------------------------------------

/// The Telos id of a Qdrant point id: a UUID string is that UUID; an unsigned integer n is
/// 00000000-0000-0001-<n as 8 big-endian bytes>, so integers sort before UUIDs and among
/// themselves by value (Qdrant's order), and integer 0 is not the nil uuid. A UUID in that
/// reserved range is refused, so two different Qdrant ids never share a record.
uuid point_uuid(const json_value& id, const std::string& field);
/// The Qdrant form of a stored id: the integer when it is in the integer range, else the UUID
/// string (lower case, hyphenated).
json_value point_id_json(const uuid& id);
/// The id just before `id` in uuid order (for an inclusive scroll offset); nullopt for nil.
std::optional<uuid> uuid_before(const uuid& id);

// -- collection schema ----------------------------------------------------------------------------

/// One vector of a collection: which Telos embedder holds it and how Qdrant scores it.
struct vector_slot {
  /// The Qdrant name; empty for the single unnamed vector.
  std::string name;
  /// The embedder of the store's profile (v0, v1, …: Qdrant's names need not be embedder names).
  std::string embedder;
  embedder_kind kind = embedder_kind::dense;
  /// dense and multi: the size; sparse: unused.
  uint32_t size = 0;
  /// "Cosine", "Dot" or "Euclid" (sparse: "Dot").
  std::string distance = "Cosine";
};

struct collection_schema {
  /// True when the collection has one unnamed dense vector ("vectors": {"size":…,"distance":…}).
  bool unnamed = false;
  std::vector<vector_slot> slots;
  /// "vectors" and "sparse_vectors" as the collection answers them.
  json_value vectors_config;
  json_value sparse_config;
  /// Fields announced by PUT /collections/{name}/index: field → schema as given.
  json_value payload_schema = json_value::object();
  /// How many attributes of the store get secondary-index rows for payload indexes (fixed when
  /// the store is created: payload_index_slots for new collections, 0 for collections created
  /// before payload indexes existed).
  uint32_t index_slot_count = 0;
  /// Indexed payload fields (normalised key, "a.b") → the attribute slot holding their values.
  std::map<std::string, uint32_t> index_slots;

  /// Reads the body of PUT /collections/{name}; refuses what Telos cannot do, naming the field.
  static collection_schema from_request(const json_value& body);
  /// The collection a store's profile is (a cluster's store on a coordinator): every embedder a
  /// named vector of its name; dense {size, distance: cosine Cosine, dot Dot, l2 Euclid}, multi
  /// {size, distance Cosine, multivector_config max_sim}, sparse a sparse vector.
  static collection_schema from_profile(const telos::profile& p);
  /// The form kept in the collection's directory, and back.
  json_value to_json() const;
  static collection_schema from_json(const json_value& doc);
  /// The store's profile: one embedder per slot.
  telos::profile profile() const;
  /// The slot a request names ("" = the unnamed vector, or the only vector); 400 naming `field`
  /// for an unknown name.
  const vector_slot& slot(const std::string& name, const std::string& field) const;
};

/// Reads one vector of a point or query in the form of its slot (dense: numbers; sparse:
/// {"indices","values"}; multi: a list of vectors), normalised as Qdrant does for Cosine, sparse
/// entries sorted by index. 400 naming `field` for a wrong shape, size, duplicate index or a
/// number that is not a finite float.
embedding read_vector(const json_value& doc, const vector_slot& slot, const std::string& field);
/// The vector in Qdrant's form.
json_value vector_json(const embedding& e, const vector_slot& slot);

/// The score Qdrant reports for an embedding against a query (both read by read_vector):
/// Cosine and Dot: dot product; Euclid: distance; sparse: dot over shared indices; multi: the sum
/// over query tokens of the best cosine with a document token.
double qdrant_score(const embedding& query, const embedding& doc, const vector_slot& slot);
/// "Higher is better" form of a Qdrant score (Euclid distances are negated).
double rank_value(double qdrant_score, const vector_slot& slot);

// -- payload --------------------------------------------------------------------------------------

/// The payload stored in a record's content ({} when empty).
json_value payload_of(const memory& m);
/// The record content holding a payload.
std::string payload_text(const json_value& payload);

// -- payload indexes ------------------------------------------------------------------------------

/// Attribute slots a new collection's store indexes (graph_options::indexed_attributes), so at
/// most this many payload fields of a collection are indexed at once.
constexpr uint32_t payload_index_slots = 16;
/// The record attribute of slot `n` ("qdrant.index.<n>").
std::string index_attribute(uint32_t slot);
/// A filter key in its normalised form ("a[].b" → "a.b"); 400 naming `field` when malformed.
std::string normalised_key(const std::string& key, const std::string& field);
/// The attributes a record carries for the collection's indexed fields: for each, the one
/// string, integer or boolean value at the field (encoded with its type), or a marker when the
/// field holds several such values (or a very long string), so the record is a candidate for
/// every match on it; no attribute when the field holds none.
std::map<std::string, std::string> index_attributes(const collection_schema& schema,
                                                    const json_value& payload);

// -- payload paths --------------------------------------------------------------------------------

/// The numbers at a payload key (arrays met on the way and at the end flattened); with
/// `datetimes`, the RFC 3339 datetime strings there instead, as microseconds since the epoch.
std::vector<double> payload_numbers(const json_value& payload, const std::string& key,
                                    bool datetimes);
/// Microseconds since the epoch of an RFC 3339 datetime; nullopt when `text` is not one.
std::optional<double> parse_datetime(const std::string& text);

// -- filters --------------------------------------------------------------------------------------

/// A Qdrant filter: must, should, must_not and min_should over conditions (match value / any /
/// except / text, range on numbers and RFC 3339 datetimes, values_count, is_empty, is_null,
/// has_id, nested, and filters as conditions). Keys are paths "a.b"; "a[].b" and arrays met on
/// the way are flattened, and a condition on a field holds when it holds for one of its values.
class payload_filter {
public:
  /// No conditions: admits every point.
  payload_filter();
  ~payload_filter();
  payload_filter(const payload_filter&);
  payload_filter& operator=(const payload_filter&);
  /// Parses a filter; null is the empty filter. 400 naming the field (e.g.
  /// "filter.must[1].match: unknown key 'likes'") for anything it does not know.
  static payload_filter parse(const json_value& doc, const std::string& field);
  /// Both this and `other` must admit a point.
  payload_filter both(const payload_filter& other) const;
  bool empty() const;
  bool admits(const uuid& id, const json_value& payload) const;
  /// A store filter whose matches are a superset of this filter's (candidates from the
  /// secondary-index rows of indexed fields: every `match` value or any condition on an indexed
  /// field that the whole filter requires), or nullopt when no such condition is indexed.
  /// Every candidate still has to pass admits().
  std::optional<telos::filter> index_filter(const std::map<std::string, uint32_t>& slots) const;

  struct node;

private:
  std::shared_ptr<const node> root_;
};

} // namespace telos::server
