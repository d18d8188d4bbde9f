// End-to-end tests of the telos CLI: every command runs the real binary on a real store, outputs
// are parsed as JSON, search answers are compared with a brute-force reference computed here,
// and every error path is checked for its message and exit code.
#include "lcg.hpp"
#include "process.hpp"

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using nlohmann::json;
using namespace telos::test;

namespace {

constexpr int exit_not_found = 1;
constexpr int exit_bad_input = 2;
constexpr int exit_store_error = 3;

/// Four embedders, one of each kind and two dense metrics, small enough to read in a failure.
const char* test_profile = R"({"name":"cli-test","embedders":[
  {"name":"E1","kind":"dense","dim":8,"metric":"cosine"},
  {"name":"E2","kind":"dense","dim":4,"metric":"l2"},
  {"name":"E3","kind":"sparse","dim":100},
  {"name":"E4","kind":"multi","dim":4}]})";

std::vector<float> dense(lcg& r, size_t dim) {
  std::vector<float> v(dim);
  for (auto& x : v)
    x = r.uniform();
  return v;
}

json sparse(lcg& r) {
  std::set<uint32_t> terms;
  while (terms.size() < 5)
    terms.insert(static_cast<uint32_t>(r.next() % 100));
  std::vector<uint32_t> indices(terms.begin(), terms.end());
  std::vector<float> values;
  for (size_t i = 0; i < indices.size(); ++i)
    values.push_back(0.1f + std::fabs(r.uniform()));
  return {{"indices", indices}, {"values", values}};
}

json multi(lcg& r) {
  json tokens = json::array();
  auto count = 1 + r.next() % 3;
  for (uint64_t t = 0; t < count; ++t)
    tokens.push_back(dense(r, 4));
  return tokens;
}

json make_memory(uint64_t i, const std::string& id = {}) {
  lcg r{i * 7919 + 17};
  json m = {{"namespace", "ns" + std::to_string(i % 3)},
            {"content", "memory number " + std::to_string(i)},
            {"attributes", {{"i", std::to_string(i)}}},
            {"created_at", 1700000000000 + static_cast<int64_t>(i)},
            {"embeddings",
             {{"E1", dense(r, 8)}, {"E2", dense(r, 4)}, {"E3", sparse(r)}, {"E4", multi(r)}}}};
  if (!id.empty()) m["id"] = id;
  return m;
}

std::string id_of(uint64_t i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "00000000-0000-4000-8000-%012llu",
                static_cast<unsigned long long>(i));
  return buf;
}

// -- brute-force reference scores (double precision, written independently of the engine) -----

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    s += static_cast<double>(a[i]) * b[i];
  return s;
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  return dot(a, b) / (std::sqrt(dot(a, a)) * std::sqrt(dot(b, b)));
}

double reference_score(const std::string& embedder, const json& query, const json& stored) {
  if (embedder == "E1")
    return cosine(query.get<std::vector<float>>(), stored.get<std::vector<float>>());
  if (embedder == "E2") {
    auto a = query.get<std::vector<float>>();
    auto b = stored.get<std::vector<float>>();
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i)
      s += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    return -std::sqrt(s);
  }
  if (embedder == "E3") {
    std::map<uint32_t, double> weights;
    for (size_t i = 0; i < stored["indices"].size(); ++i)
      weights[stored["indices"][i].get<uint32_t>()] = stored["values"][i].get<float>();
    double s = 0;
    for (size_t i = 0; i < query["indices"].size(); ++i) {
      auto w = weights.find(query["indices"][i].get<uint32_t>());
      if (w != weights.end()) s += query["values"][i].get<float>() * w->second;
    }
    return s;
  }
  // E4, MaxSim: mean over query tokens of the best cosine similarity to a stored token.
  double total = 0;
  for (auto& q : query) {
    double best = -2;
    for (auto& t : stored)
      best = std::max(best, cosine(q.get<std::vector<float>>(), t.get<std::vector<float>>()));
    total += best;
  }
  return total / static_cast<double>(query.size());
}

/// True when a sparse query and a stored sparse embedding share a term (only those are hits).
bool shares_term(const json& query, const json& stored) {
  std::set<uint32_t> terms;
  for (auto& t : stored["indices"])
    terms.insert(t.get<uint32_t>());
  for (auto& t : query["indices"])
    if (terms.count(t.get<uint32_t>()) != 0) return true;
  return false;
}

bool close(double a, double b) {
  return std::fabs(a - b) <= 1e-4 + 1e-4 * std::fabs(b);
}

/// A store in a temporary directory, created with the test profile, and a way to run telos on it.
struct store_fixture {
  temp_dir dir;
  std::string data = dir / "store";

  /// `init_flags` go to `telos init` (e.g. --shards 2).
  explicit store_fixture(const std::vector<std::string>& init_flags = {}) {
    write_file(dir / "profile.json", test_profile);
    std::vector<std::string> init = {"init", "--profile", dir / "profile.json"};
    init.insert(init.end(), init_flags.begin(), init_flags.end());
    auto r = telos(init);
    BOOST_REQUIRE_MESSAGE(r.code == 0, "init failed: " + r.err);
  }

  run_result telos(std::vector<std::string> args, const std::string& input = {}) const {
    args.insert(args.begin(), {"--data-dir", data});
    return run(telos_binary(), args, input);
  }

  json telos_json(std::vector<std::string> args, const std::string& input = {}) const {
    auto r = telos(std::move(args), input);
    BOOST_REQUIRE_MESSAGE(r.code == 0, "telos failed (" + std::to_string(r.code) + "): " + r.err);
    return json::parse(r.out);
  }

  /// Imports memories 0..n-1 with fixed ids; returns them by id.
  std::map<std::string, json> import(uint64_t n) const {
    std::string lines;
    std::map<std::string, json> result;
    for (uint64_t i = 0; i < n; ++i) {
      auto m = make_memory(i, id_of(i));
      lines += m.dump() + "\n";
      result[id_of(i)] = m;
    }
    write_file(dir / "import.jsonl", lines);
    auto out = telos_json({"import", dir / "import.jsonl", "--batch", "16"});
    BOOST_REQUIRE_EQUAL(out["imported"].get<uint64_t>(), n);
    BOOST_REQUIRE_EQUAL(out["failed"].get<uint64_t>(), 0u);
    return result;
  }
};

/// Checks one error path: the exit code, a JSON {"error": ...} on stdout, and `needle` in the
/// message on stderr.
void expect_error(const run_result& r, int code, const std::string& needle) {
  BOOST_TEST_CONTEXT("stdout: " << r.out << " stderr: " << r.err) {
    BOOST_CHECK_EQUAL(r.code, code);
    auto doc = json::parse(r.out, nullptr, false);
    BOOST_CHECK(!doc.is_discarded() && doc.contains("error"));
    BOOST_CHECK_MESSAGE(r.err.find(needle) != std::string::npos,
                        "stderr should mention '" + needle + "'");
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(cli)

BOOST_AUTO_TEST_CASE(init_creates_a_store_once_and_refuses_to_overwrite_it) {
  store_fixture f;
  auto stats = f.telos_json({"stats"});
  BOOST_CHECK_EQUAL(stats["memories"].get<uint64_t>(), 0u);
  BOOST_CHECK_EQUAL(stats["profile"].get<std::string>(), "cli-test");
  BOOST_CHECK_EQUAL(stats["backend"].get<std::string>(), "rocksdb");
  auto again = f.telos({"init"});
  expect_error(again, exit_store_error, "already exists");
}

BOOST_AUTO_TEST_CASE(commands_on_a_missing_store_fail_and_create_nothing) {
  temp_dir dir;
  auto missing = dir / "nothing-here";
  for (auto& args : std::vector<std::vector<std::string>>{
           {"count"}, {"get", id_of(1)}, {"list"}, {"stats"}, {"verify"}}) {
    auto cmd = args;
    cmd.insert(cmd.begin(), {"--data-dir", missing});
    expect_error(run(telos_binary(), cmd), exit_store_error, "no Telos store");
    BOOST_CHECK(!exists(missing));
  }
}

BOOST_AUTO_TEST_CASE(default_data_dir_and_backend_work_without_flags) {
  temp_dir dir;
  // ./telos-data is the default store and rocksdb the default backend.
  auto cwd = ::open(".", O_RDONLY);
  BOOST_REQUIRE(::chdir(dir.path().c_str()) == 0);
  write_file(dir / "small.json", test_profile);
  auto init = run(telos_binary(), {"init", "--profile", "small.json"});
  auto put = run(telos_binary(), {"put"}, make_memory(1).dump());
  auto count = run(telos_binary(), {"count"});
  BOOST_REQUIRE(::fchdir(cwd) == 0);
  ::close(cwd);
  BOOST_CHECK_EQUAL(init.code, 0);
  BOOST_CHECK(exists(dir / "telos-data"));
  BOOST_CHECK_EQUAL(put.code, 0);
  BOOST_CHECK_EQUAL(json::parse(count.out)["count"].get<int>(), 1);
}

BOOST_AUTO_TEST_CASE(put_then_get_returns_the_memory_exactly) {
  store_fixture f;
  auto input = make_memory(42);
  auto put = f.telos_json({"put"}, input.dump());
  auto id = put["id"].get<std::string>();
  BOOST_CHECK_EQUAL(id.size(), 36u);
  auto got = f.telos_json({"get", id});
  BOOST_CHECK_EQUAL(got["id"].get<std::string>(), id);
  BOOST_CHECK_EQUAL(got["namespace"], input["namespace"]);
  BOOST_CHECK_EQUAL(got["content"], input["content"]);
  BOOST_CHECK_EQUAL(got["attributes"], input["attributes"]);
  BOOST_CHECK_EQUAL(got["created_at"], input["created_at"]);
  // Floats compare as floats: the JSON text of a float may be shorter than the double's.
  for (auto& name : {"E1", "E2"})
    BOOST_CHECK(got["embeddings"][name].get<std::vector<float>>() ==
                input["embeddings"][name].get<std::vector<float>>());
  BOOST_CHECK(got["embeddings"]["E4"].get<std::vector<std::vector<float>>>() ==
              input["embeddings"]["E4"].get<std::vector<std::vector<float>>>());
  BOOST_CHECK_EQUAL(got["embeddings"]["E3"]["indices"], input["embeddings"]["E3"]["indices"]);
  BOOST_CHECK(got["embeddings"]["E3"]["values"].get<std::vector<float>>() ==
              input["embeddings"]["E3"]["values"].get<std::vector<float>>());

  // A put with the same id replaces; a put from a file works like one from stdin.
  auto replacement = make_memory(43, id);
  write_file(f.dir / "m.json", replacement.dump());
  BOOST_CHECK_EQUAL(f.telos_json({"put", f.dir / "m.json"})["id"].get<std::string>(), id);
  BOOST_CHECK_EQUAL(f.telos_json({"get", id})["content"], replacement["content"]);
  BOOST_CHECK_EQUAL(f.telos_json({"count"})["count"].get<int>(), 1);
}

BOOST_AUTO_TEST_CASE(put_rejects_bad_memories_with_exit_2) {
  store_fixture f;
  expect_error(f.telos({"put"}, "{not json"), exit_bad_input, "JSON");
  auto wrong_dim = make_memory(1);
  wrong_dim["embeddings"]["E1"] = {1.0, 2.0};
  expect_error(f.telos({"put"}, wrong_dim.dump()), exit_bad_input, "E1");
  auto missing = make_memory(1);
  missing["embeddings"].erase("E4");
  expect_error(f.telos({"put"}, missing.dump()), exit_bad_input, "E4");
  auto unknown = make_memory(1);
  unknown["embeddings"]["E9"] = {1.0};
  expect_error(f.telos({"put"}, unknown.dump()), exit_bad_input, "E9");
  expect_error(f.telos({"put", f.dir / "no-such-file.json"}), exit_bad_input, "no-such-file");
  BOOST_CHECK_EQUAL(f.telos_json({"count"})["count"].get<int>(), 0);
}

BOOST_AUTO_TEST_CASE(get_and_delete_of_unknown_or_malformed_ids) {
  store_fixture f;
  expect_error(f.telos({"get", id_of(7)}), exit_not_found, id_of(7));
  expect_error(f.telos({"delete", id_of(7)}), exit_not_found, id_of(7));
  expect_error(f.telos({"get", "not-an-id"}), exit_bad_input, "not-an-id");
  expect_error(f.telos({"delete", "1234"}), exit_bad_input, "1234");
}

BOOST_AUTO_TEST_CASE(import_stores_every_good_line_and_reports_each_bad_one) {
  store_fixture f;
  std::string lines;
  std::set<std::string> good;
  for (uint64_t i = 0; i < 40; ++i) {
    if (i == 6) lines += "{\"content\": broken\n"; // line 7: not JSON
    if (i == 20) {                                 // line 22: wrong dimension
      auto bad = make_memory(999, id_of(999));
      bad["embeddings"]["E2"] = {1.0};
      lines += bad.dump() + "\n";
    }
    if (i == 30) { // line 33: NaN is not JSON, a string is not a number
      auto bad = make_memory(998, id_of(998));
      bad["embeddings"]["E1"][0] = "x";
      lines += bad.dump() + "\n";
    }
    lines += make_memory(i, id_of(i)).dump() + "\n";
    good.insert(id_of(i));
  }
  lines += "\n"; // blank lines are skipped, not errors
  write_file(f.dir / "in.jsonl", lines);
  auto r = f.telos({"import", f.dir / "in.jsonl", "--batch", "8"});
  BOOST_TEST_INFO("stderr: " << r.err);
  BOOST_CHECK_EQUAL(r.code, exit_bad_input);
  auto out = json::parse(r.out);
  BOOST_CHECK_EQUAL(out["imported"].get<int>(), 40);
  BOOST_CHECK_EQUAL(out["failed"].get<int>(), 3);
  for (auto* line : {"in.jsonl:7:", "in.jsonl:22:", "in.jsonl:33:"})
    BOOST_CHECK_MESSAGE(r.err.find(line) != std::string::npos, "stderr names " << line);
  BOOST_CHECK_EQUAL(f.telos_json({"count"})["count"].get<int>(), 40);
  for (auto& id : {id_of(0), id_of(6), id_of(20), id_of(39)})
    BOOST_CHECK_EQUAL(f.telos({"get", id}).code, 0);
  BOOST_CHECK_EQUAL(f.telos({"get", id_of(999)}).code, exit_not_found);
  BOOST_CHECK_EQUAL(f.telos({"get", id_of(998)}).code, exit_not_found);
}

BOOST_AUTO_TEST_CASE(import_of_a_missing_file_is_bad_input) {
  store_fixture f;
  expect_error(f.telos({"import", f.dir / "missing.jsonl"}), exit_bad_input, "missing.jsonl");
}

BOOST_AUTO_TEST_CASE(count_and_list_by_namespace_page_in_id_order) {
  store_fixture f;
  auto all = f.import(30);
  BOOST_CHECK_EQUAL(f.telos_json({"count"})["count"].get<int>(), 30);
  BOOST_CHECK_EQUAL(f.telos_json({"count", "--namespace", "ns1"})["count"].get<int>(), 10);
  std::vector<std::string> listed;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    std::vector<std::string> args = {"list", "--limit", "7"};
    if (!after.empty()) args.insert(args.end(), {"--after", after});
    auto out = f.telos_json(args);
    for (auto& m : out["memories"]) {
      listed.push_back(m["id"].get<std::string>());
      BOOST_CHECK(!m.contains("embeddings"));
    }
    if (out["next_after"].is_null()) break;
    after = out["next_after"].get<std::string>();
  }
  std::vector<std::string> expected;
  for (auto& [id, m] : all)
    expected.push_back(id);
  BOOST_CHECK(listed == expected);
  auto ns = f.telos_json({"list", "--namespace", "ns2", "--limit", "100"});
  BOOST_CHECK_EQUAL(ns["memories"].size(), 10u);
  for (auto& m : ns["memories"])
    BOOST_CHECK_EQUAL(m["namespace"].get<std::string>(), "ns2");
}

BOOST_AUTO_TEST_CASE(search_matches_a_brute_force_reference_for_every_kind) {
  store_fixture f;
  auto all = f.import(150);
  lcg r{4242};
  for (std::string name : {"E1", "E2", "E3", "E4"}) {
    for (int q = 0; q < 4; ++q) {
      json query = name == "E1"   ? json(dense(r, 8))
                   : name == "E2" ? json(dense(r, 4))
                   : name == "E3" ? sparse(r)
                                  : multi(r);
      std::string ns = q % 2 == 1 ? "ns1" : "";
      std::vector<std::pair<double, std::string>> ref;
      for (auto& [id, m] : all) {
        if (!ns.empty() && m["namespace"] != ns) continue;
        auto& stored = m["embeddings"][name];
        if (name == "E3" && !shares_term(query, stored)) continue;
        ref.emplace_back(reference_score(name, query, stored), id);
      }
      std::sort(ref.begin(), ref.end(), [](auto& a, auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      });
      std::vector<std::string> args = {"search",     "--embedder", name, "--vector",
                                       query.dump(), "--k",        "10"};
      if (!ns.empty()) args.insert(args.end(), {"--namespace", ns});
      auto out = f.telos_json(args);
      auto& results = out["results"];
      BOOST_TEST_CONTEXT(name << " query " << q) {
        BOOST_REQUIRE_EQUAL(results.size(), std::min<size_t>(10, ref.size()));
        for (size_t i = 0; i < results.size(); ++i) {
          // Same ids in the same order, unless two reference scores are too close to order.
          auto score = results[i]["score"].get<double>();
          BOOST_CHECK_MESSAGE(close(score, ref[i].first), "rank " << i << ": score " << score
                                                                  << ", reference "
                                                                  << ref[i].first);
          if (i + 1 < ref.size() && !close(ref[i].first, ref[i + 1].first) &&
              (i == 0 || !close(ref[i - 1].first, ref[i].first)))
            BOOST_CHECK_EQUAL(results[i]["id"].get<std::string>(), ref[i].second);
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(search_from_query_files_and_jsonl_batches_agree_with_single_searches) {
  store_fixture f;
  f.import(60);
  std::string batch;
  std::vector<json> singles;
  for (uint64_t i = 0; i < 5; ++i) {
    auto query = make_memory(1000 + i);
    write_file(f.dir / "q.json", query.dump());
    singles.push_back(f.telos_json({"search", "--embedder", "E1", "--query", f.dir / "q.json"}));
    batch += query.dump() + "\n";
  }
  batch += "{oops\n";
  write_file(f.dir / "queries.jsonl", batch);
  auto r = f.telos({"search", "--embedder", "E1", "--queries", f.dir / "queries.jsonl"});
  BOOST_CHECK_EQUAL(r.code, exit_bad_input);
  BOOST_CHECK(r.err.find("queries.jsonl:6:") != std::string::npos);
  std::vector<json> lines;
  size_t start = 0;
  while (start < r.out.size()) {
    auto end = r.out.find('\n', start);
    lines.push_back(json::parse(r.out.substr(start, end - start)));
    start = end + 1;
  }
  BOOST_REQUIRE_EQUAL(lines.size(), 6u);
  for (size_t i = 0; i < 5; ++i)
    BOOST_CHECK_EQUAL(lines[i].dump(), singles[i].dump());
  BOOST_CHECK(lines[5].contains("error"));
  BOOST_CHECK_EQUAL(lines[5]["line"].get<int>(), 6);
}

BOOST_AUTO_TEST_CASE(fused_search_of_one_embedder_ranks_like_the_single_search) {
  store_fixture f;
  f.import(80);
  auto query = make_memory(5000);
  query["embeddings"] = {{"E1", query["embeddings"]["E1"]}};
  write_file(f.dir / "q.json", query.dump());
  auto single = f.telos_json({"search", "--embedder", "E1", "--query", f.dir / "q.json"});
  auto fused = f.telos_json({"search", "--fuse", "--weights", "E1=2", "--query", f.dir / "q.json"});
  BOOST_REQUIRE_EQUAL(fused["results"].size(), single["results"].size());
  for (size_t i = 0; i < fused["results"].size(); ++i) {
    BOOST_CHECK_EQUAL(fused["results"][i]["id"], single["results"][i]["id"]);
    // Weighted reciprocal rank fusion: weight / (60 + rank), ranks from 1.
    BOOST_CHECK(close(fused["results"][i]["score"].get<double>(), 2.0 / (60.0 + i + 1)));
  }
}

BOOST_AUTO_TEST_CASE(fused_search_over_all_embedders_returns_k_sorted_stored_ids) {
  store_fixture f;
  auto all = f.import(80);
  write_file(f.dir / "q.json", make_memory(7000).dump());
  auto fused = f.telos_json(
      {"search", "--fuse", "--weights", "E1=1,E3=0.5", "--query", f.dir / "q.json", "--k", "15"});
  auto& results = fused["results"];
  BOOST_CHECK_EQUAL(results.size(), 15u);
  for (size_t i = 0; i < results.size(); ++i) {
    BOOST_CHECK(all.count(results[i]["id"].get<std::string>()) == 1);
    if (i > 0)
      BOOST_CHECK(results[i - 1]["score"].get<double>() >= results[i]["score"].get<double>());
  }
}

BOOST_AUTO_TEST_CASE(a_traced_fused_search_names_each_list_inside_the_search) {
  // TELOS_TRACE_SEARCH (docs/ENGINE.md, "Tracing searches"): the facade writes one line per
  // search, each index actor one per list it searched, all on the steady clock.
  store_fixture f;
  f.import(40);
  write_file(f.dir / "q.json", make_memory(7000).dump());
  auto pid =
      start(telos_binary(), {"--data-dir", f.data, "search", "--fuse", "--query", f.dir / "q.json"},
            f.dir / "t.out", f.dir / "t.err", {"TELOS_TRACE_SEARCH=1"});
  BOOST_REQUIRE_EQUAL(wait_for(pid), 0);
  BOOST_CHECK_EQUAL(json::parse(read_file(f.dir / "t.out"))["results"].size(), 10u);
  std::istringstream err{read_file(f.dir / "t.err")};
  std::string line;
  std::vector<std::string> searches;
  std::map<std::string, std::pair<double, double>> lists; // embedder -> [start, end]
  while (std::getline(err, line)) {
    std::istringstream in{line};
    std::string tag, outcome, word, name, step;
    double start = 0, end = 0;
    in >> tag >> start >> end;
    if (tag == "telos-search") {
      size_t embedders = 0;
      in >> outcome >> word >> embedders;
      BOOST_CHECK_EQUAL(outcome, "ok");
      BOOST_CHECK_EQUAL(embedders, 4u);
      searches.push_back(line);
      lists["(search)"] = {start, end};
    } else if (tag == "telos-search-list") {
      unsigned shard = 9;
      size_t depth = 0;
      in >> word >> shard >> name >> step >> word >> depth;
      BOOST_CHECK_EQUAL(shard, 0u);
      BOOST_CHECK_EQUAL(step, "list");
      BOOST_CHECK_EQUAL(depth, 100u); // the fused depth
      BOOST_CHECK_MESSAGE(lists.count(name) == 0, "two lists of " + name);
      BOOST_CHECK_LE(start, end);
      lists[name] = {start, end};
    }
  }
  BOOST_TEST_CONTEXT(read_file(f.dir / "t.err")) {
    BOOST_REQUIRE_EQUAL(searches.size(), 1u);
    BOOST_REQUIRE_EQUAL(lists.size(), 5u);
    const auto whole = lists["(search)"];
    for (const char* e : {"E1", "E2", "E3", "E4"}) {
      BOOST_REQUIRE_MESSAGE(lists.count(e) == 1, std::string{"no list of "} + e);
      BOOST_CHECK_GE(lists[e].first, whole.first);
      BOOST_CHECK_LE(lists[e].second, whole.second);
    }
  }
}

BOOST_AUTO_TEST_CASE(search_usage_errors_are_bad_input) {
  store_fixture f;
  f.import(5);
  expect_error(f.telos({"search", "--vector", "[1,2]"}), exit_bad_input, "--embedder");
  expect_error(f.telos({"search", "--embedder", "E9", "--vector", "[1]"}), exit_bad_input, "E9");
  expect_error(f.telos({"search", "--embedder", "E1", "--vector", "[1,2"}), exit_bad_input,
               "--vector");
  expect_error(f.telos({"search", "--embedder", "E1", "--vector", "[1,2,3]"}), exit_bad_input,
               "E1");
  write_file(f.dir / "q.json", make_memory(1).dump());
  expect_error(f.telos({"search", "--fuse", "--weights", "E1=x", "--query", f.dir / "q.json"}),
               exit_bad_input, "E1");
  expect_error(f.telos({"search", "--fuse", "--weights", "E7=1", "--query", f.dir / "q.json"}),
               exit_bad_input, "E7");
  expect_error(f.telos({"search", "--embedder", "E1", "--vector", "[1,1,1,1,1,1,1,1]", "--k", "0"}),
               exit_bad_input, "k");
}

BOOST_AUTO_TEST_CASE(delete_removes_a_memory_from_get_count_and_search) {
  store_fixture f;
  auto all = f.import(20);
  auto victim = id_of(3);
  auto& stored = all[victim];
  BOOST_CHECK_EQUAL(f.telos_json({"delete", victim})["deleted"].get<std::string>(), victim);
  BOOST_CHECK_EQUAL(f.telos({"get", victim}).code, exit_not_found);
  BOOST_CHECK_EQUAL(f.telos_json({"count"})["count"].get<int>(), 19);
  // Its own embedding as the query would rank it first if it were still indexed.
  auto out = f.telos_json(
      {"search", "--embedder", "E1", "--vector", stored["embeddings"]["E1"].dump(), "--k", "20"});
  BOOST_CHECK_EQUAL(out["results"].size(), 19u);
  for (auto& h : out["results"])
    BOOST_CHECK_NE(h["id"].get<std::string>(), victim);
}

BOOST_AUTO_TEST_CASE(checkpoint_then_restore_brings_back_the_checkpointed_state) {
  store_fixture f;
  f.import(25);
  auto cp = f.dir / "cp";
  BOOST_CHECK_EQUAL(f.telos_json({"checkpoint", cp})["checkpoint"].get<std::string>(), cp);
  expect_error(f.telos({"checkpoint", cp}), exit_store_error, "already exists");
  for (uint64_t i = 0; i < 2; ++i)
    f.telos_json({"delete", id_of(i)});
  f.telos_json({"put"}, make_memory(500, id_of(500)).dump());
  BOOST_CHECK_EQUAL(f.telos_json({"count"})["count"].get<int>(), 24);
  auto restored = f.telos_json({"restore", cp});
  BOOST_CHECK_EQUAL(restored["memories"].get<int>(), 25);
  BOOST_CHECK_EQUAL(f.telos_json({"count"})["count"].get<int>(), 25);
  BOOST_CHECK_EQUAL(f.telos({"get", id_of(0)}).code, 0);
  BOOST_CHECK_EQUAL(f.telos({"get", id_of(500)}).code, exit_not_found);
  BOOST_CHECK(f.telos_json({"verify"})["consistent"].get<bool>());
  expect_error(f.telos({"restore", f.dir / "no-checkpoint"}), exit_not_found, "no-checkpoint");
}

BOOST_AUTO_TEST_CASE(verify_reports_a_consistent_store_with_exit_0) {
  store_fixture f;
  f.import(30);
  auto r = f.telos({"verify"});
  BOOST_CHECK_EQUAL(r.code, 0);
  auto report = json::parse(r.out);
  BOOST_CHECK(report["consistent"].get<bool>());
  BOOST_CHECK_EQUAL(report["records_checked"].get<int>(), 30);
  BOOST_CHECK(report["problems"].empty());
  auto repaired = f.telos_json({"verify", "--repair"});
  BOOST_CHECK(repaired["consistent"].get<bool>());
  BOOST_CHECK_EQUAL(repaired["repaired"].get<int>(), 0);
}

/// Per embedder of `telos stats`: {structure, fresh} summed over shards.
std::map<std::string, std::pair<std::string, uint64_t>> index_states(const json& stats) {
  std::map<std::string, std::pair<std::string, uint64_t>> out;
  for (const auto& ix : stats["indexes"]) {
    auto& e = out[ix["embedder"].get<std::string>()];
    e.first = ix["structure"].get<std::string>();
    e.second += ix["fresh"].get<uint64_t>();
  }
  return out;
}

BOOST_AUTO_TEST_CASE(import_finishes_the_graphs_and_optimize_finishes_what_no_optimize_left) {
  // A threshold of 50 vectors makes the dense indexes of 300 memories HNSW graphs.
  store_fixture f;
  const std::vector<std::string> small_graphs = {"--hnsw-threshold", "50"};
  auto with_graphs = [&](std::vector<std::string> args) {
    args.insert(args.begin(), small_graphs.begin(), small_graphs.end());
    return f.telos_json(std::move(args));
  };
  std::string lines;
  for (uint64_t i = 0; i < 300; ++i)
    lines += make_memory(i, id_of(i)).dump() + "\n";
  write_file(f.dir / "a.jsonl", lines);
  auto out = with_graphs({"import", f.dir / "a.jsonl"});
  BOOST_CHECK_EQUAL(out["imported"].get<int>(), 300);
  BOOST_CHECK_EQUAL(out["fresh"].get<int>(), 0);
  auto states = index_states(with_graphs({"stats"}));
  for (auto* dense : {"E1", "E2"}) {
    BOOST_CHECK_EQUAL(states[dense].first, "hnsw");
    BOOST_CHECK_EQUAL(states[dense].second, 0u);
  }

  // Replacing every memory with --no-optimize may leave vectors outside the graphs; optimize
  // moves all of them in, and the snapshot it closes with keeps them there.
  lines.clear();
  for (uint64_t i = 0; i < 300; ++i)
    lines += make_memory(i + 1000, id_of(i)).dump() + "\n";
  write_file(f.dir / "b.jsonl", lines);
  out = with_graphs({"import", f.dir / "b.jsonl", "--no-optimize"});
  BOOST_CHECK_EQUAL(out["imported"].get<int>(), 300);
  BOOST_CHECK(out["fresh"].get<int>() >= 0);
  auto optimized = with_graphs({"optimize"});
  BOOST_CHECK_EQUAL(optimized["optimized"].get<std::string>(), f.data);
  BOOST_CHECK_EQUAL(optimized["fresh"].get<int>(), 0);
  // 300 memories in each of the four indexes.
  BOOST_CHECK_EQUAL(optimized["vectors"].get<int>(), 1200);
  states = index_states(with_graphs({"stats"}));
  for (auto* dense : {"E1", "E2"})
    BOOST_CHECK_EQUAL(states[dense].second, 0u);
  // The graphs hold the replaced vectors: a memory's own E1 vector finds it first.
  auto query = make_memory(1007);
  auto hits = with_graphs({"search", "--embedder", "E1", "--vector",
                           query["embeddings"]["E1"].dump(), "--k", "3"})["results"];
  BOOST_REQUIRE(!hits.empty());
  BOOST_CHECK_EQUAL(hits[0]["id"].get<std::string>(), id_of(7));
}

BOOST_AUTO_TEST_CASE(compact_and_flush_keep_every_memory) {
  store_fixture f;
  auto memories = f.import(40);
  BOOST_CHECK_EQUAL(f.telos_json({"flush"})["flushed"].get<std::string>(), f.data);
  BOOST_CHECK_EQUAL(f.telos_json({"compact"})["compacted"].get<std::string>(), f.data);
  BOOST_CHECK_EQUAL(f.telos_json({"count"})["count"].get<int>(), 40);
  auto got = f.telos_json({"get", id_of(13)});
  BOOST_CHECK_EQUAL(got["content"], memories[id_of(13)]["content"]);
  BOOST_CHECK(f.telos_json({"verify"})["consistent"].get<bool>());
  // A missing store is an error that names it, and nothing is created in its place.
  for (auto* command : {"compact", "flush", "optimize"}) {
    expect_error(run(telos_binary(), {"--data-dir", f.dir / "none", command}), exit_store_error,
                 "no Telos store");
    BOOST_CHECK(!std::filesystem::exists(f.dir / "none"));
  }
}

BOOST_AUTO_TEST_CASE(a_store_held_by_another_process_is_reported_locked) {
  store_fixture f;
  auto fifo = f.dir / "feed";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // import opens the store, then the fifo; opening our end returns once it holds the store.
  auto holder = start(telos_binary(), {"--data-dir", f.data, "import", fifo}, f.dir / "h.out",
                      f.dir / "h.err");
  int feed = ::open(fifo.c_str(), O_WRONLY);
  BOOST_REQUIRE(feed >= 0);
  auto locked = f.telos({"count"});
  expect_error(locked, exit_store_error, "locked by another process");
  auto line = make_memory(1, id_of(1)).dump() + "\n";
  BOOST_REQUIRE(::write(feed, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  ::close(feed);
  BOOST_CHECK_EQUAL(wait_for(holder), 0);
  BOOST_CHECK_EQUAL(json::parse(read_file(f.dir / "h.out"))["imported"].get<int>(), 1);
  BOOST_CHECK_EQUAL(f.telos_json({"count"})["count"].get<int>(), 1);
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2_with_a_json_error) {
  store_fixture f;
  expect_error(f.telos({"frobnicate"}), exit_bad_input, "frobnicate");
  expect_error(f.telos({"get"}), exit_bad_input, "ID");
  expect_error(f.telos({"--backend", "oracle", "count"}), exit_bad_input, "oracle");
  expect_error(run(telos_binary(), {}), exit_bad_input, "subcommand");
  write_file(f.dir / "bad-profile.json",
             R"({"embedders":[{"name":"E1","kind":"dense","dim":-3}]})");
  expect_error(run(telos_binary(), {"--data-dir", f.dir / "other", "init", "--profile",
                                    f.dir / "bad-profile.json"}),
               exit_bad_input, "dim");
  BOOST_CHECK(!exists(f.dir / "other"));
}

BOOST_AUTO_TEST_CASE(lmdb_stores_work_the_same_and_need_no_backend_flag_once_created) {
  temp_dir dir;
  write_file(dir / "profile.json", test_profile);
  auto data = dir / "lmdb-store";
  auto init = run(telos_binary(), {"--data-dir", data, "--backend", "lmdb", "init", "--profile",
                                   dir / "profile.json"});
  BOOST_REQUIRE_MESSAGE(init.code == 0, init.err);
  auto put = run(telos_binary(), {"--data-dir", data, "--backend", "lmdb", "put"},
                 make_memory(9, id_of(9)).dump());
  BOOST_CHECK_EQUAL(put.code, 0);
  auto got = run(telos_binary(), {"--data-dir", data, "--backend", "lmdb", "get", id_of(9)});
  BOOST_CHECK_EQUAL(got.code, 0);
  BOOST_CHECK_EQUAL(json::parse(got.out)["content"].get<std::string>(), "memory number 9");
  // The store's marker names its backend, so later commands need no --backend.
  auto stats = run(telos_binary(), {"--data-dir", data, "stats"});
  BOOST_CHECK_EQUAL(stats.code, 0);
  BOOST_CHECK_EQUAL(json::parse(stats.out)["backend"].get<std::string>(), "lmdb");
  auto detected = run(telos_binary(), {"--data-dir", data, "get", id_of(9)});
  BOOST_CHECK_EQUAL(detected.code, 0);
  expect_error(run(telos_binary(), {"--data-dir", data, "--backend", "rocksdb", "count"}),
               exit_store_error, "lmdb");
  // A checkpoint of an LMDB store restores as one, into a new directory.
  auto cp = dir / "cp";
  BOOST_CHECK_EQUAL(run(telos_binary(), {"--data-dir", data, "checkpoint", cp}).code, 0);
  auto copy = dir / "copy";
  BOOST_CHECK_EQUAL(run(telos_binary(), {"--data-dir", copy, "restore", cp}).code, 0);
  auto copied = run(telos_binary(), {"--data-dir", copy, "get", id_of(9)});
  BOOST_CHECK_EQUAL(copied.code, 0);
  BOOST_CHECK_EQUAL(json::parse(run(telos_binary(), {"--data-dir", copy, "stats"}).out)["backend"]
                        .get<std::string>(),
                    "lmdb");
}

BOOST_AUTO_TEST_CASE(edge_add_list_remove_and_their_errors) {
  store_fixture f;
  f.import(4);
  auto a = id_of(0), b = id_of(1), c = id_of(2);
  auto added = f.telos_json({"edge", "add", a, "cites", b, "--weight", "0.5"});
  BOOST_CHECK_EQUAL(added["source"].get<std::string>(), a);
  f.telos_json({"edge", "add", c, "cites", a});
  f.telos_json({"edge", "add", a, "links", c});
  auto out = f.telos_json({"edge", "list", a});
  BOOST_REQUIRE_EQUAL(out["edges"].size(), 2u);
  for (auto& e : out["edges"])
    BOOST_CHECK_EQUAL(e["source"].get<std::string>(), a);
  auto cites = f.telos_json({"edge", "list", a, "--out", "--type", "cites"});
  BOOST_REQUIRE_EQUAL(cites["edges"].size(), 1u);
  BOOST_CHECK_EQUAL(cites["edges"][0]["target"].get<std::string>(), b);
  BOOST_CHECK_EQUAL(cites["edges"][0]["weight"].get<double>(), 0.5);
  auto in = f.telos_json({"edge", "list", a, "--in"});
  BOOST_REQUIRE_EQUAL(in["edges"].size(), 1u);
  BOOST_CHECK_EQUAL(in["edges"][0]["source"].get<std::string>(), c);
  BOOST_CHECK_EQUAL(f.telos_json({"edge", "list", a, "--both"})["edges"].size(), 3u);
  f.telos_json({"edge", "remove", a, "links", c});
  BOOST_CHECK_EQUAL(f.telos_json({"edge", "list", a})["edges"].size(), 1u);
  // Deleting a memory takes its edges along, both directions.
  f.telos_json({"delete", a});
  BOOST_CHECK_EQUAL(f.telos_json({"edge", "list", c, "--both"})["edges"].size(), 0u);
  expect_error(f.telos({"edge", "add", b, "cites", a}), exit_not_found, a);
  expect_error(f.telos({"edge", "list", a}), exit_not_found, a);
  expect_error(f.telos({"edge", "remove", b, "cites", c}), exit_not_found, "no edge");
  expect_error(f.telos({"edge", "add", "nope", "cites", b}), exit_bad_input, "SRC");
  expect_error(f.telos({"edge", "add", b, "cites", c, "--weight", "nan"}), exit_bad_input,
               "weight");
  expect_error(f.telos({"edge", "list", b, "--in", "--both"}), exit_bad_input, "excludes");
  BOOST_CHECK(f.telos_json({"verify"})["consistent"].get<bool>());
}

/// Runs telos with TELOS_TEST_CRASH=`point`: the process kills itself (SIGKILL) there. At
/// before-decision every part of a write spanning shards is staged and nothing is decided; at
/// after-decision the decision is durable and no shard applied its part yet.
run_result crash_at(const store_fixture& f, const char* point,
                    const std::vector<std::string>& args) {
  ::setenv("TELOS_TEST_CRASH", point, 1);
  auto r = f.telos(args);
  ::unsetenv("TELOS_TEST_CRASH");
  return r;
}

constexpr int killed = 128 + 9;

std::set<std::string> edge_ends(const nlohmann::json& listed, const char* end) {
  std::set<std::string> ends;
  for (auto& e : listed["edges"])
    ends.insert(e[end].get<std::string>());
  return ends;
}

BOOST_AUTO_TEST_CASE(cross_shard_edge_writes_survive_a_kill_between_the_two_shards) {
  store_fixture f({"--shards", "2"});
  f.import(8);
  auto a = id_of(0);
  // Same-shard edges are one shard's batch and complete; the first edge to the other shard is a
  // two-phase commit, killed with both parts staged and no decision.
  std::string crossed;
  for (int i = 1; i < 8 && crossed.empty(); ++i) {
    auto r = crash_at(f, "before-decision", {"edge", "add", a, "cites", id_of(i)});
    if (r.code == killed)
      crossed = id_of(i);
    else
      BOOST_REQUIRE_MESSAGE(r.code == 0, "edge add failed: " + r.err);
  }
  BOOST_REQUIRE_MESSAGE(!crossed.empty(), "no target on the other shard among 7 memories");
  auto out = [&] { return edge_ends(f.telos_json({"edge", "list", a, "--out"}), "target"); };
  auto in = [&](const std::string& id) {
    return edge_ends(f.telos_json({"edge", "list", id, "--in"}), "source");
  };
  // Reopening drops the undecided parts: neither copy.
  auto same_shard = out();
  BOOST_CHECK_EQUAL(same_shard.count(crossed), 0u);
  BOOST_CHECK(in(crossed).empty());
  // Killed once the decision is durable: reopening applies both parts.
  BOOST_REQUIRE_EQUAL(crash_at(f, "after-decision", {"edge", "add", a, "cites", crossed}).code,
                      killed);
  BOOST_CHECK_EQUAL(out().count(crossed), 1u);
  BOOST_CHECK(in(crossed) == std::set<std::string>{a});
  BOOST_CHECK(f.telos_json({"verify"})["consistent"].get<bool>());

  // Removing the edge: before the decision both copies stay, after it neither does.
  BOOST_REQUIRE_EQUAL(crash_at(f, "before-decision", {"edge", "remove", a, "cites", crossed}).code,
                      killed);
  BOOST_CHECK_EQUAL(out().count(crossed), 1u);
  BOOST_CHECK(in(crossed) == std::set<std::string>{a});
  BOOST_REQUIRE_EQUAL(crash_at(f, "after-decision", {"edge", "remove", a, "cites", crossed}).code,
                      killed);
  BOOST_CHECK(in(crossed).empty());
  BOOST_CHECK(out() == same_shard);

  // Deleting a memory with an edge to the other shard: before the decision the memory and both
  // copies stay; after it the memory and both copies are gone.
  f.telos_json({"edge", "add", crossed, "links", a});
  BOOST_REQUIRE(in(a) == std::set<std::string>{crossed});
  BOOST_REQUIRE_EQUAL(crash_at(f, "before-decision", {"delete", crossed}).code, killed);
  BOOST_CHECK_EQUAL(f.telos({"get", crossed}).code, 0);
  BOOST_CHECK(in(a) == std::set<std::string>{crossed});
  BOOST_CHECK_EQUAL(f.telos_json({"edge", "list", crossed, "--out"})["edges"].size(), 1u);
  BOOST_REQUIRE_EQUAL(crash_at(f, "after-decision", {"delete", crossed}).code, killed);
  BOOST_CHECK_EQUAL(f.telos({"get", crossed}).code, exit_not_found);
  BOOST_CHECK(in(a).empty());
  auto report = f.telos_json({"verify"});
  BOOST_CHECK_MESSAGE(report["consistent"].get<bool>(), report.dump());
  BOOST_CHECK(report["problems"].empty());
}

BOOST_AUTO_TEST_CASE(a_put_batch_over_two_shards_is_whole_or_absent_after_a_kill) {
  // Eight memories in one put batch fall on both shards: the batch is one two-phase commit
  // (store_options::atomic_batches), so a kill before its decision leaves none of them and a kill
  // after it leaves all of them, never one shard's half.
  store_fixture f({"--shards", "2"});
  std::string lines;
  for (uint64_t i = 0; i < 8; ++i)
    lines += make_memory(i, id_of(i)).dump() + "\n";
  write_file(f.dir / "batch.jsonl", lines);
  BOOST_REQUIRE_EQUAL(crash_at(f, "before-decision", {"import", f.dir / "batch.jsonl"}).code,
                      killed);
  BOOST_CHECK_EQUAL(f.telos_json({"count"})["count"].get<int>(), 0);
  BOOST_REQUIRE_EQUAL(crash_at(f, "after-decision", {"import", f.dir / "batch.jsonl"}).code,
                      killed);
  BOOST_CHECK_EQUAL(f.telos_json({"count"})["count"].get<int>(), 8);
  for (uint64_t i = 0; i < 8; ++i)
    BOOST_CHECK_EQUAL(f.telos({"get", id_of(i)}).code, 0);
  auto report = f.telos_json({"verify"});
  BOOST_CHECK_MESSAGE(report["consistent"].get<bool>(), report.dump());
}

/// Runs `telos restore CHECKPOINT` with TELOS_TEST_CRASH=`point`: the process kills itself there.
run_result restore_killed_at(const store_fixture& f, const std::string& checkpoint,
                             const char* point) {
  ::setenv("TELOS_TEST_CRASH", point, 1);
  auto r = f.telos({"restore", checkpoint});
  ::unsetenv("TELOS_TEST_CRASH");
  return r;
}

BOOST_AUTO_TEST_CASE(a_restore_killed_before_or_after_its_swap_leaves_one_whole_store) {
  store_fixture f;
  f.import(25);
  auto cp = f.dir / "cp";
  f.telos_json({"checkpoint", cp});
  for (uint64_t i = 0; i < 2; ++i)
    f.telos_json({"delete", id_of(i)});
  f.telos_json({"put"}, make_memory(500, id_of(500)).dump());
  auto staging = f.data + ".restoring";
  // Killed once the checkpoint is copied beside the store, before the swap: the old store is in
  // place and whole.
  BOOST_REQUIRE_EQUAL(restore_killed_at(f, cp, "restore-copied").code, killed);
  BOOST_CHECK(std::filesystem::exists(staging));
  BOOST_CHECK_EQUAL(f.telos_json({"count"})["count"].get<int>(), 24);
  BOOST_CHECK_EQUAL(f.telos({"get", id_of(500)}).code, 0);
  BOOST_CHECK(f.telos_json({"verify"})["consistent"].get<bool>());
  // Killed right after the swap: the checkpoint is in place and whole.
  BOOST_REQUIRE_EQUAL(restore_killed_at(f, cp, "restore-swapped").code, killed);
  BOOST_CHECK_EQUAL(f.telos_json({"count"})["count"].get<int>(), 25);
  BOOST_CHECK_EQUAL(f.telos({"get", id_of(0)}).code, 0);
  BOOST_CHECK_EQUAL(f.telos({"get", id_of(500)}).code, exit_not_found);
  BOOST_CHECK(f.telos_json({"verify"})["consistent"].get<bool>());
  // The checkpoint itself is untouched, and the next restore clears what the kills left beside
  // the store.
  f.telos_json({"put"}, make_memory(501, id_of(501)).dump());
  BOOST_CHECK_EQUAL(f.telos_json({"restore", cp})["memories"].get<int>(), 25);
  BOOST_CHECK_EQUAL(f.telos({"get", id_of(501)}).code, exit_not_found);
  BOOST_CHECK(!std::filesystem::exists(staging));
  BOOST_CHECK(f.telos_json({"verify"})["consistent"].get<bool>());
}

BOOST_AUTO_TEST_CASE(traverse_prints_paths_and_checks_its_input) {
  store_fixture f;
  f.import(5);
  for (int i = 0; i < 4; ++i)
    f.telos_json({"edge", "add", id_of(i), i % 2 ? "b" : "a", id_of(i + 1)});
  auto all = f.telos_json({"traverse", id_of(0), "--depth", "3"});
  BOOST_REQUIRE_EQUAL(all["paths"].size(), 3u);
  auto expected = json::array({id_of(0), "a", id_of(1), "b", id_of(2), "a", id_of(3)});
  BOOST_CHECK_EQUAL(all["paths"][2], expected);
  BOOST_CHECK_EQUAL(
      f.telos_json({"traverse", id_of(0), "--depth", "3", "--type", "a"})["paths"].size(), 1u);
  BOOST_CHECK_EQUAL(
      f.telos_json({"traverse", id_of(0), "--depth", "4", "--limit", "2"})["paths"].size(), 2u);
  BOOST_CHECK_EQUAL(f.telos_json({"traverse", id_of(4), "--depth", "2", "--in"})["paths"].size(),
                    2u);
  expect_error(f.telos({"traverse", id_of(0), "--depth", "0"}), exit_bad_input, "depth");
  expect_error(f.telos({"traverse", id_of(9), "--depth", "2"}), exit_not_found, id_of(9));
  expect_error(f.telos({"traverse", "x", "--depth", "2"}), exit_bad_input, "ID");
}

BOOST_AUTO_TEST_CASE(quad_add_match_remove) {
  store_fixture f;
  f.telos_json({"quad", "add", "alice", "knows", "bob", "g1"});
  f.telos_json({"quad", "add", "alice", "knows", "carol", "g1"});
  f.telos_json({"quad", "add", "bob", "knows", "carol", "g2"});
  auto all = f.telos_json({"quad", "match"});
  BOOST_CHECK_EQUAL(all["quads"].size(), 3u);
  auto alice = f.telos_json({"quad", "match", "--s", "alice"});
  BOOST_REQUIRE_EQUAL(alice["quads"].size(), 2u);
  for (auto& q : alice["quads"])
    BOOST_CHECK_EQUAL(q["s"].get<std::string>(), "alice");
  auto carol_g2 = f.telos_json({"quad", "match", "--o", "carol", "--c", "g2"});
  BOOST_REQUIRE_EQUAL(carol_g2["quads"].size(), 1u);
  BOOST_CHECK_EQUAL(carol_g2["quads"][0],
                    json({{"s", "bob"}, {"p", "knows"}, {"o", "carol"}, {"c", "g2"}}));
  BOOST_CHECK_EQUAL(f.telos_json({"quad", "match", "--s", "nobody"})["quads"].size(), 0u);
  BOOST_CHECK_EQUAL(f.telos_json({"quad", "match", "--limit", "1"})["quads"].size(), 1u);
  f.telos_json({"quad", "remove", "alice", "knows", "bob", "g1"});
  BOOST_CHECK_EQUAL(f.telos_json({"quad", "match", "--s", "alice"})["quads"].size(), 1u);
  expect_error(f.telos({"quad", "remove", "alice", "knows", "bob", "g1"}), exit_not_found,
               "no such quad");
  expect_error(f.telos({"quad", "add", "a", "b", "c"}), exit_bad_input, "C");
}

BOOST_AUTO_TEST_CASE(where_and_time_filters_on_search_list_and_count) {
  store_fixture f;
  auto all = f.import(30);
  auto t0 = 1700000000000;
  auto count = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "count");
    return f.telos_json(args)["count"].get<uint64_t>();
  };
  BOOST_CHECK_EQUAL(count({"--where", "i=3"}), 1u);
  BOOST_CHECK_EQUAL(count({"--where", "i=3,4,5,99"}), 3u);
  BOOST_CHECK_EQUAL(count({"--after", std::to_string(t0 + 10)}), 20u);
  BOOST_CHECK_EQUAL(
      count({"--after", std::to_string(t0 + 10), "--before", std::to_string(t0 + 20)}), 10u);
  BOOST_CHECK_EQUAL(count({"--namespace", "ns1", "--created-before", std::to_string(t0 + 9)}), 3u);
  auto listed =
      f.telos_json({"list", "--where", "i=1,2,7", "--created-after", std::to_string(t0 + 2)});
  BOOST_REQUIRE_EQUAL(listed["memories"].size(), 2u);
  BOOST_CHECK_EQUAL(listed["memories"][0]["id"].get<std::string>(), id_of(2));
  BOOST_CHECK_EQUAL(listed["memories"][1]["id"].get<std::string>(), id_of(7));
  auto query = all[id_of(5)]["embeddings"]["E1"].dump();
  auto hits = f.telos_json({"search", "--embedder", "E1", "--vector", query, "--k", "5", "--where",
                            "i=5,6", "--before", std::to_string(t0 + 6)});
  BOOST_REQUIRE_EQUAL(hits["results"].size(), 1u);
  BOOST_CHECK_EQUAL(hits["results"][0]["id"].get<std::string>(), id_of(5));
  expect_error(f.telos({"count", "--where", "novalue"}), exit_bad_input, "KEY=VALUE");
  expect_error(f.telos({"count", "--after", "soon"}), exit_bad_input, "after");
  expect_error(f.telos({"list", "--created-after", "5", "--created-before", "5"}), exit_bad_input,
               "not after");
}

BOOST_AUTO_TEST_SUITE_END()
