// search: top-k by one embedder, or fused over several; one query from the command line or a
// file, or many from a JSONL file in one process.
#include "cli.hpp"

#include <cmath>
#include <fstream>
#include <iostream>

namespace telos::cli {
namespace {

struct search_options {
  std::string embedder;
  std::string vector;
  std::string query_file;
  std::string queries_file;
  uint32_t k = 10;
  filter_options filter;
  bool fuse = false;
  std::string weights;
  std::string fusion = "rrf";
  uint32_t rrf_k = 60;
  bool records = false;
};

/// Parses "E1=1,E5=0.5"; every name must be an embedder of the profile.
expected<std::map<std::string, float>> parse_weights(const std::string& text, const profile& p) {
  std::map<std::string, float> result;
  if (text.empty()) return result;
  size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    auto item = text.substr(start, end - start);
    auto eq = item.find('=');
    if (eq == std::string::npos)
      return make_error(ec::invalid_argument,
                        "--weights: '" + item + "' is not NAME=WEIGHT (e.g. E1=1,E5=0.5)");
    auto name = item.substr(0, eq);
    if (p.find(name) == nullptr)
      return make_error(ec::invalid_argument, "--weights: no embedder '" + name +
                                                  "' in the profile (" + p.name_list() + ")");
    try {
      size_t used = 0;
      auto w = std::stof(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1 || !std::isfinite(w)) throw std::invalid_argument{item};
      result[name] = w;
    } catch (const std::exception&) {
      return make_error(ec::invalid_argument, "--weights: the weight of " + name +
                                                  " is not a number: '" + item.substr(eq + 1) +
                                                  "'");
    }
    start = end + 1;
  }
  return result;
}

/// Runs one query given as the embeddings it names; returns the result document.
expected<json_value> run_query(store& db, const search_options& o, const telos::filter& f,
                               const std::map<std::string, float>& weights,
                               std::map<std::string, embedding> queries) {
  search_result result;
  if (o.fuse) {
    for (auto& [name, w] : weights)
      if (queries.count(name) == 0)
        return make_error(ec::invalid_argument, "--weights names " + name +
                                                    " but the query has no " + name + " embedding");
    fused_search_request req;
    req.queries = std::move(queries);
    req.weights = weights;
    req.fusion = o.fusion == "sum" ? fusion::weighted_sum : fusion::rrf;
    req.rrf_k = o.rrf_k;
    req.k = o.k;
    req.filter = f;
    req.with_records = o.records;
    auto got = db.search_fused(std::move(req));
    if (!got) return got.error();
    result = std::move(*got);
  } else {
    auto q = queries.find(o.embedder);
    if (q == queries.end())
      return make_error(ec::invalid_argument, "the query has no embedding for " + o.embedder);
    search_request req;
    req.embedder = o.embedder;
    req.query = std::move(q->second);
    req.k = o.k;
    req.filter = f;
    req.with_records = o.records;
    auto got = db.search(std::move(req));
    if (!got) return got.error();
    result = std::move(*got);
  }
  if (o.records) return to_json_value(result, db.profile(), false);
  return to_json_value(result.hits);
}

/// --vector JSON: one embedding of the --embedder.
expected<std::map<std::string, embedding>> vector_query(const search_options& o, const profile& p) {
  const auto* spec = p.find(o.embedder);
  if (spec == nullptr)
    return make_error(ec::invalid_argument,
                      "no embedder '" + o.embedder + "' in the profile (" + p.name_list() + ")");
  auto doc = parse_json(o.vector);
  if (!doc) return make_error(ec::invalid_argument, "--vector: " + describe(doc.error()));
  auto e = embedding_from_json_value(*doc, *spec);
  if (!e) return make_error(ec::invalid_argument, "--vector: " + describe(e.error()));
  return std::map<std::string, embedding>{{o.embedder, std::move(*e)}};
}

int run_batch(store& db, const search_options& o, const telos::filter& f,
              const std::map<std::string, float>& weights) {
  std::ifstream in{o.queries_file, std::ios::binary};
  if (!in) return fail(exit_bad_input, "cannot read '" + o.queries_file + "'");
  std::string text;
  uint64_t line = 0;
  uint64_t failed = 0;
  int worst = exit_ok;
  while (std::getline(in, text)) {
    ++line;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto queries = parse_query(text, db.profile());
    expected<json_value> result = queries ? run_query(db, o, f, weights, std::move(*queries))
                                          : expected<json_value>{queries.error()};
    if (result) {
      print(*result);
      continue;
    }
    // One output line per query line, so results stay aligned with their queries.
    ++failed;
    worst = std::max(worst, exit_code_of(result.error()));
    auto message = o.queries_file + ":" + std::to_string(line) + ": " + describe(result.error());
    std::cerr << "telos: search: " << message << '\n';
    print({{"error", message}, {"line", line}});
  }
  return worst;
}

std::function<int()> search_setup(CLI::App& sub, const global_options& globals) {
  auto o = std::make_shared<search_options>();
  sub.add_option("--embedder", o->embedder, "Embedder to search (single search)");
  auto* vec = sub.add_option("--vector", o->vector,
                             "Query embedding as JSON: [..] dense, "
                             "{\"indices\":[..],\"values\":[..]} sparse, [[..],..] multi");
  auto* file = sub.add_option("--query", o->query_file,
                              "Query file: a memory JSON holding the query embeddings");
  auto* many =
      sub.add_option("--queries", o->queries_file, "JSONL of queries, one result line each");
  vec->excludes(file)->excludes(many);
  file->excludes(many);
  sub.add_option("--k", o->k, "Results")->capture_default_str()->check(CLI::Range(1, 10000));
  o->filter.add_to(sub);
  auto* fuse = sub.add_flag("--fuse", o->fuse,
                            "Fuse every embedder of the query (weighted reciprocal rank)");
  sub.add_option("--weights", o->weights, "Fusion weights, e.g. E1=1,E5=0.5 (default 1)")
      ->needs(fuse);
  sub.add_option("--fusion", o->fusion, "rrf (reciprocal rank) or sum (weighted scores)")
      ->capture_default_str()
      ->check(CLI::IsMember({"rrf", "sum"}))
      ->needs(fuse);
  sub.add_option("--rrf-k", o->rrf_k, "The k of reciprocal rank fusion")
      ->capture_default_str()
      ->needs(fuse);
  sub.add_flag("--records", o->records, "Include each hit's memory (without embeddings)");
  return [&globals, o] {
    if (o->fuse && !o->embedder.empty())
      return fail(exit_bad_input, "search: --fuse and --embedder exclude each other");
    if (!o->fuse && o->embedder.empty())
      return fail(exit_bad_input, "search: give --embedder NAME, or --fuse");
    if (o->vector.empty() && o->query_file.empty() && o->queries_file.empty())
      return fail(exit_bad_input, "search: give the query with --vector, --query or --queries");
    if (o->fuse && !o->vector.empty())
      return fail(exit_bad_input, "search: --fuse takes its queries from --query or --queries");
    std::string query_text;
    if (!o->query_file.empty()) {
      auto text = read_input(o->query_file);
      if (!text) return fail(text.error());
      query_text = std::move(*text);
    }
    if (!o->queries_file.empty()) {
      std::ifstream probe{o->queries_file};
      if (!probe) return fail(exit_bad_input, "cannot read '" + o->queries_file + "'");
    }
    return with_store(globals, [&](store& db) {
      if (!o->fuse && db.profile().find(o->embedder) == nullptr)
        return fail(exit_bad_input, "search: no embedder '" + o->embedder + "' in the profile (" +
                                        db.profile().name_list() + ")");
      auto weights = parse_weights(o->weights, db.profile());
      if (!weights) return fail(weights.error());
      auto f = o->filter.build();
      if (!f) return fail(f.error());
      if (!o->queries_file.empty()) return run_batch(db, *o, *f, *weights);
      auto queries = o->vector.empty() ? parse_query(query_text, db.profile())
                                       : vector_query(*o, db.profile());
      if (!queries) return fail(queries.error(), "search");
      auto result = run_query(db, *o, *f, *weights, std::move(*queries));
      if (!result) return fail(result.error(), "search");
      print(*result);
      return int{exit_ok};
    });
  };
}

registrar search_command{
    {"search", "Top-k memories by one embedder (--embedder) or fused over several (--fuse)",
     search_setup}};

} // namespace
} // namespace telos::cli
