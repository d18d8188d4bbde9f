// Post-run and post-crash checks of telos-stress.
#include "checks.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

namespace telos::stress {

namespace {

std::string first_difference(const std::vector<float>& a, const std::vector<float>& b,
                             const char* what) {
  std::ostringstream out;
  if (a.size() != b.size()) {
    out << what << " has " << b.size() << " elements, expected " << a.size();
    return out.str();
  }
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) {
      out << what << "[" << i << "] is " << b[i] << ", expected " << a[i];
      return out.str();
    }
  return {};
}

double dot(const float* a, const float* b, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i)
    sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

double cosine(const float* a, const float* b, size_t n) {
  auto na = std::sqrt(dot(a, a, n));
  auto nb = std::sqrt(dot(b, b, n));
  return na == 0 || nb == 0 ? 0 : dot(a, b, n) / (na * nb);
}

bool shares_term(const embedding& query, const embedding& stored) {
  size_t i = 0;
  size_t j = 0;
  while (i < query.indices.size() && j < stored.indices.size()) {
    if (query.indices[i] == stored.indices[j]) return true;
    if (query.indices[i] < stored.indices[j])
      ++i;
    else
      ++j;
  }
  return false;
}

/// Scores agree when they differ by less than float rounding of the engine's kernels can explain.
bool close(double engine, double reference) {
  return std::fabs(engine - reference) <= 1e-3 + 1e-4 * std::fabs(reference);
}

} // namespace

std::string difference(const memory& expected, const memory& actual) {
  if (expected.id != actual.id) return "id is " + actual.id.to_string();
  uint64_t n = 0;
  uint32_t v = 0;
  uint64_t en = 0;
  uint32_t ev = 0;
  if (generator::decode(actual, n, v) && generator::decode(expected, en, ev) && v != ev)
    return "has version " + std::to_string(v) + ", expected version " + std::to_string(ev);
  if (expected.ns != actual.ns)
    return "namespace is '" + actual.ns + "', expected '" + expected.ns + "'";
  if (expected.content != actual.content)
    return "content is '" + actual.content.substr(0, 80) + "', expected '" + expected.content + "'";
  if (expected.attributes != actual.attributes) return "attributes differ";
  if (expected.created_at != actual.created_at)
    return "created_at is " + std::to_string(actual.created_at) + ", expected " +
           std::to_string(expected.created_at);
  if (expected.embeddings.size() != actual.embeddings.size())
    return "has " + std::to_string(actual.embeddings.size()) + " embeddings, expected " +
           std::to_string(expected.embeddings.size());
  for (auto& [name, want] : expected.embeddings) {
    auto got = actual.embeddings.find(name);
    if (got == actual.embeddings.end()) return "embedding " + name + " is missing";
    if (want.indices != got->second.indices) return "embedding " + name + ": sparse indices differ";
    auto diff = first_difference(want.values, got->second.values, ("embedding " + name).c_str());
    if (!diff.empty()) return diff;
  }
  return {};
}

double reference_score(const embedder& spec, const embedding& query, const embedding& stored) {
  switch (spec.kind) {
  case embedder_kind::dense:
    switch (spec.metric) {
    case metric::cosine:
      return cosine(query.values.data(), stored.values.data(), spec.dim);
    case metric::dot:
      return dot(query.values.data(), stored.values.data(), spec.dim);
    case metric::l2: {
      double sum = 0;
      for (size_t i = 0; i < spec.dim; ++i) {
        double d = static_cast<double>(query.values[i]) - stored.values[i];
        sum += d * d;
      }
      return -std::sqrt(sum);
    }
    }
    return 0;
  case embedder_kind::sparse: {
    double sum = 0;
    size_t i = 0;
    size_t j = 0;
    while (i < query.indices.size() && j < stored.indices.size()) {
      if (query.indices[i] == stored.indices[j])
        sum += static_cast<double>(query.values[i++]) * stored.values[j++];
      else if (query.indices[i] < stored.indices[j])
        ++i;
      else
        ++j;
    }
    return sum;
  }
  case embedder_kind::multi: {
    auto q_tokens = query.tokens(spec.dim);
    auto s_tokens = stored.tokens(spec.dim);
    if (q_tokens == 0 || s_tokens == 0) return 0;
    double total = 0;
    for (size_t q = 0; q < q_tokens; ++q) {
      double best = -2;
      for (size_t s = 0; s < s_tokens; ++s)
        best = std::max(best, cosine(query.values.data() + q * spec.dim,
                                     stored.values.data() + s * spec.dim, spec.dim));
      total += best;
    }
    return total / static_cast<double>(q_tokens);
  }
  }
  return 0;
}

namespace {

struct checker {
  store& db;
  const generator& gen;
  std::vector<id_state>& model;
  check_options& opts;
  check_result result;

  void problem(std::string text) {
    // The first few hundred say everything; a broken store must not flood the terminal.
    if (result.problems.size() < 500) result.problems.push_back(std::move(text));
  }

  std::string label(uint64_t n) const {
    return "memory " + gen.id(n).to_string() + " (n=" + std::to_string(n) + ")";
  }

  /// Reads ids in chunks; nullopt entries are absent.
  std::optional<std::vector<std::optional<memory>>> read(const std::vector<uint64_t>& numbers) {
    std::vector<uuid> ids;
    ids.reserve(numbers.size());
    for (auto n : numbers)
      ids.push_back(gen.id(n));
    auto got = db.get_batch(ids);
    if (!got) {
      problem("get_batch failed: " + describe(got.error()));
      return std::nullopt;
    }
    return std::move(*got);
  }

  /// The state a read memory shows: absent, or the version its attributes name when its whole
  /// content equals what that version wrote. nullopt (with a problem) when it matches no version.
  std::optional<id_state> observed(uint64_t n, const std::optional<memory>& m) {
    if (!m) return id_state{0, false};
    uint64_t mn = 0;
    uint32_t v = 0;
    if (!generator::decode(*m, mn, v) || mn != n || v == 0) {
      problem(label(n) + " is present but is not a memory this run wrote (attributes n/v)");
      return std::nullopt;
    }
    auto diff = difference(gen.make(n, v), *m);
    if (!diff.empty()) {
      problem(label(n) + " version " + std::to_string(v) + " is damaged: " + diff);
      return std::nullopt;
    }
    return id_state{v, true};
  }

  void resolve_uncertain() {
    for (auto& u : opts.uncertain) {
      auto after = model;
      writer_script::apply(u.op, after);
      auto got = read(u.op.ids);
      if (!got) continue;
      size_t before_count = 0;
      size_t after_count = 0;
      for (size_t i = 0; i < u.op.ids.size(); ++i) {
        auto n = u.op.ids[i];
        auto seen = observed(n, (*got)[i]);
        if (!seen) continue;
        auto as_before = *seen == model[n] || (!seen->present && !model[n].present);
        auto as_after = *seen == after[n] || (!seen->present && !after[n].present);
        if (as_before) ++before_count;
        if (as_after) ++after_count;
        if (!as_before && !as_after)
          problem(label(n) + ": unacknowledged " + to_string(u.op.kind) + " of writer " +
                  std::to_string(u.writer) + " (op " + std::to_string(u.seq) +
                  ") left a state that is neither before nor after it");
      }
      auto total = u.op.ids.size();
      if (after_count == total) {
        for (auto n : u.op.ids)
          model[n] = after[n];
      } else if (before_count != total) {
        problem("unacknowledged " + std::string{to_string(u.op.kind)} + " of writer " +
                std::to_string(u.writer) + " (op " + std::to_string(u.seq) + ", " +
                std::to_string(total) +
                " memories) is half-applied: " + std::to_string(after_count) + " written, " +
                std::to_string(total - after_count) + " not");
      }
    }
  }

  void compare_records() {
    std::vector<uint64_t> chunk;
    auto flush = [&] {
      auto got = read(chunk);
      if (!got) return;
      for (size_t i = 0; i < chunk.size(); ++i) {
        auto n = chunk[i];
        const auto& want = model[n];
        const auto& have = (*got)[i];
        ++result.memories_checked;
        if (want.present && !have) {
          problem("LOST: " + label(n) + ": acknowledged version " + std::to_string(want.version) +
                  " is missing");
        } else if (!want.present && have) {
          uint64_t hn = 0;
          uint32_t hv = 0;
          generator::decode(*have, hn, hv);
          problem("RESURRECTED: " + label(n) + " was deleted (or never written) but version " +
                  std::to_string(hv) + " is present");
        } else if (want.present) {
          auto diff = difference(gen.make(n, want.version), *have);
          if (!diff.empty())
            problem("DAMAGED: " + label(n) + " acknowledged version " +
                    std::to_string(want.version) + ": " + diff);
        }
      }
      chunk.clear();
    };
    for (uint64_t n = 0; n < gen.memories(); ++n) {
      chunk.push_back(n);
      if (chunk.size() == 256) flush();
    }
    if (!chunk.empty()) flush();
  }

  void compare_counts_and_list() {
    std::map<std::string, uint64_t> per_ns;
    std::vector<uuid> present;
    for (uint64_t n = 0; n < gen.memories(); ++n)
      if (model[n].present) {
        ++per_ns[generator::namespace_of(n)];
        present.push_back(gen.id(n));
      }
    std::sort(present.begin(), present.end());
    auto total = db.count();
    if (!total)
      problem("count() failed: " + describe(total.error()));
    else if (*total != present.size())
      problem("count() is " + std::to_string(*total) + ", expected " +
              std::to_string(present.size()));
    for (auto& [ns, expected] : per_ns) {
      auto got = db.count(ns);
      if (got && *got != expected)
        problem("count(" + ns + ") is " + std::to_string(*got) + ", expected " +
                std::to_string(expected));
    }
    std::vector<uuid> listed;
    std::optional<uuid> after;
    for (;;) {
      auto page = db.list({}, 1000, after);
      if (!page) {
        problem("list() failed: " + describe(page.error()));
        return;
      }
      for (auto& m : page->items)
        listed.push_back(m.id);
      if (!page->next_after || page->items.empty()) break;
      after = page->next_after;
    }
    if (listed != present)
      problem("list() returned " + std::to_string(listed.size()) + " ids, expected the " +
              std::to_string(present.size()) + " present ids in id order");
  }

  void run_verify() {
    auto report = db.verify(false);
    if (!report) {
      problem("verify() failed: " + describe(report.error()));
      return;
    }
    if (!report->consistent || !report->problems.empty()) {
      problem("verify() reports the store inconsistent:");
      for (auto& p : report->problems)
        problem("  verify: " + p);
    }
  }

  /// Per embedder: are its indexes approximate? Exact ones must match brute force exactly.
  std::map<std::string, bool> approximate() {
    std::map<std::string, bool> result_map;
    auto st = db.stats();
    if (!st) return result_map;
    for (auto& ix : st->indexes)
      if (storage::approximate_structure(ix.stats.structure)) result_map[ix.embedder] = true;
    return result_map;
  }

  /// The exact ranking of the present memories (of namespace `ns`, when not empty) for a query,
  /// best first, ties by id; a sparse index finds only memories sharing a term with the query.
  std::vector<std::pair<double, uuid>> ranking(const embedder& spec, const embedding& query,
                                               const std::vector<uint64_t>& present,
                                               const std::vector<embedding>& stored,
                                               const std::string& ns) const {
    std::vector<std::pair<double, uuid>> ref;
    for (size_t i = 0; i < present.size(); ++i) {
      if (!ns.empty() && generator::namespace_of(present[i]) != ns) continue;
      if (spec.kind == embedder_kind::sparse && !shares_term(query, stored[i])) continue;
      ref.emplace_back(reference_score(spec, query, stored[i]), gen.id(present[i]));
    }
    std::sort(ref.begin(), ref.end(), [](auto& a, auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    return ref;
  }

  /// Compares an answer with a reference ranking: as many hits as expected, sorted, each a
  /// candidate with the reference's score, and (for exact indexes) each among the true top k up
  /// to ties. Returns the recall@k.
  double compare(const std::string& what, const std::vector<hit>& hits,
                 const std::vector<std::pair<double, uuid>>& ref, bool exact) {
    auto expected_count = std::min<size_t>(opts.k, ref.size());
    if (hits.size() != expected_count) {
      problem(what + " returned " + std::to_string(hits.size()) + " hits, expected " +
              std::to_string(expected_count));
      return 0;
    }
    if (!std::is_sorted(hits.begin(), hits.end(), better))
      problem(what + ": hits are not sorted by score, then id");
    if (expected_count == 0) return 1;
    std::map<uuid, double> ref_score;
    for (auto& [score, id] : ref)
      ref_score[id] = score;
    auto kth = ref[expected_count - 1].first;
    std::set<uuid> top;
    for (size_t i = 0; i < expected_count; ++i)
      top.insert(ref[i].second);
    size_t found = 0;
    for (auto& h : hits) {
      auto s = ref_score.find(h.id);
      if (s == ref_score.end()) {
        problem(what + ": hit " + h.id.to_string() +
                " is not a candidate (absent, deleted, or "
                "of another namespace)");
        continue;
      }
      if (!close(h.score, s->second))
        problem(what + ": hit " + h.id.to_string() + " has score " + std::to_string(h.score) +
                ", the reference gives " + std::to_string(s->second));
      // A hit that ties the k-th best within the tolerance is as good as the reference's.
      if (top.count(h.id) != 0 || close(s->second, kth)) ++found;
      // Float kernels may order near-ties differently from double-precision brute force, so a
      // hit outside the reference top k is wrong only when it scores clearly below the k-th.
      else if (exact && !close(s->second, kth) && s->second < kth)
        problem(what + ": hit " + h.id.to_string() + " (score " + std::to_string(s->second) +
                ") is not among the true top " + std::to_string(expected_count) +
                " (the k-th best scores " + std::to_string(kth) + ")");
    }
    return static_cast<double>(found) / static_cast<double>(expected_count);
  }

  void compare_searches() {
    auto approx = approximate();
    const auto& profile = gen.profile();
    std::vector<uint64_t> present;
    for (uint64_t n = 0; n < gen.memories(); ++n)
      if (model[n].present) present.push_back(n);
    // Fused queries over every embedder, weights 1, 0.5, 1, 0.5, …: their reference is built
    // embedder by embedder below, as the engine fuses: each embedder's top max(k, depth)
    // candidates, weight / (rrf_k + rank) summed per id.
    constexpr uint32_t fused_depth = 100;
    std::vector<fused_search_request> fused(opts.queries);
    std::vector<std::map<uuid, double>> fused_ref(opts.queries);
    for (uint32_t q = 0; q < opts.queries; ++q) {
      for (size_t e = 0; e < profile.embedders.size(); ++e) {
        fused[q].queries[profile.embedders[e].name] = gen.make_query(e, 2000000 + q);
        fused[q].weights[profile.embedders[e].name] = e % 2 == 0 ? 1.0f : 0.5f;
      }
      fused[q].k = opts.k;
      fused[q].with_records = false;
    }
    bool all_exact = true;
    for (size_t e = 0; e < profile.embedders.size(); ++e) {
      const auto& spec = profile.embedders[e];
      bool exact = !approx[spec.name];
      all_exact = all_exact && exact;
      std::vector<embedding> stored;
      stored.reserve(present.size());
      for (auto n : present)
        stored.push_back(gen.make_embedding_of(n, model[n].version, e));
      double recall_sum = 0;
      double lowest_recall = 2;
      std::string lowest_query;
      uint32_t queries =
          exact || opts.queries == 0 ? opts.queries : std::max(opts.queries, opts.recall_queries);
      for (uint32_t q = 0; q < queries; ++q) {
        search_request req;
        req.embedder = spec.name;
        req.query = gen.make_query(e, 1000000 + q);
        req.k = opts.k;
        req.with_records = false;
        // Every other query filters by namespace, so filtered search is checked too.
        if (q % 2 == 1) req.filter.ns = generator::namespace_of(q);
        auto what = "search " + spec.name + " query " + std::to_string(q) +
                    (req.filter.ns.empty() ? "" : " in " + req.filter.ns);
        auto ref = ranking(spec, req.query, present, stored, req.filter.ns);
        auto got = db.search(req);
        ++result.searches_checked;
        if (!got) {
          problem(what + " failed: " + describe(got.error()));
          continue;
        }
        auto query_recall = compare(what, got->hits, ref, exact);
        recall_sum += query_recall;
        if (query_recall < lowest_recall) {
          lowest_recall = query_recall;
          lowest_query = what;
        }

        if (q >= opts.queries) continue;
        auto fused_ranking = ranking(spec, fused[q].queries[spec.name], present, stored, {});
        auto depth = std::min<size_t>(fused_ranking.size(), std::max(opts.k, fused_depth));
        for (size_t r = 0; r < depth; ++r)
          fused_ref[q][fused_ranking[r].second] +=
              fused[q].weights[spec.name] / (60.0 + static_cast<double>(r + 1));
      }
      if (!exact && queries > 0) {
        auto recall = recall_sum / queries;
        result.min_recall = std::min(result.min_recall, recall);
        if (recall < opts.min_recall)
          problem("search " + spec.name + ": mean recall@" + std::to_string(opts.k) + " over " +
                  std::to_string(queries) + " queries is " + std::to_string(recall) + ", below " +
                  std::to_string(opts.min_recall) + " (lowest: " + lowest_query + ", " +
                  std::to_string(lowest_recall) + ")");
      }
    }
    for (uint32_t q = 0; q < opts.queries; ++q) {
      auto got = db.search_fused(fused[q]);
      ++result.searches_checked;
      auto what = "fused search query " + std::to_string(q);
      if (!got) {
        problem(what + " failed: " + describe(got.error()));
        continue;
      }
      std::vector<std::pair<double, uuid>> ref;
      for (auto& [id, score] : fused_ref[q])
        ref.emplace_back(score, id);
      std::sort(ref.begin(), ref.end(), [](auto& a, auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      });
      // With an approximate index the candidate lists themselves are approximate, so only the
      // shape of the answer is checked then.
      if (all_exact) {
        compare(what, got->hits, ref, true);
      } else if (!std::is_sorted(got->hits.begin(), got->hits.end(), better) ||
                 got->hits.size() > opts.k) {
        problem(what + ": more than k hits, or not sorted");
      }
    }
  }
};

} // namespace

check_result check_store(store& db, const generator& gen, std::vector<id_state>& model,
                         check_options opts) {
  checker c{db, gen, model, opts, {}};
  c.resolve_uncertain();
  c.compare_records();
  c.compare_counts_and_list();
  c.run_verify();
  c.compare_searches();
  return std::move(c.result);
}

} // namespace telos::stress
