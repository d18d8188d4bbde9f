// The graph verifier: page-wise scans with multi_get of the rows each page implies.
#include "telos/storage/graph_verifier.hpp"

#include "telos/messages/envelope.hpp"
#include "telos/storage/edges.hpp"
#include "telos/storage/key_codec.hpp"

#include <xxhash.h>

#include <unordered_map>
#include <unordered_set>

namespace telos::storage {

namespace {

constexpr size_t page_rows = 512;

class verifier {
public:
  verifier(const interner& terms, const quad_store& quads, const secondary_index* index,
           const memory_exists& exists, graph_verify_options opts)
      : terms_(terms), quads_(quads), db_(quads.db()), index_(index), exists_(exists), opts_(opts) {
  }

  expected<graph_report> run() {
    if (auto ok = check_forward_terms(); !ok) return std::move(ok.error());
    if (auto ok = check_reverse_terms(); !ok) return std::move(ok.error());
    for (auto order : all_quad_orders)
      if (auto ok = check_quads(order); !ok) return std::move(ok.error());
    if (index_ != nullptr) {
      if (auto ok = check_attribute_index(); !ok) return std::move(ok.error());
      if (auto ok = check_time_index(); !ok) return std::move(ok.error());
    }
    return std::move(report_);
  }

private:
  void problem(const std::string& keyspace, std::string_view key, const std::string& what) {
    ++report_.problem_count;
    if (report_.problems.size() < opts_.max_problems)
      report_.problems.push_back("keyspace '" + keyspace + "' key '" + printable_key(key) +
                                 "': " + what);
  }

  /// Calls `page` with the rows of a keyspace, page_rows at a time (copied out of the scan).
  template <class PageFn>
  expected<void> for_pages(keyspace_id ks, PageFn page) {
    auto rows = db_.scan(ks, key_range::all());
    if (!rows) return std::move(rows.error());
    std::vector<std::pair<std::string, std::string>> batch;
    for (auto& it = *rows; it->valid(); it->next()) {
      batch.emplace_back(std::string{it->key()}, std::string{it->value()});
      if (batch.size() == page_rows) {
        if (auto ok = page(batch); !ok) return ok;
        batch.clear();
      }
    }
    if (auto err = (*rows)->status()) return err;
    if (!batch.empty()) return page(batch);
    return {};
  }

  static std::optional<std::string> text_of(std::string_view value, std::string_view key,
                                            std::string& why) {
    auto env = decode_envelope(value, key);
    if (!env) {
      why = describe(env.error());
      return std::nullopt;
    }
    return std::string{env->payload};
  }

  expected<bool> memory_exists_cached(const uuid& id) {
    if (known_memories_.count(id) > 0) return true;
    auto found = exists_(id);
    if (!found) return found;
    if (*found && known_memories_.size() < (1u << 20)) known_memories_.insert(id);
    return found;
  }

  /// The texts of term ids read from intern_rev itself (not the interner's cache, which could
  /// hide a lost row), remembered for the run since a few terms (types, namespaces) recur.
  expected<std::vector<std::optional<std::string>>> read_terms(const std::vector<term_id>& ids) {
    std::vector<std::string> keys;
    std::vector<term_id> unknown;
    std::unordered_set<term_id> asked;
    for (auto id : ids) {
      if (term_texts_.count(id) > 0 || !asked.insert(id).second) continue;
      unknown.push_back(id);
      keys.push_back(interner::reverse_key(id));
    }
    if (term_texts_.size() + unknown.size() > (1u << 20)) term_texts_.clear();
    if (!keys.empty()) {
      auto values = db_.multi_get(terms_.keyspaces().reverse, keys);
      if (!values) return std::move(values.error());
      for (size_t i = 0; i < keys.size(); ++i) {
        std::optional<std::string> text;
        std::string why;
        if ((*values)[i] && unknown[i] != 0) text = text_of(*(*values)[i], keys[i], why);
        term_texts_[unknown[i]] = std::move(text);
      }
    }
    std::vector<std::optional<std::string>> result;
    result.reserve(ids.size());
    for (auto id : ids)
      result.push_back(term_texts_[id]);
    return result;
  }

  // -- interner ----------------------------------------------------------------------------------

  expected<void> check_forward_terms() {
    const auto& ks = terms_.keyspaces();
    std::string group_hash;
    std::unordered_set<std::string> group_texts;
    return for_pages(ks.forward, [&](const auto& rows) -> expected<void> {
      std::vector<std::string> reverse_keys;
      std::vector<std::pair<std::string, std::string>> expected_texts;
      for (const auto& [key, value] : rows) {
        if (key.size() != 16) {
          problem("intern_fwd", key,
                  "key has " + std::to_string(key.size()) + " bytes, expected 16");
          continue;
        }
        std::string why;
        auto text = text_of(value, key, why);
        if (!text) {
          problem("intern_fwd", key, why);
          continue;
        }
        auto hash = key.substr(0, 8);
        if (interner::forward_prefix(*text) != hash)
          problem("intern_fwd", key, "hash prefix does not match the hash of its text");
        if (hash != group_hash) {
          group_hash = hash;
          group_texts.clear();
        }
        if (!group_texts.insert(*text).second)
          problem("intern_fwd", key, "text is interned under two ids");
        reverse_keys.push_back(key.substr(8));
        expected_texts.emplace_back(key, std::move(*text));
      }
      auto reverse = db_.multi_get(ks.reverse, reverse_keys);
      if (!reverse) return std::move(reverse.error());
      for (size_t i = 0; i < reverse_keys.size(); ++i) {
        const auto& [key, text] = expected_texts[i];
        if (!(*reverse)[i]) {
          problem("intern_fwd", key,
                  "id " + std::to_string(load_u64_be(key.data() + 8)) + " has no intern_rev row");
          continue;
        }
        std::string why;
        auto back = text_of(*(*reverse)[i], reverse_keys[i], why);
        if (back && *back != text)
          problem("intern_fwd", key, "intern_rev row of its id holds another text");
      }
      return {};
    });
  }

  expected<void> check_reverse_terms() {
    const auto& ks = terms_.keyspaces();
    return for_pages(ks.reverse, [&](const auto& rows) -> expected<void> {
      std::vector<std::string> forward_keys;
      std::vector<const std::string*> reverse_keys;
      for (const auto& [key, value] : rows) {
        if (key.size() != 8) {
          problem("intern_rev", key,
                  "key has " + std::to_string(key.size()) + " bytes, expected 8");
          continue;
        }
        std::string why;
        auto text = text_of(value, key, why);
        if (!text) {
          problem("intern_rev", key, why);
          continue;
        }
        auto id = load_u64_be(key.data());
        if (id == 0) {
          if (text->size() != 8) problem("intern_rev", key, "high-water row is not 8 bytes");
          continue;
        }
        ++report_.terms;
        forward_keys.push_back(interner::forward_key(*text, id));
        reverse_keys.push_back(&key);
      }
      auto forward = db_.multi_get(ks.forward, forward_keys);
      if (!forward) return std::move(forward.error());
      for (size_t i = 0; i < forward_keys.size(); ++i)
        if (!(*forward)[i])
          problem("intern_rev", *reverse_keys[i], "its text has no intern_fwd row for this id");
      return {};
    });
  }

  // -- quads -------------------------------------------------------------------------------------

  expected<void> check_quads(quad_order order) {
    const auto& ks = quads_.keyspaces();
    std::string name = std::string{"quad_"} + to_string(order);
    return for_pages(ks.of(order), [&](const auto& rows) -> expected<void> {
      std::vector<quad> decoded;
      std::vector<const std::pair<std::string, std::string>*> sources;
      for (const auto& row : rows) {
        auto q = decode_quad_key(order, row.first);
        if (!q) {
          problem(name, row.first, describe(q.error()));
          continue;
        }
        decoded.push_back(*q);
        sources.push_back(&row);
      }
      // The spoc scan checks its three siblings and values; the others only that their spoc row
      // exists, which together proves every row has all four.
      std::vector<quad_order> siblings;
      if (order == quad_order::spoc)
        siblings = {quad_order::pocs, quad_order::ocsp, quad_order::cspo};
      else
        siblings = {quad_order::spoc};
      for (auto sibling : siblings) {
        std::vector<std::string> keys;
        keys.reserve(decoded.size());
        for (const auto& q : decoded)
          keys.push_back(quad_key(sibling, q));
        auto values = db_.multi_get(ks.of(sibling), keys);
        if (!values) return std::move(values.error());
        for (size_t i = 0; i < keys.size(); ++i) {
          if (!(*values)[i])
            problem(name, sources[i]->first,
                    std::string{"has no row in quad_"} + to_string(sibling));
          else if (*(*values)[i] != sources[i]->second)
            problem(name, sources[i]->first,
                    std::string{"value differs from its row in quad_"} + to_string(sibling));
        }
      }
      if (order != quad_order::spoc) return {};
      report_.quads += decoded.size();
      return check_quad_terms(name, decoded, sources);
    });
  }

  expected<void>
  check_quad_terms(const std::string& name, const std::vector<quad>& decoded,
                   const std::vector<const std::pair<std::string, std::string>*>& sources) {
    std::vector<term_id> ids;
    ids.reserve(decoded.size() * 4);
    for (const auto& q : decoded)
      ids.insert(ids.end(), {q.s, q.p, q.o, q.c});
    auto texts = read_terms(ids);
    if (!texts) return std::move(texts.error());
    static constexpr const char* positions[] = {"subject", "predicate", "object", "context"};
    for (size_t i = 0; i < decoded.size(); ++i) {
      bool complete = true;
      for (size_t j = 0; j < 4; ++j) {
        if (!(*texts)[4 * i + j]) {
          complete = false;
          problem(name, sources[i]->first,
                  std::string{positions[j]} + " term " + std::to_string(ids[4 * i + j]) +
                      " is not interned");
        }
      }
      if (!complete) continue;
      auto source = memory_of_term(*(*texts)[4 * i]);
      auto target = memory_of_term(*(*texts)[4 * i + 2]);
      const auto& type = *(*texts)[4 * i + 1];
      if (!source || !target || type.empty() || type[0] != static_cast<char>(term_kind::edge_type))
        continue;
      ++report_.edges;
      auto props = decode_value<edge_properties>(sources[i]->second, sources[i]->first, 1);
      if (!props) problem(name, sources[i]->first, describe(props.error()));
      for (const auto& [end, role] : {std::pair{*source, "source"}, std::pair{*target, "target"}}) {
        auto found = memory_exists_cached(end);
        if (!found) return std::move(found.error());
        if (!*found)
          problem(name, sources[i]->first,
                  std::string{"edge dangles: its "} + role + " memory " + end.to_string() +
                      " does not exist");
      }
    }
    return {};
  }

  // -- secondary indexes -------------------------------------------------------------------------

  expected<void> check_attribute_index() {
    return for_pages(index_->keyspaces().attributes, [&](const auto& rows) -> expected<void> {
      std::vector<term_id> ids;
      std::vector<const std::string*> keys;
      for (const auto& row : rows) {
        ++report_.index_rows;
        if (row.first.size() != 32) {
          problem("idx_attr", row.first,
                  "key has " + std::to_string(row.first.size()) + " bytes, expected 32");
          continue;
        }
        ids.push_back(load_u64_be(row.first.data()));
        ids.push_back(load_u64_be(row.first.data() + 8));
        keys.push_back(&row.first);
      }
      auto texts = read_terms(ids);
      if (!texts) return std::move(texts.error());
      for (size_t i = 0; i < keys.size(); ++i) {
        const auto& attribute = (*texts)[2 * i];
        const auto& value = (*texts)[2 * i + 1];
        if (!attribute || attribute->empty() ||
            (*attribute)[0] != static_cast<char>(term_kind::attribute))
          problem("idx_attr", *keys[i], "attribute term is missing or not an attribute");
        else if (!index_->is_indexed(std::string_view{*attribute}.substr(1)))
          problem("idx_attr", *keys[i],
                  "attribute '" + attribute->substr(1) + "' is not indexed but has rows");
        if (!value || value->empty() ||
            (*value)[0] != static_cast<char>(term_kind::attribute_value))
          problem("idx_attr", *keys[i], "value term is missing or not an attribute value");
        auto id = uuid::from_bytes(std::string_view{*keys[i]}.substr(16));
        auto found = memory_exists_cached(id);
        if (!found) return std::move(found.error());
        if (!*found) problem("idx_attr", *keys[i], "memory " + id.to_string() + " does not exist");
      }
      return {};
    });
  }

  expected<void> check_time_index() {
    return for_pages(index_->keyspaces().time, [&](const auto& rows) -> expected<void> {
      for (const auto& row : rows) {
        ++report_.index_rows;
        key_reader key{row.first, "idx_time"};
        auto bucket = key.i64();
        auto created_at = bucket ? key.i64() : expected<int64_t>{bucket.error()};
        auto id = created_at ? key.id() : expected<uuid>{created_at.error()};
        if (!id) {
          problem("idx_time", row.first, describe(id.error()));
          continue;
        }
        if (!key.done()) {
          problem("idx_time", row.first, "key has trailing bytes");
          continue;
        }
        if (*bucket != index_->bucket_of(*created_at))
          problem("idx_time", row.first,
                  "bucket " + std::to_string(*bucket) + " does not hold created_at " +
                      std::to_string(*created_at));
        auto found = memory_exists_cached(*id);
        if (!found) return std::move(found.error());
        if (!*found)
          problem("idx_time", row.first, "memory " + id->to_string() + " does not exist");
      }
      return {};
    });
  }

  const interner& terms_;
  const quad_store& quads_;
  const backend& db_;
  const secondary_index* index_;
  const memory_exists& exists_;
  graph_verify_options opts_;
  graph_report report_;
  std::unordered_set<uuid> known_memories_;
  std::unordered_map<term_id, std::optional<std::string>> term_texts_;
};

} // namespace

expected<graph_report> verify_graph(const interner& terms, const quad_store& quads,
                                    const secondary_index* index, const memory_exists& exists,
                                    graph_verify_options opts) {
  return verifier{terms, quads, index, exists, opts}.run();
}

} // namespace telos::storage
