// Multi-process tests of a Telos cluster on loopback: telosd shard hosts and a telosd coordinator,
// driven with the telos CLI over --connect, compared with a single-process store of the same data.
#include "cli/lcg.hpp"
#include "cli/process.hpp"
#include "telos/messages/uuid.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using json = nlohmann::json;
using namespace telos::test;

namespace {

/// The telosd binary: the second path after "--" (see suite.cmake).
const std::string& telosd_binary() {
  return stress_binary();
}

std::string certs_script() {
  auto& suite = boost::unit_test::framework::master_test_suite();
  BOOST_REQUIRE_MESSAGE(suite.argc >= 4, "pass telos, telosd and make-certs.sh after --");
  return suite.argv[3];
}

const char* test_profile = R"({"name":"cluster-test","embedders":[
  {"name":"E1","kind":"dense","dim":8,"metric":"cosine"},
  {"name":"E2","kind":"sparse","dim":100}]})";

json dense(lcg& r) {
  std::vector<float> v(8);
  for (auto& x : v)
    x = r.uniform();
  return v;
}

json sparse(lcg& r) {
  std::set<uint32_t> terms;
  while (terms.size() < 4)
    terms.insert(static_cast<uint32_t>(r.next() % 100));
  std::vector<float> values;
  for (size_t i = 0; i < terms.size(); ++i)
    values.push_back(0.1f + std::abs(r.uniform()));
  return {{"indices", std::vector<uint32_t>(terms.begin(), terms.end())}, {"values", values}};
}

std::string id_of(uint64_t i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "00000000-0000-4000-8000-%012llu",
                static_cast<unsigned long long>(i));
  return buf;
}

json make_memory(uint64_t i) {
  lcg r{i * 7919 + 17};
  return {{"id", id_of(i)},
          {"namespace", "ns" + std::to_string(i % 3)},
          {"content", "memory number " + std::to_string(i)},
          {"attributes", {{"i", std::to_string(i)}}},
          {"created_at", 1700000000000 + static_cast<int64_t>(i)},
          {"updated_at", 1700000000000 + static_cast<int64_t>(i)},
          {"embeddings", {{"E1", dense(r)}, {"E2", sparse(r)}}}};
}

/// A telosd process: started, its "listening" line awaited, ended (SIGTERM) with the fixture.
struct node {
  child proc;
  std::string address;
  json ready;
};

struct cluster_fixture {
  temp_dir dir;
  std::deque<node> nodes;
  int started = 0;

  cluster_fixture() { write_file(dir / "profile.json", test_profile); }

  /// Starts telosd with `args` (and the environment assignment `env`, e.g.
  /// TELOS_TEST_CRASH=after-prepare); waits (bounded) for its "listening" line; the node's index.
  size_t start_node(std::vector<std::string> args, const std::string& crash_at = {},
                    const std::string& env = {}) {
    auto name = "node" + std::to_string(started++);
    auto assignment = crash_at.empty() ? env : "TELOS_TEST_CRASH=" + crash_at;
    std::vector<std::string> environment;
    if (!assignment.empty()) environment.push_back(assignment);
    auto& n = nodes.emplace_back(node{
        child{telosd_binary(), args, dir / (name + ".out"), dir / (name + ".err"), environment},
        {},
        {}});
    auto line = n.proc.first_line();
    BOOST_REQUIRE_MESSAGE(
        !line.empty(), "telosd " << name << " did not come up: " << read_file(n.proc.err_file()));
    n.ready = json::parse(line);
    BOOST_REQUIRE_MESSAGE(n.ready.contains("listening"),
                          "telosd " << name << ": " << n.ready.dump());
    n.address = n.ready["listening"].get<std::string>();
    return nodes.size() - 1;
  }

  size_t start_shard_host(const std::vector<int>& shards, int count, const std::string& data,
                          std::vector<std::string> extra = {}, const std::string& env = {}) {
    std::vector<std::string> args{"--data-dir",          dir / data,  "--shard-count",
                                  std::to_string(count), "--profile", dir / "profile.json"};
    for (int s : shards) {
      args.push_back("--shard-id");
      args.push_back(std::to_string(s));
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return start_node(args, {}, env);
  }

  size_t start_coordinator(const std::vector<std::string>& shard_addresses,
                           std::vector<std::string> extra = {}) {
    std::string list;
    for (auto& a : shard_addresses)
      list += (list.empty() ? "" : ",") + a;
    std::vector<std::string> args{"--coordinator", "--shards", list, "--data-dir",
                                  dir / "coordinator"};
    args.insert(args.end(), extra.begin(), extra.end());
    return start_node(args);
  }

  void kill9(size_t i) { BOOST_CHECK_EQUAL(nodes[i].proc.stop(SIGKILL), 128 + SIGKILL); }

  run_result telos(const std::string& coordinator, std::vector<std::string> args,
                   const std::string& input = {}, std::vector<std::string> tls = {}) const {
    std::vector<std::string> all{"--connect", coordinator};
    all.insert(all.end(), tls.begin(), tls.end());
    all.insert(all.end(), args.begin(), args.end());
    return run(telos_binary(), all, input);
  }

  /// Memories 0..n-1 again, each with content "version 2 of <i>".
  std::string write_version_2(uint64_t n) const {
    std::string lines;
    for (uint64_t i = 0; i < n; ++i) {
      auto m = make_memory(i);
      m["content"] = "version 2 of " + std::to_string(i);
      lines += m.dump() + "\n";
    }
    write_file(dir / "v2.jsonl", lines);
    return dir / "v2.jsonl";
  }

  /// Three shards on two nodes (one hosts shards 0 and 2, the other shard 1) and a coordinator;
  /// the indexes of the two shard nodes and the coordinator's address.
  std::tuple<size_t, size_t, std::string> start_three_shards_on_two_nodes() {
    auto a = start_shard_host({0, 2}, 3, "a");
    auto b = start_shard_host({1}, 3, "b");
    auto c = start_coordinator({nodes[a].address, nodes[b].address, nodes[a].address});
    return {a, b, nodes[c].address};
  }

  /// Two shards of a cluster, each on a node of its own (shard 1's started with the test hook
  /// TELOS_TEST_CRASH=`crash_at`), and a coordinator: the two nodes' indexes and its address.
  std::tuple<size_t, size_t, std::string> start_two_shards(const std::string& crash_at) {
    auto a = start_shard_host({0}, 2, "a");
    auto b = start_shard_host({1}, 2, "b", {}, "TELOS_TEST_CRASH=" + crash_at);
    auto c = start_coordinator({nodes[a].address, nodes[b].address});
    return {a, b, nodes[c].address};
  }

  std::string write_import(uint64_t n) const {
    std::string lines;
    for (uint64_t i = 0; i < n; ++i)
      lines += make_memory(i).dump() + "\n";
    write_file(dir / "import.jsonl", lines);
    return dir / "import.jsonl";
  }
};

/// One HTTP/1.1 request to telosd --http at "host:port"; the status and the parsed JSON answer.
std::pair<int, json> http_call(const std::string& address, boost::beast::http::verb verb,
                               const std::string& target, const json& body = nullptr) {
  namespace bhttp = boost::beast::http;
  auto colon = address.rfind(':');
  boost::asio::io_context ioc;
  boost::beast::tcp_stream stream{ioc};
  stream.expires_after(std::chrono::seconds(60));
  stream.connect({boost::asio::ip::make_address(address.substr(0, colon)),
                  static_cast<unsigned short>(std::stoi(address.substr(colon + 1)))});
  bhttp::request<bhttp::string_body> req{verb, target, 11};
  req.set(bhttp::field::host, address);
  req.set(bhttp::field::content_type, "application/json");
  if (!body.is_null()) req.body() = body.dump();
  req.prepare_payload();
  bhttp::write(stream, req);
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buffer, res);
  return {res.result_int(), json::parse(res.body())};
}

/// The two FIFOs of a TELOS_TEST_PAUSE point (see actors/test_hooks.hpp, pause_point): the node
/// writes a byte to DIR/reached when it gets there and goes on once a byte is written to
/// DIR/resume.
struct pause_point {
  std::string dir;

  explicit pause_point(std::string d) : dir(std::move(d)) {
    ::mkdir(dir.c_str(), 0755);
    BOOST_REQUIRE_EQUAL(::mkfifo((dir + "/reached").c_str(), 0644), 0);
    BOOST_REQUIRE_EQUAL(::mkfifo((dir + "/resume").c_str(), 0644), 0);
  }

  /// Blocks until the node reached the point (bounded: 60 s).
  bool reached() const {
    int fd = ::open((dir + "/reached").c_str(), O_RDONLY | O_NONBLOCK);
    if (fd < 0) return false;
    pollfd p{fd, POLLIN, 0};
    char byte = 0;
    bool got = ::poll(&p, 1, 60000) == 1 && ::read(fd, &byte, 1) == 1;
    ::close(fd);
    return got;
  }

  void resume() const {
    int fd = ::open((dir + "/resume").c_str(), O_WRONLY);
    BOOST_REQUIRE(fd >= 0);
    char byte = '1';
    BOOST_CHECK_EQUAL(::write(fd, &byte, 1), 1);
    ::close(fd);
  }
};

json parse_line(const run_result& r) {
  BOOST_REQUIRE_MESSAGE(r.code == 0, "exit " << r.code << ": " << r.err << r.out);
  return json::parse(r.out.substr(0, r.out.find('\n')));
}

/// Every memory the cluster holds, id -> content, read with one `list` request (one telos process:
/// under ASan+UBSan each process start costs about a second, so whole-store checks read a page
/// instead of getting each id).
std::map<std::string, std::string> contents_of(const cluster_fixture& f,
                                               const std::string& coordinator) {
  auto page = parse_line(f.telos(coordinator, {"list", "--limit", "1000"}));
  BOOST_CHECK(page["next_after"].is_null());
  std::map<std::string, std::string> contents;
  for (auto& m : page["memories"])
    contents[m["id"].get<std::string>()] = m["content"].get<std::string>();
  return contents;
}

/// The shard of id_of(i)'s text in a cluster of `shards` shards.
size_t shard_of(const std::string& id, size_t shards) {
  return static_cast<size_t>(telos::stable_hash(*telos::uuid::parse(id)) % shards);
}

/// The edges at `id` (both directions) as "source type target" lines; nullopt when it is not
/// stored.
std::optional<std::set<std::string>>
edges_at(const cluster_fixture& f, const std::string& coordinator, const std::string& id) {
  auto r = f.telos(coordinator, {"edge", "list", id, "--both"});
  if (r.code == 1) return std::nullopt;
  std::set<std::string> edges;
  auto page = parse_line(r);
  for (auto& e : page["edges"])
    edges.insert(e["source"].get<std::string>() + " " + e["type"].get<std::string>() + " " +
                 e["target"].get<std::string>());
  return edges;
}

/// The edges of edges_at joined by ", " ("absent" when the memory is not stored).
std::string edge_lines(const std::optional<std::set<std::string>>& edges) {
  if (!edges) return "absent";
  std::string text;
  for (const auto& e : *edges)
    text += (text.empty() ? "" : ", ") + e;
  return text;
}

/// No dangling edge among `ids`: every edge at a stored memory names stored memories only, and
/// is listed at its other endpoint too (both copies, or neither); `verify` is clean.
void check_no_dangling_edge(const cluster_fixture& f, const std::string& coordinator,
                            const std::vector<std::string>& ids) {
  std::map<std::string, std::optional<std::set<std::string>>> at;
  for (const auto& id : ids)
    at[id] = edges_at(f, coordinator, id);
  for (const auto& [id, edges] : at) {
    if (!edges) continue;
    for (const auto& e : *edges) {
      auto source = e.substr(0, e.find(' '));
      auto target = e.substr(e.rfind(' ') + 1);
      auto other = source == id ? target : source;
      BOOST_REQUIRE(at.count(other) != 0);
      BOOST_CHECK_MESSAGE(at[other].has_value(),
                          "edge " << e << " at " << id << " names a memory that is not stored");
      if (at[other])
        BOOST_CHECK_MESSAGE(at[other]->count(e) != 0,
                            "edge " << e << " at " << id << " but not at " << other);
    }
  }
  auto verified = f.telos(coordinator, {"verify"});
  BOOST_CHECK_MESSAGE(verified.code == 0, verified.out << verified.err);
}

} // namespace

BOOST_AUTO_TEST_SUITE(cluster)

BOOST_AUTO_TEST_CASE(import_search_get_across_remote_shards_equal_a_single_node_store) {
  cluster_fixture f;
  auto coordinator = std::get<2>(f.start_three_shards_on_two_nodes());
  auto file = f.write_import(90);
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"import", file, "--batch", "7"}))["imported"],
                    90);
  // The same data in one local store with one shard.
  auto local = f.dir / "local";
  BOOST_REQUIRE_EQUAL(
      run(telos_binary(), {"--data-dir", local, "init", "--profile", f.dir / "profile.json"}).code,
      0);
  BOOST_REQUIRE_EQUAL(run(telos_binary(), {"--data-dir", local, "import", file}).code, 0);
  auto both = [&](std::vector<std::string> args) {
    auto remote = f.telos(coordinator, args);
    std::vector<std::string> local_args{"--data-dir", local};
    local_args.insert(local_args.end(), args.begin(), args.end());
    auto here = run(telos_binary(), local_args);
    BOOST_CHECK_EQUAL(remote.code, here.code);
    BOOST_CHECK_EQUAL(remote.out, here.out);
    return remote;
  };
  BOOST_CHECK_EQUAL(parse_line(both({"count"}))["count"], 90);
  both({"count", "--namespace", "ns1"});
  for (uint64_t i = 0; i < 90; i += 18)
    both({"get", id_of(i)});
  both({"get", id_of(12345)});
  auto page = parse_line(both({"list", "--limit", "1000"}));
  BOOST_CHECK_EQUAL(page["memories"].size(), 90u);
  for (uint64_t q = 1000; q < 1003; ++q) {
    auto query = make_memory(q);
    write_file(f.dir / "q.json", query.dump());
    auto hits =
        parse_line(both({"search", "--embedder", "E1", "--query", f.dir / "q.json", "--k", "10"}));
    BOOST_CHECK_EQUAL(hits["results"].size(), 10u);
    both({"search", "--embedder", "E2", "--query", f.dir / "q.json", "--k", "5", "--namespace",
          "ns2"});
    both({"search", "--fuse", "--query", f.dir / "q.json", "--k", "8"});
  }
  // Every shard holds part of the data: each index reports vectors.
  auto stats = parse_line(f.telos(coordinator, {"stats"}));
  BOOST_CHECK_EQUAL(stats["shards"], 3);
  for (auto& index : stats["indexes"])
    BOOST_CHECK_GT(index["vectors"].get<uint64_t>(), 0u);
  // A remote client leaves the cluster running: a second client still reads.
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], 90);
}

BOOST_AUTO_TEST_CASE(a_dead_shard_node_fails_fast_and_the_coordinator_reconnects) {
  cluster_fixture f;
  auto a = f.start_shard_host({0}, 2, "a");
  auto b = f.start_shard_host({1}, 2, "b");
  auto c = f.start_coordinator({f.nodes[a].address, f.nodes[b].address});
  auto coordinator = f.nodes[c].address;
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"import", f.write_import(40)}).code, 0);
  auto b_address = f.nodes[b].address;
  f.kill9(b);
  // Requests touching shard 1 fail at once, naming it; shard 0 keeps serving.
  auto t0 = std::chrono::steady_clock::now();
  auto count = f.telos(coordinator, {"count"});
  auto took = std::chrono::steady_clock::now() - t0;
  BOOST_CHECK_EQUAL(count.code, 3);
  BOOST_CHECK_MESSAGE(count.err.find("shard 1 at " + b_address) != std::string::npos, count.err);
  BOOST_CHECK_LT(std::chrono::duration_cast<std::chrono::seconds>(took).count(), 5);
  int served = 0, refused = 0;
  for (uint64_t i = 0; i < 12; ++i) {
    auto got = f.telos(coordinator, {"get", id_of(i)});
    if (got.code == 0) {
      ++served;
      BOOST_CHECK_EQUAL(parse_line(got)["content"], "memory number " + std::to_string(i));
    } else {
      ++refused;
      BOOST_CHECK_EQUAL(got.code, 3);
      BOOST_CHECK_MESSAGE(got.err.find("shard 1") != std::string::npos, got.err);
    }
  }
  BOOST_CHECK_GT(served, 0);
  BOOST_CHECK_GT(refused, 0);
  // Writes to shard 0 still work while shard 1 is down; a write needing shard 1 fails.
  int written_while_down = 0;
  for (uint64_t i = 100; i < 110; ++i) {
    auto put = f.telos(coordinator, {"put"}, make_memory(i).dump());
    if (put.code == 0) ++written_while_down;
  }
  BOOST_CHECK_GT(written_while_down, 0);
  BOOST_CHECK_LT(written_while_down, 10);
  // The node comes back on its port with its data; the coordinator reconnects on its own.
  f.start_node({"--data-dir", f.dir / "b", "--shard-id", "1", "--listen", b_address});
  bool back = eventually([&] { return f.telos(coordinator, {"count"}).code == 0; });
  BOOST_REQUIRE(back);
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], 40 + written_while_down);
  auto contents = contents_of(f, coordinator);
  for (uint64_t i = 0; i < 40; ++i)
    BOOST_CHECK_EQUAL(contents[id_of(i)], "memory number " + std::to_string(i));
}

BOOST_AUTO_TEST_CASE(a_node_whose_disk_fails_answers_with_the_error_and_recovers) {
  cluster_fixture f;
  // Both nodes run on LMDB (one backend per cluster); shard 1's disk is under the control of a file
  // (TELOS_TEST_FAULT_FILE, actors/test_hooks.hpp): "no_space" fills the disk, "" frees it.
  auto control = f.dir / "disk-fault";
  auto a = f.start_shard_host({0}, 2, "a", {"--backend", "lmdb"});
  auto b =
      f.start_shard_host({1}, 2, "b", {"--backend", "lmdb"}, "TELOS_TEST_FAULT_FILE=" + control);
  auto c = f.start_coordinator({f.nodes[a].address, f.nodes[b].address});
  auto coordinator = f.nodes[c].address;
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"import", f.write_import(20)}).code, 0);
  write_file(control, "no_space");
  // Writes to shard 1 fail with the disk's error, naming the shard; shard 0 keeps taking writes.
  std::vector<uint64_t> refused;
  int written = 0;
  for (uint64_t i = 100; i < 110; ++i) {
    auto put = f.telos(coordinator, {"put"}, make_memory(i).dump());
    if (put.code == 0) {
      ++written;
      continue;
    }
    refused.push_back(i);
    BOOST_CHECK_EQUAL(put.code, 3);
    // The coordinator names the shard, and the shard's own error its store ("shard 1: write of 9
    // operations to store …/b/shard-1 failed: No space left on device").
    BOOST_CHECK_MESSAGE(put.err.find("shard 1: ") != std::string::npos, put.err);
    BOOST_CHECK_MESSAGE(put.err.find("/b/shard-1") != std::string::npos, put.err);
    BOOST_CHECK_MESSAGE(put.err.find("No space left on device") != std::string::npos, put.err);
  }
  BOOST_CHECK_GT(written, 0);
  BOOST_REQUIRE(!refused.empty());
  // Reads keep working on both shards, and a refused write left nothing behind.
  auto during = contents_of(f, coordinator);
  BOOST_CHECK_EQUAL(during.size(), 20u + written);
  for (uint64_t i = 0; i < 20; ++i)
    BOOST_CHECK_EQUAL(during[id_of(i)], "memory number " + std::to_string(i));
  for (auto i : refused)
    BOOST_CHECK(during.count(id_of(i)) == 0);
  // The disk has room again: the same writes succeed, without a restart.
  write_file(control, "");
  for (auto i : refused)
    BOOST_CHECK_EQUAL(f.telos(coordinator, {"put"}, make_memory(i).dump()).code, 0);
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], 30);
}

BOOST_AUTO_TEST_CASE(a_node_whose_store_cannot_resume_writes_reopens_it_by_itself) {
  cluster_fixture f;
  // RocksDB holds a failed write of its log fatal: writes stop until the store is reopened. Shard
  // 1's disk fails every write while the control file says "write_error" (TELOS_TEST_FAULT_FILE).
  auto control = f.dir / "disk-fault";
  auto a = f.start_shard_host({0}, 2, "a");
  auto b = f.start_shard_host({1}, 2, "b", {}, "TELOS_TEST_FAULT_FILE=" + control);
  auto c = f.start_coordinator({f.nodes[a].address, f.nodes[b].address});
  auto coordinator = f.nodes[c].address;
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"import", f.write_import(20)}).code, 0);
  write_file(control, "write_error");
  std::vector<uint64_t> refused;
  int written = 0;
  bool asked_for_reopen = false;
  for (uint64_t i = 100; i < 120; ++i) {
    auto put = f.telos(coordinator, {"put"}, make_memory(i).dump());
    if (put.code == 0) {
      ++written;
      continue;
    }
    refused.push_back(i);
    BOOST_CHECK_MESSAGE(put.err.find("shard 1") != std::string::npos, put.err);
    asked_for_reopen =
        asked_for_reopen || put.err.find("close and reopen the store") != std::string::npos;
  }
  BOOST_CHECK_GT(written, 0);
  BOOST_REQUIRE_GE(refused.size(), 2u);
  // The store itself cannot resume: after the first failed write, the next says so.
  BOOST_CHECK(asked_for_reopen);
  // Reads keep working meanwhile: the node reopens the shard only once its disk takes writes.
  auto during = contents_of(f, coordinator);
  BOOST_CHECK_EQUAL(during.size(), 20u + written);
  // The disk works again: with no operator and no restart, the node reopens the shard and the
  // refused writes succeed.
  write_file(control, "");
  BOOST_REQUIRE(eventually([&] {
    return f.telos(coordinator, {"put"}, make_memory(refused.front()).dump()).code == 0;
  }));
  for (auto i : refused)
    BOOST_CHECK_EQUAL(f.telos(coordinator, {"put"}, make_memory(i).dump()).code, 0);
  auto after = contents_of(f, coordinator);
  BOOST_CHECK_EQUAL(after.size(), 20u + written + refused.size());
  for (uint64_t i = 0; i < 20; ++i)
    BOOST_CHECK_EQUAL(after[id_of(i)], "memory number " + std::to_string(i));
  auto log = read_file(f.nodes[b].proc.err_file());
  BOOST_CHECK_MESSAGE(log.find("shard 1 reopened") != std::string::npos, log);
}

BOOST_AUTO_TEST_CASE(a_node_with_the_wrong_shard_or_data_dir_is_refused) {
  cluster_fixture f;
  auto a = f.start_shard_host({0}, 2, "a");
  auto b = f.start_shard_host({1}, 2, "b");
  // The data dir of shard 0 started as shard 1: refused by the node itself.
  auto wrong = run(telosd_binary(), {"--data-dir", f.dir / "a", "--shard-id", "1"});
  BOOST_CHECK_EQUAL(wrong.code, 1);
  BOOST_CHECK_MESSAGE(wrong.err.find("holds shard(s) 0, not shard 1") != std::string::npos,
                      wrong.err);
  // A coordinator that lists the nodes in the wrong order: refused at attach.
  auto swapped = run(telosd_binary(), {"--coordinator", "--data-dir", f.dir / "swapped", "--shards",
                                       f.nodes[b].address + "," + f.nodes[a].address});
  BOOST_CHECK_EQUAL(swapped.code, 1);
  BOOST_CHECK_MESSAGE(swapped.err.find("hosts shard(s) 1, not shard 0") != std::string::npos,
                      swapped.err);
  // The right order binds both data dirs to the cluster; a coordinator of another cluster (a
  // fresh map) is refused by them afterwards.
  auto c = f.start_coordinator({f.nodes[a].address, f.nodes[b].address});
  BOOST_CHECK_EQUAL(parse_line(f.telos(f.nodes[c].address, {"count"}))["count"], 0);
  auto other = run(telosd_binary(), {"--coordinator", "--data-dir", f.dir / "other", "--shards",
                                     f.nodes[a].address + "," + f.nodes[b].address});
  BOOST_CHECK_EQUAL(other.code, 1);
  BOOST_CHECK_MESSAGE(other.err.find("belongs to cluster") != std::string::npos, other.err);
  // The shard count is fixed: the coordinator's map refuses a third shard.
  auto grown =
      run(telosd_binary(),
          {"--coordinator", "--data-dir", f.dir / "coordinator", "--listen", "127.0.0.1:0",
           "--shards", f.nodes[a].address + "," + f.nodes[b].address + "," + f.nodes[b].address});
  BOOST_CHECK_EQUAL(grown.code, 1);
  BOOST_CHECK_MESSAGE(grown.err.find("has 2 shards, --shards names 3") != std::string::npos,
                      grown.err);
}

BOOST_AUTO_TEST_CASE(without_a_certificate_of_the_cluster_a_client_gets_nothing) {
  cluster_fixture f;
  auto certs = f.dir / "certs";
  BOOST_REQUIRE_EQUAL(run("/bin/bash", {certs_script(), certs, "node", "client"}).code, 0);
  BOOST_REQUIRE_EQUAL(run("/bin/bash", {certs_script(), f.dir / "rogue", "rogue"}).code, 0);
  std::vector<std::string> node_tls{"--tls-cert",        certs + "/node.pem", "--tls-key",
                                    certs + "/node.key", "--tls-ca",          certs + "/ca.pem"};
  std::vector<std::string> client_tls{"--tls-cert", certs + "/client.pem",
                                      "--tls-key",  certs + "/client.key",
                                      "--tls-ca",   certs + "/ca.pem"};
  auto a = f.start_shard_host({0}, 1, "a", node_tls);
  auto c = f.start_coordinator({f.nodes[a].address}, node_tls);
  auto coordinator = f.nodes[c].address;
  BOOST_CHECK_EQUAL(f.telos(coordinator, {"put"}, make_memory(1).dump(), client_tls).code, 0);
  // No certificate at all: the TLS handshake fails, nothing is served.
  auto plain = f.telos(coordinator, {"count"});
  BOOST_CHECK_EQUAL(plain.code, 3);
  BOOST_CHECK_MESSAGE(plain.err.find("cannot reach") != std::string::npos, plain.err);
  BOOST_CHECK(plain.out.find("count") == std::string::npos);
  // A certificate from another CA: refused as well, also when it trusts ours.
  auto rogue = f.dir / "rogue";
  auto other = f.telos(coordinator, {"count"}, {},
                       {"--tls-cert", rogue + "/rogue.pem", "--tls-key", rogue + "/rogue.key",
                        "--tls-ca", certs + "/ca.pem"});
  BOOST_CHECK_EQUAL(other.code, 3);
  BOOST_CHECK(other.out.find("count") == std::string::npos);
  // A shard node refuses an unauthenticated coordinator too.
  auto coordinator_without =
      run(telosd_binary(), {"--coordinator", "--data-dir", f.dir / "x", "--wait-shards", "0",
                            "--shards", f.nodes[a].address});
  BOOST_CHECK_EQUAL(coordinator_without.code, 1);
  // Garbage bytes on the port do not take the node down.
  auto colon = coordinator.rfind(':');
  for (int round = 0; round < 3; ++round) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(std::stoi(coordinator.substr(colon + 1))));
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    BOOST_REQUIRE_EQUAL(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    std::string garbage(64 * 1024, '\0');
    lcg r{static_cast<uint64_t>(round) + 1};
    for (auto& ch : garbage)
      ch = static_cast<char>(r.next());
    // The first bytes claim a 4 GB message.
    garbage[0] = 1;
    garbage[4] = garbage[5] = garbage[6] = static_cast<char>(0xff);
    auto sent = ::send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL);
    (void)sent;
    ::close(fd);
  }
  auto after = f.telos(coordinator, {"count"}, {}, client_tls);
  BOOST_CHECK_EQUAL(parse_line(after)["count"], 1);
}

BOOST_AUTO_TEST_CASE(a_cross_shard_batch_commits_on_every_shard_or_on_none) {
  cluster_fixture f;
  // Shard 1's node dies (like kill -9) right after it staged its part of a transaction.
  size_t b = 0;
  std::string coordinator;
  std::tie(std::ignore, b, coordinator) = f.start_two_shards("after-prepare");
  auto b_address = f.nodes[b].address;
  auto file = f.write_import(30);
  auto failed = f.telos(coordinator, {"import", file, "--batch", "100"});
  BOOST_CHECK_EQUAL(failed.code, 3);
  BOOST_CHECK_MESSAGE(failed.err.find("nothing of the batch was committed") != std::string::npos,
                      failed.err);
  BOOST_CHECK(exists(f.dir / "b/prepared/shard-1"));
  // Back without the crash point: the coordinator reconnects and, finding no commit decision,
  // has the participant drop its staged part; shard 0 aborted at once. Nothing is visible.
  BOOST_CHECK_EQUAL(f.nodes[b].proc.wait(), 128 + SIGKILL);
  f.start_node({"--data-dir", f.dir / "b", "--shard-id", "1", "--listen", b_address});
  BOOST_REQUIRE(eventually([&] {
    auto n = f.telos(coordinator, {"count"});
    return n.code == 0 && read_file(f.dir / "b/NODE").size() > 0 &&
           f.telos(coordinator, {"list"}).out.find("memory number") == std::string::npos &&
           run("/bin/sh", {"-c", "ls -A " + f.dir / "b/prepared/shard-1"}).out.empty();
  }));
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], 0);
  BOOST_CHECK(run("/bin/sh", {"-c", "ls -A " + f.dir / "a/prepared/shard-0"}).out.empty());
  // Now shard 1's node dies after the decision, before applying its part: the batch is
  // committed; the restarted node applies its staged part when the coordinator reaches it.
  BOOST_CHECK_EQUAL(f.nodes.back().proc.stop(SIGTERM), 0);
  f.start_node({"--data-dir", f.dir / "b", "--shard-id", "1", "--listen", b_address},
               "before-commit");
  BOOST_REQUIRE(eventually([&] { return f.telos(coordinator, {"count"}).code == 0; }));
  auto decided = f.telos(coordinator, {"import", file, "--batch", "100"});
  BOOST_CHECK_EQUAL(decided.code, 3);
  BOOST_CHECK_MESSAGE(decided.err.find("the batch is committed") != std::string::npos, decided.err);
  BOOST_CHECK_EQUAL(f.nodes.back().proc.wait(), 128 + SIGKILL);
  f.start_node({"--data-dir", f.dir / "b", "--shard-id", "1", "--listen", b_address});
  BOOST_REQUIRE(eventually([&] {
    auto n = f.telos(coordinator, {"count"});
    return n.code == 0 && parse_line(n)["count"] == 30;
  }));
  for (uint64_t i = 0; i < 30; ++i)
    BOOST_CHECK_EQUAL(f.telos(coordinator, {"get", id_of(i)}).code, 0);
  BOOST_CHECK(run("/bin/sh", {"-c", "ls -A " + f.dir / "b/prepared/shard-1"}).out.empty());
}

BOOST_AUTO_TEST_CASE(a_batch_a_shard_did_not_apply_stays_locked_through_restarts_and_compaction) {
  cluster_fixture f;
  auto a = f.start_shard_host({0}, 2, "a");
  auto b = f.start_shard_host({1}, 2, "b");
  auto b_address = f.nodes[b].address;
  std::vector<std::string> coordinator_args{"--compact-decisions", "2", "--wait-shards", "0.2"};
  auto c = f.start_coordinator({f.nodes[a].address, b_address}, coordinator_args);
  auto coordinator = f.nodes[c].address;
  auto decisions = f.dir / "coordinator/DECISIONS";
  auto lines_in = [](const std::string& path) {
    auto text = read_file(path);
    return std::count(text.begin(), text.end(), '\n');
  };
  // Cross-shard batches every shard applied: their decisions are forgotten, the log compacted.
  auto file = f.write_import(30);
  for (int round = 0; round < 6; ++round)
    BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"import", file, "--batch", "100"}).code, 0);
  BOOST_CHECK_LT(lines_in(decisions), 4);
  // Shard 1's node dies (kill -9) after the decision, before applying its part of version 2.
  BOOST_CHECK_EQUAL(f.nodes[b].proc.stop(SIGTERM), 0);
  f.start_node({"--data-dir", f.dir / "b", "--shard-id", "1", "--listen", b_address},
               "before-commit");
  BOOST_REQUIRE(eventually([&] { return f.telos(coordinator, {"count"}).code == 0; }));
  auto decided = f.telos(coordinator, {"import", f.write_version_2(30), "--batch", "100"});
  BOOST_CHECK_EQUAL(decided.code, 3);
  BOOST_CHECK_MESSAGE(decided.err.find("the batch is committed") != std::string::npos, decided.err);
  BOOST_CHECK_EQUAL(f.nodes.back().proc.wait(), 128 + SIGKILL);
  // Shard 0 applied its part, shard 1 did not: no read shows any of the batch (also not the ids
  // of shard 0), each failing with an error naming shard 1; writes to its ids conflict.
  auto check_locked = [&](const std::string& at) {
    for (uint64_t i = 0; i < 30; i += 7) {
      auto got = f.telos(at, {"get", id_of(i)});
      BOOST_CHECK_EQUAL(got.code, 3);
      BOOST_CHECK_MESSAGE(got.err.find("not applied yet on shard(s) 1") != std::string::npos,
                          got.err);
    }
    auto clash = f.telos(at, {"put"}, make_memory(3).dump());
    BOOST_CHECK_EQUAL(clash.code, 3);
    BOOST_CHECK_MESSAGE(clash.err.find("memory " + id_of(3) + " is part of cross-shard") !=
                                std::string::npos &&
                            clash.err.find("not applied yet on shard(s) 1") != std::string::npos,
                        clash.err);
    auto listed = f.telos(at, {"list"});
    BOOST_CHECK_EQUAL(listed.code, 3);
    BOOST_CHECK(listed.out.find("version 2") == std::string::npos);
  };
  check_locked(coordinator);
  // A live restore is refused meanwhile (it would drop shard 1's staged part of the batch).
  auto restore = f.telos(coordinator, {"restore", f.dir / "any"});
  BOOST_CHECK_EQUAL(restore.code, 3);
  BOOST_CHECK_MESSAGE(restore.err.find("restore refused, nothing was changed") !=
                              std::string::npos &&
                          restore.err.find("not applied yet on shard(s) 1") != std::string::npos,
                      restore.err);
  // The coordinator restarts meanwhile: its log (compacted at open) holds just this batch, whose
  // ids it locks again.
  BOOST_CHECK_EQUAL(f.nodes[c].proc.stop(SIGTERM), 0);
  c = f.start_coordinator({f.nodes[a].address, b_address}, coordinator_args);
  coordinator = f.nodes[c].address;
  BOOST_CHECK_EQUAL(lines_in(decisions), 1);
  BOOST_CHECK_EQUAL(read_file(decisions).rfind("commit ", 0), 0u);
  check_locked(coordinator);
  // Shard 1's node is back: its part is applied, every read sees the whole batch, the decision is
  // forgotten and the log empties.
  f.start_node({"--data-dir", f.dir / "b", "--shard-id", "1", "--listen", b_address});
  BOOST_REQUIRE(eventually([&] {
    auto n = f.telos(coordinator, {"count"});
    return n.code == 0 && parse_line(n)["count"] == 30;
  }));
  auto contents = contents_of(f, coordinator);
  for (uint64_t i = 0; i < 30; ++i)
    BOOST_CHECK_EQUAL(contents[id_of(i)], "version 2 of " + std::to_string(i));
  BOOST_CHECK_EQUAL(f.telos(coordinator, {"put"}, make_memory(3).dump()).code, 0);
  BOOST_CHECK(eventually([&] { return read_file(decisions).empty(); }));
  BOOST_CHECK(run("/bin/sh", {"-c", "ls -A " + f.dir / "b/prepared/shard-1"}).out.empty());
}

BOOST_AUTO_TEST_CASE(readers_never_see_half_a_cross_shard_batch_and_its_ids_are_locked) {
  cluster_fixture f;
  // Shard 0's node stops after applying its part of the commit, shard 1's before applying its
  // part: in between, shard 0 shows the new versions and shard 1 the old ones.
  pause_point applied{f.dir / "pause-a"};
  pause_point pending{f.dir / "pause-b"};
  auto a = f.start_node({"--data-dir", f.dir / "a", "--shard-count", "2", "--shard-id", "0",
                         "--profile", f.dir / "profile.json"},
                        {}, "TELOS_TEST_PAUSE=after-commit:" + applied.dir);
  auto b = f.start_node({"--data-dir", f.dir / "b", "--shard-count", "2", "--shard-id", "1",
                         "--profile", f.dir / "profile.json"},
                        {}, "TELOS_TEST_PAUSE=before-commit:" + pending.dir);
  // The paused nodes answer no ping meanwhile: a long ping timeout keeps them attached.
  auto c = f.start_coordinator({f.nodes[a].address, f.nodes[b].address}, {"--ping-timeout", "600"});
  auto coordinator = f.nodes[c].address;
  // Version 1 of 20 memories, one per batch (single-shard writes, no two-phase commit), and one
  // memory outside the batch to come.
  auto file = f.write_import(20);
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"import", file, "--batch", "1"}).code, 0);
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"put"}, make_memory(100).dump()).code, 0);
  // Version 2 of the 20 in one cross-shard batch.
  auto writer = start(telos_binary(),
                      {"--connect", coordinator, "import", f.write_version_2(20), "--batch", "100"},
                      f.dir / "writer.out", f.dir / "writer.err");
  BOOST_REQUIRE_MESSAGE(applied.reached(), "shard 0 never applied its part");
  BOOST_REQUIRE_MESSAGE(pending.reached(), "shard 1 never got to its commit");
  // Now shard 0 holds version 2 and shard 1 version 1. Readers of the batch's ids wait.
  auto lister = start(telos_binary(), {"--connect", coordinator, "list", "--limit", "1000"},
                      f.dir / "list.out", f.dir / "list.err");
  auto getter = start(telos_binary(), {"--connect", coordinator, "get", id_of(7)},
                      f.dir / "get.out", f.dir / "get.err");
  // A read of an id outside the batch is served meanwhile.
  auto other = f.telos(coordinator, {"get", id_of(100)});
  BOOST_CHECK_EQUAL(parse_line(other)["content"], "memory number 100");
  // Writes to ids of the batch fail with a conflict naming the id; others go through.
  auto clash = make_memory(3);
  clash["content"] = "a clashing write";
  auto refused = f.telos(coordinator, {"put"}, clash.dump());
  BOOST_CHECK_EQUAL(refused.code, 3);
  BOOST_CHECK_MESSAGE(refused.err.find("memory " + id_of(3) +
                                       " is part of cross-shard "
                                       "transaction") != std::string::npos,
                      refused.err);
  auto deleted = f.telos(coordinator, {"delete", id_of(4)});
  BOOST_CHECK_EQUAL(deleted.code, 3);
  BOOST_CHECK_MESSAGE(deleted.err.find("is part of cross-shard transaction") != std::string::npos,
                      deleted.err);
  BOOST_CHECK_EQUAL(f.telos(coordinator, {"put"}, make_memory(101).dump()).code, 0);
  BOOST_CHECK(running(lister));
  BOOST_CHECK_MESSAGE(running(getter), read_file(f.dir / "get.out")
                                           << read_file(f.dir / "get.err"));
  applied.resume();
  pending.resume();
  BOOST_CHECK_EQUAL(wait_for(writer), 0);
  BOOST_CHECK_EQUAL(wait_for(lister), 0);
  BOOST_CHECK_EQUAL(wait_for(getter), 0);
  // The readers saw the whole batch (they were answered after its commit phase).
  auto page = json::parse(read_file(f.dir / "list.out"));
  int new_versions = 0;
  for (auto& m : page["memories"])
    if (m["content"].get<std::string>().rfind("version 2 of ", 0) == 0) ++new_versions;
  BOOST_CHECK_EQUAL(new_versions, 20);
  BOOST_CHECK_EQUAL(page["memories"].size(), 22u);
  BOOST_CHECK_EQUAL(json::parse(read_file(f.dir / "get.out"))["content"], "version 2 of 7");
  // The ids are free again.
  BOOST_CHECK_EQUAL(f.telos(coordinator, {"put"}, clash.dump()).code, 0);
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"get", id_of(3)}))["content"],
                    "a clashing write");
}

BOOST_AUTO_TEST_CASE(a_node_killed_mid_edge_write_or_delete_leaves_no_dangling_edge) {
  cluster_fixture f;
  // Shard 1's node dies (like kill -9) right after it staged its part of the first transaction.
  size_t b = 0;
  std::string coordinator;
  std::tie(std::ignore, b, coordinator) = f.start_two_shards("after-prepare");
  auto b_address = f.nodes[b].address;
  // One memory per batch: single-shard writes, no transaction.
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"import", f.write_import(8), "--batch", "1"}).code, 0);
  std::vector<std::string> ids, on0, on1;
  for (uint64_t i = 0; i < 8; ++i) {
    ids.push_back(id_of(i));
    (shard_of(ids.back(), 2) == 0 ? on0 : on1).push_back(ids.back());
  }
  BOOST_REQUIRE(on0.size() >= 2 && !on1.empty());
  auto x = on0[0], z = on0[1], y = on1[0];
  // Shard 1's node is started again with `crash_at` (none: for good) once the last one died.
  auto restart_b = [&](const std::string& crash_at) {
    if (f.nodes[b].proc.running()) BOOST_CHECK_EQUAL(f.nodes[b].proc.stop(SIGTERM), 0);
    b = f.start_node({"--data-dir", f.dir / "b", "--shard-id", "1", "--listen", b_address},
                     crash_at);
    BOOST_REQUIRE(eventually([&] {
      return f.telos(coordinator, {"count"}).code == 0 &&
             run("/bin/sh", {"-c", "ls -A " + f.dir / "b/prepared/shard-1"}).out.empty();
    }));
  };
  // Killed before its vote: the edge is on neither shard.
  auto aborted = f.telos(coordinator, {"edge", "add", x, "link", y});
  BOOST_CHECK_EQUAL(aborted.code, 3);
  BOOST_CHECK_MESSAGE(aborted.err.find("nothing of the batch was committed") != std::string::npos,
                      aborted.err);
  BOOST_CHECK_EQUAL(f.nodes[b].proc.wait(), 128 + SIGKILL);
  restart_b("before-commit");
  BOOST_CHECK_EQUAL(edge_lines(edges_at(f, coordinator, x)), "");
  BOOST_CHECK_EQUAL(edge_lines(edges_at(f, coordinator, y)), "");
  // Killed after the decision, before applying its copy: shard 0 holds its copy, reads of the
  // graph fail meanwhile, and the restarted node applies the copy.
  auto decided = f.telos(coordinator, {"edge", "add", x, "link", y});
  BOOST_CHECK_EQUAL(decided.code, 3);
  BOOST_CHECK_MESSAGE(decided.err.find("is committed") != std::string::npos, decided.err);
  BOOST_CHECK_EQUAL(f.nodes[b].proc.wait(), 128 + SIGKILL);
  auto half = f.telos(coordinator, {"edge", "list", x, "--both"});
  BOOST_CHECK_EQUAL(half.code, 3);
  BOOST_CHECK_MESSAGE(half.err.find("not applied yet on shard(s) 1") != std::string::npos,
                      half.err);
  restart_b("");
  auto link = x + " link " + y;
  BOOST_CHECK_EQUAL(edge_lines(edges_at(f, coordinator, x)), link);
  BOOST_CHECK_EQUAL(edge_lines(edges_at(f, coordinator, y)), link);
  check_no_dangling_edge(f, coordinator, ids);
  // x gets an edge from y (across shards) and one from z (same shard); then x is deleted and
  // shard 1's node dies after the decision, before deleting its copies.
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"edge", "add", y, "back", x}).code, 0);
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"edge", "add", z, "near", x}).code, 0);
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"edge", "add", z, "far", y}).code, 0);
  restart_b("before-commit");
  auto deleted = f.telos(coordinator, {"delete", x});
  BOOST_CHECK_EQUAL(deleted.code, 3);
  BOOST_CHECK_MESSAGE(deleted.err.find("is committed") != std::string::npos, deleted.err);
  BOOST_CHECK_EQUAL(f.nodes[b].proc.wait(), 128 + SIGKILL);
  restart_b("");
  BOOST_CHECK_EQUAL(edge_lines(edges_at(f, coordinator, x)), "absent");
  auto far = z + " far " + y;
  BOOST_CHECK_EQUAL(edge_lines(edges_at(f, coordinator, y)), far);
  BOOST_CHECK_EQUAL(edge_lines(edges_at(f, coordinator, z)), far);
  check_no_dangling_edge(f, coordinator, ids);
  // An edge removed across shards, the node killed between the halves: on neither afterwards.
  restart_b("before-commit");
  auto removed = f.telos(coordinator, {"edge", "remove", z, "far", y});
  BOOST_CHECK_EQUAL(removed.code, 3);
  BOOST_CHECK_EQUAL(f.nodes[b].proc.wait(), 128 + SIGKILL);
  restart_b("");
  BOOST_CHECK_EQUAL(edge_lines(edges_at(f, coordinator, y)), "");
  BOOST_CHECK_EQUAL(edge_lines(edges_at(f, coordinator, z)), "");
  check_no_dangling_edge(f, coordinator, ids);
}

BOOST_AUTO_TEST_CASE(a_hung_shard_node_fails_fast_and_is_used_again_when_it_resumes) {
  cluster_fixture f;
  auto a = f.start_shard_host({0}, 2, "a");
  auto b = f.start_shard_host({1}, 2, "b");
  auto c = f.start_coordinator({f.nodes[a].address, f.nodes[b].address},
                               {"--ping-interval", "0.2", "--ping-timeout", "1"});
  auto coordinator = f.nodes[c].address;
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"import", f.write_import(40)}).code, 0);
  // What a request costs here when every node answers: mostly the start of a telos process, which
  // under ASan on a loaded machine alone takes up to ~2 s. "Fails fast" below is measured against
  // it, not against a fixed figure.
  std::chrono::milliseconds normal{0};
  for (uint64_t i = 0; i < 3; ++i) {
    auto t = std::chrono::steady_clock::now();
    BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"get", id_of(i)}).code, 0);
    normal = std::max(normal, std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - t));
  }
  // The node hangs with its connection open.
  f.nodes[b].proc.signal(SIGSTOP);
  auto t0 = std::chrono::steady_clock::now();
  auto count = f.telos(coordinator, {"count"});
  auto took = std::chrono::steady_clock::now() - t0;
  BOOST_CHECK_EQUAL(count.code, 3);
  BOOST_CHECK_MESSAGE(count.err.find("shard 1 at " + f.nodes[b].address) != std::string::npos &&
                          count.err.find("did not answer a ping") != std::string::npos,
                      count.err);
  BOOST_CHECK_LT(std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), 5000);
  // Detected: requests to it fail at once, requests to shard 0 are served.
  int served = 0, refused = 0;
  for (uint64_t i = 0; i < 12; ++i) {
    auto t = std::chrono::steady_clock::now();
    auto got = f.telos(coordinator, {"get", id_of(i)});
    // At once: no wait for another ping timeout (1 s) or for the hung node.
    BOOST_CHECK_LT(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t)
            .count(),
        normal.count() + 2000);
    if (got.code == 0) {
      ++served;
    } else {
      ++refused;
      BOOST_CHECK_MESSAGE(got.err.find("shard 1") != std::string::npos, got.err);
    }
  }
  BOOST_CHECK_GT(served, 0);
  BOOST_CHECK_GT(refused, 0);
  // It resumes: the next answered ping puts it back in service.
  f.nodes[b].proc.signal(SIGCONT);
  BOOST_REQUIRE(eventually([&] { return f.telos(coordinator, {"count"}).code == 0; }));
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], 40);
  auto contents = contents_of(f, coordinator);
  for (uint64_t i = 0; i < 40; ++i)
    BOOST_CHECK_EQUAL(contents[id_of(i)], "memory number " + std::to_string(i));
}

BOOST_AUTO_TEST_CASE(checkpoint_over_connect_writes_each_nodes_part_and_init_reports_the_cluster) {
  cluster_fixture f;
  size_t a = 0, b = 0;
  std::string coordinator;
  std::tie(a, b, coordinator) = f.start_three_shards_on_two_nodes();
  // init over --connect reports the cluster when it is what was asked, and names the difference.
  auto init = parse_line(f.telos(coordinator, {"init"}));
  BOOST_CHECK_EQUAL(init["exists"], coordinator);
  BOOST_CHECK_EQUAL(init["shards"], 3);
  BOOST_CHECK_EQUAL(init["profile"], "cluster-test");
  BOOST_CHECK_EQUAL(init["embedders"], 2);
  BOOST_CHECK_EQUAL(
      f.telos(coordinator, {"init", "--shards", "3", "--profile", f.dir / "profile.json"}).code, 0);
  auto more = f.telos(coordinator, {"init", "--shards", "4"});
  BOOST_CHECK_EQUAL(more.code, 3);
  BOOST_CHECK_MESSAGE(more.err.find("has 3 shards, init asked for 4") != std::string::npos,
                      more.err);
  auto other = f.telos(coordinator, {"init", "--profile", "teleo13"});
  BOOST_CHECK_EQUAL(other.code, 3);
  BOOST_CHECK_MESSAGE(other.err.find("init asked for") != std::string::npos &&
                          other.err.find("teleo13") != std::string::npos,
                      other.err);
  auto indexed = f.telos(coordinator, {"init", "--index-attribute", "i"});
  BOOST_CHECK_EQUAL(indexed.code, 2);
  // A checkpoint: every node writes its shards, MANIFEST and binding under the directory on its
  // own disk (here both nodes share one disk, so one directory gets all three shards).
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"import", f.write_import(30), "--batch", "8"}).code, 0);
  auto ckpt = f.dir / "ckpt";
  auto done = parse_line(f.telos(coordinator, {"checkpoint", ckpt}));
  BOOST_CHECK_EQUAL(done["checkpoint"], ckpt);
  for (auto part : {"shard-0", "shard-1", "shard-2", "MANIFEST", "NODE"})
    BOOST_CHECK_MESSAGE(exists(ckpt + "/" + part), part);
  // The copy is a point in time: later writes are not in it.
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"put"}, make_memory(200).dump()).code, 0);
  auto again = f.telos(coordinator, {"checkpoint", ckpt});
  BOOST_CHECK_EQUAL(again.code, 3);
  BOOST_CHECK_MESSAGE(again.err.find("exists already") != std::string::npos, again.err);
  // The directory holds every shard here, so it opens as a local store with the 30 memories.
  BOOST_CHECK_EQUAL(parse_line(run(telos_binary(), {"--data-dir", ckpt, "count"}))["count"], 30);
  auto got = run(telos_binary(), {"--data-dir", ckpt, "get", id_of(17)});
  BOOST_CHECK_EQUAL(parse_line(got)["content"], "memory number 17");
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], 31);
  // Restore offline: each node restarts on its address with --restore-from (its part on its own
  // disk); the coordinator reconnects by itself and serves the checkpoint's state.
  for (auto i : {a, b}) {
    BOOST_CHECK_EQUAL(f.nodes[i].proc.stop(SIGTERM), 0);
  }
  f.start_node({"--data-dir", f.dir / "a", "--shard-id", "0", "--shard-id", "2", "--listen",
                f.nodes[a].address, "--restore-from", ckpt});
  f.start_node({"--data-dir", f.dir / "b", "--shard-id", "1", "--listen", f.nodes[b].address,
                "--restore-from", ckpt});
  BOOST_REQUIRE(eventually([&] { return f.telos(coordinator, {"count"}).code == 0; }));
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], 30);
  BOOST_CHECK_EQUAL(f.telos(coordinator, {"get", id_of(200)}).code, 1);
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"get", id_of(17)}))["content"],
                    "memory number 17");
  // A data dir with no shards to replace is refused.
  auto wrong =
      run(telosd_binary(), {"--data-dir", f.dir / "other", "--shard-count", "2", "--shard-id", "0",
                            "--profile", f.dir / "profile.json", "--restore-from", ckpt});
  BOOST_CHECK_EQUAL(wrong.code, 1);
  BOOST_CHECK_MESSAGE(wrong.err.find("needs an existing data dir") != std::string::npos, wrong.err);
}

BOOST_AUTO_TEST_CASE(restore_over_connect_replaces_every_shard_live_or_none) {
  cluster_fixture f;
  size_t a = 0, b = 0;
  std::string coordinator;
  std::tie(a, b, coordinator) = f.start_three_shards_on_two_nodes();
  const uint64_t n = 30;
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"import", f.write_import(n), "--batch", "8"}).code, 0);
  write_file(f.dir / "q.json", make_memory(1000).dump());
  std::vector<std::string> search{"search", "--fuse", "--query", f.dir / "q.json", "--k", "8"};
  // What the cluster answers at checkpoint time.
  auto search_before = f.telos(coordinator, search);
  BOOST_REQUIRE_EQUAL(search_before.code, 0);
  // Every memory with its embeddings, as one page.
  std::vector<std::string> list_all{"list", "--limit", "1000", "--embeddings"};
  auto all_before = f.telos(coordinator, list_all);
  BOOST_REQUIRE_EQUAL(all_before.code, 0);
  auto get_before = f.telos(coordinator, {"get", id_of(7)});
  auto ckpt = f.dir / "ckpt";
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"checkpoint", ckpt}).code, 0);
  // Changes after the checkpoint: a put, a remove and a cross-shard batch (two-phase commit).
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"put"}, make_memory(200).dump()).code, 0);
  BOOST_REQUIRE_EQUAL(parse_line(f.telos(coordinator, {"delete", id_of(3)}))["deleted"], id_of(3));
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"import", f.write_version_2(12), "--batch", "12"}).code,
                      0);
  BOOST_REQUIRE_EQUAL(parse_line(f.telos(coordinator, {"get", id_of(5)}))["content"],
                      "version 2 of 5");
  BOOST_REQUIRE_NE(f.telos(coordinator, search).out, search_before.out);
  // Live restore: the reply comes once every shard serves the checkpoint's data, so the next
  // requests (no waiting) see exactly what the cluster held at checkpoint time.
  auto restored = parse_line(f.telos(coordinator, {"restore", ckpt}));
  BOOST_CHECK_EQUAL(restored["restored"], ckpt);
  BOOST_CHECK_EQUAL(restored["memories"], n);
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], n);
  BOOST_CHECK_EQUAL(f.telos(coordinator, list_all).out, all_before.out);
  BOOST_CHECK_EQUAL(f.telos(coordinator, {"get", id_of(7)}).out, get_before.out);
  BOOST_CHECK_EQUAL(f.telos(coordinator, {"get", id_of(200)}).code, 1);
  BOOST_CHECK_EQUAL(f.telos(coordinator, search).out, search_before.out);
  // Writes after the restore work (a cross-shard batch too) and survive a node restart.
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"put"}, make_memory(300).dump()).code, 0);
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"import", f.write_version_2(6), "--batch", "6"}).code,
                      0);
  BOOST_CHECK_EQUAL(f.nodes[a].proc.stop(SIGTERM), 0);
  f.start_node({"--data-dir", f.dir / "a", "--shard-id", "0", "--shard-id", "2", "--listen",
                f.nodes[a].address});
  BOOST_REQUIRE(eventually([&] { return f.telos(coordinator, {"count"}).code == 0; }));
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], n + 1);
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"get", id_of(300)}))["content"],
                    "memory number 300");
  auto contents = contents_of(f, coordinator);
  for (uint64_t i = 0; i < 6; ++i)
    BOOST_CHECK_EQUAL(contents[id_of(i)], "version 2 of " + std::to_string(i));
  // A checkpoint one node lacks its part of: refused naming the shard, nothing replaced anywhere
  // (a memory written after that checkpoint stays, on every shard).
  auto partial = f.dir / "partial";
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"checkpoint", partial}).code, 0);
  std::filesystem::remove_all(partial + "/shard-1");
  for (uint64_t i = 400; i < 406; ++i)
    BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"put"}, make_memory(i).dump()).code, 0);
  auto before_refusal = f.telos(coordinator, {"list", "--limit", "1000"});
  auto refused = f.telos(coordinator, {"restore", partial});
  BOOST_CHECK_NE(refused.code, 0);
  BOOST_CHECK_MESSAGE(refused.err.find("holds no shard 1") != std::string::npos &&
                          refused.err.find("no shard was changed") != std::string::npos,
                      refused.err);
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], n + 7);
  BOOST_CHECK_EQUAL(f.telos(coordinator, {"list", "--limit", "1000"}).out, before_refusal.out);
  // A directory that is no checkpoint at all is refused the same way.
  auto none = f.telos(coordinator, {"restore", f.dir / "nothing-here"});
  BOOST_CHECK_NE(none.code, 0);
  BOOST_CHECK_MESSAGE(none.err.find("no such directory") != std::string::npos, none.err);
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], n + 7);
}

BOOST_AUTO_TEST_CASE(a_live_restore_refuses_a_down_node_and_a_failed_one_finishes_when_run_again) {
  cluster_fixture f;
  auto a = f.start_shard_host({0, 2}, 3, "a");
  auto b = f.start_shard_host({1}, 3, "b", {}, "TELOS_TEST_FAIL=restore-copy");
  auto coordinator =
      f.nodes[f.start_coordinator({f.nodes[a].address, f.nodes[b].address, f.nodes[a].address})]
          .address;
  const uint64_t n = 20;
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"import", f.write_import(n), "--batch", "5"}).code, 0);
  auto ckpt = f.dir / "ckpt";
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"checkpoint", ckpt}).code, 0);
  BOOST_REQUIRE_EQUAL(f.telos(coordinator, {"put"}, make_memory(200).dump()).code, 0);
  // A shard node that is down: refused before anything is replaced.
  f.kill9(b);
  auto down = f.telos(coordinator, {"restore", ckpt});
  BOOST_CHECK_NE(down.code, 0);
  BOOST_CHECK_MESSAGE(down.err.find("no shard was changed") != std::string::npos &&
                          down.err.find("shard 1") != std::string::npos,
                      down.err);
  // (node b comes back with the hook that fails its first restore after closing its shard)
  f.start_node({"--data-dir", f.dir / "b", "--shard-id", "1", "--listen", f.nodes[b].address}, {},
               "TELOS_TEST_FAIL=restore-copy");
  BOOST_REQUIRE(eventually([&] { return f.telos(coordinator, {"count"}).code == 0; }));
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], n + 1);
  BOOST_CHECK_EQUAL(f.telos(coordinator, {"get", id_of(200)}).code, 0);
  // Phase 2 fails on shard 1: the error names what was restored and what was not.
  auto failed = f.telos(coordinator, {"restore", ckpt});
  BOOST_CHECK_NE(failed.code, 0);
  BOOST_CHECK_MESSAGE(failed.err.find("shard(s) 0, 2 restored, shard(s) 1 not") !=
                              std::string::npos &&
                          failed.err.find("run the restore again") != std::string::npos,
                      failed.err);
  auto unserved = f.telos(coordinator, {"count"});
  BOOST_CHECK_NE(unserved.code, 0);
  BOOST_CHECK_MESSAGE(unserved.err.find("shard 1") != std::string::npos, unserved.err);
  // Running it again finishes the job.
  auto again = parse_line(f.telos(coordinator, {"restore", ckpt}));
  BOOST_CHECK_EQUAL(again["memories"], n);
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], n);
  BOOST_CHECK_EQUAL(f.telos(coordinator, {"get", id_of(200)}).code, 1);
  auto contents = contents_of(f, coordinator);
  BOOST_CHECK_EQUAL(contents.size(), n);
  for (uint64_t i = 0; i < n; ++i)
    BOOST_CHECK_EQUAL(contents[id_of(i)], "memory number " + std::to_string(i));
}

BOOST_AUTO_TEST_CASE(http_on_the_coordinator_serves_the_cluster_store_as_one_collection) {
  using boost::beast::http::verb;
  cluster_fixture f;
  auto a = f.start_shard_host({0}, 2, "a");
  auto b = f.start_shard_host({1}, 2, "b");
  auto c = f.start_coordinator({f.nodes[a].address, f.nodes[b].address},
                               {"--http", "127.0.0.1:0", "--http-collection", "memories"});
  const auto& ready = f.nodes[c].ready;
  BOOST_REQUIRE_MESSAGE(ready.contains("http"), ready.dump());
  BOOST_CHECK_EQUAL(ready["collection"], "memories");
  auto http = ready["http"].get<std::string>();
  auto coordinator = f.nodes[c].address;

  // The one collection is the cluster's profile: E1 dense 8 cosine, E2 sparse.
  auto [status, list] = http_call(http, verb::get, "/collections");
  BOOST_CHECK_EQUAL(status, 200);
  BOOST_CHECK_EQUAL(list["result"]["collections"], json::parse(R"([{"name":"memories"}])"));
  auto info = http_call(http, verb::get, "/collections/memories").second["result"];
  BOOST_CHECK_EQUAL(info["config"]["params"]["vectors"],
                    json::parse(R"({"E1":{"size":8,"distance":"Cosine"}})"));
  BOOST_CHECK(info["config"]["params"]["sparse_vectors"].contains("E2"));
  // Collections are neither created nor deleted on a coordinator; the answer names the one.
  auto refused = http_call(http, verb::put, "/collections/other",
                           json::parse(R"({"vectors":{"size":8,"distance":"Cosine"}})"));
  BOOST_CHECK_EQUAL(refused.first, 400);
  BOOST_CHECK_NE(refused.second["status"]["error"].get<std::string>().find("`memories`"),
                 std::string::npos);
  BOOST_CHECK_EQUAL(http_call(http, verb::delete_, "/collections/memories").first, 400);

  // Points written over HTTP land in the cluster's store, on both shards, and an ordinary cluster
  // client sees them; memories the CLI imported are points over HTTP.
  json points = json::array();
  std::vector<json> vectors;
  for (uint64_t i = 1; i <= 20; ++i) {
    lcg r{i};
    vectors.push_back(dense(r));
    points.push_back({{"id", i},
                      {"vector", {{"E1", vectors.back()}, {"E2", sparse(r)}}},
                      {"payload", {{"i", i}}}});
  }
  BOOST_CHECK_EQUAL(
      http_call(http, verb::put, "/collections/memories/points?wait=true", {{"points", points}})
          .first,
      200);
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], 20);
  auto stats = parse_line(f.telos(coordinator, {"stats"}));
  for (auto& index : stats["indexes"])
    BOOST_CHECK_GT(index["vectors"].get<uint64_t>(), 0u);
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"import", f.write_import(10)}))["imported"],
                    10);
  auto count = http_call(http, verb::post, "/collections/memories/points/count", json::object());
  BOOST_CHECK_EQUAL(count.second["result"]["count"], 30);
  auto got = http_call(http, verb::get, "/collections/memories/points/" + id_of(3));
  BOOST_CHECK_EQUAL(got.first, 200);
  BOOST_CHECK_EQUAL(got.second["result"]["id"], id_of(3));

  // A search over HTTP runs on every shard: each stored vector finds its own point first.
  for (uint64_t i : {1, 7, 20}) {
    auto hits = http_call(http, verb::post, "/collections/memories/points/search",
                          {{"vector", {{"name", "E1"}, {"vector", vectors[i - 1]}}},
                           {"limit", 3},
                           {"with_payload", true}});
    BOOST_REQUIRE_EQUAL(hits.first, 200);
    BOOST_CHECK_EQUAL(hits.second["result"][0]["id"], i);
    BOOST_CHECK_EQUAL(hits.second["result"][0]["payload"]["i"], i);
  }
  // A point the cluster refuses (E1 of the wrong size) is a 400 naming the field, nothing written.
  lcg r{99};
  json wrong = {{"id", 99}, {"vector", {{"E1", json::array({1, 2})}, {"E2", sparse(r)}}}};
  auto bad = http_call(http, verb::put, "/collections/memories/points?wait=true",
                       {{"points", json::array({wrong})}});
  BOOST_CHECK_EQUAL(bad.first, 400);
  BOOST_CHECK_EQUAL(parse_line(f.telos(coordinator, {"count"}))["count"], 30);
}

BOOST_AUTO_TEST_SUITE_END()
