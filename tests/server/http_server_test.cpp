// server/ in process: the HTTP server's limits and refusals (body size, API key, malformed
// requests, handler failures, plain HTTP on a TLS port) and the Qdrant error bodies of qdrant_api
// (malformed JSON, unknown collection, unknown route, wrong dimension), each with the status and
// the message a client sees, over a real loopback connection.
#include "telos/actors/config.hpp"
#include "telos/messages/json_value.hpp"
#include "telos/server/collections.hpp"
#include "telos/server/http_metrics.hpp"
#include "telos/server/http_server.hpp"
#include "telos/server/qdrant_api.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>

using namespace telos;
using namespace telos::server;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

struct answer {
  int status = 0;
  std::string body;
  bool keep_alive = true;
};

/// A blocking client of one connection to 127.0.0.1:port.
struct client {
  boost::asio::io_context ioc;
  boost::beast::tcp_stream stream{ioc};
  boost::beast::flat_buffer buffer;

  explicit client(uint16_t port) {
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(tcp::endpoint{boost::asio::ip::make_address("127.0.0.1"), port});
  }

  answer call(bhttp::verb verb, const std::string& target, const std::string& body = {},
              std::vector<std::pair<std::string, std::string>> headers = {}) {
    bhttp::request<bhttp::string_body> req{verb, target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    req.set(bhttp::field::content_type, "application/json");
    for (auto& [k, v] : headers)
      req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    stream.expires_after(std::chrono::seconds(30));
    bhttp::write(stream, req);
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream, buffer, res);
    return {static_cast<int>(res.result_int()), res.body(), res.keep_alive()};
  }

  /// Sends raw bytes and reads until the server closes; what it sent back.
  std::string raw(const std::string& bytes) {
    boost::asio::write(stream.socket(), boost::asio::buffer(bytes));
    std::string got;
    boost::beast::error_code ec;
    char chunk[4096];
    for (;;) {
      auto n = stream.socket().read_some(boost::asio::buffer(chunk), ec);
      got.append(chunk, n);
      if (ec) break;
    }
    return got;
  }
};

json_value error_of(const answer& a) {
  auto doc = parse_json(a.body);
  BOOST_REQUIRE_MESSAGE(doc, "not JSON: " << a.body);
  BOOST_REQUIRE_MESSAGE(doc->contains("status") && (*doc)["status"].is_object() &&
                            (*doc)["status"].contains("error") && doc->contains("time"),
                        "not Qdrant's error body: " << a.body);
  return *doc;
}

std::string message_of(const answer& a) {
  return error_of(a)["status"]["error"].get<std::string>();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A server with a handler of the test's own (echoes the body; "/throw" throws).
struct echo_fixture {
  http_metrics metrics;
  std::atomic<int> handled{0};
  std::unique_ptr<http_server> srv;

  explicit echo_fixture(http_options o = {}) {
    o.port = 0;
    auto s = http_server::start(
        o,
        [this](const http_request& r) {
          ++handled;
          if (r.path == "/throw") throw std::runtime_error("the handler failed");
          http_answer a;
          a.body = r.body;
          a.route = r.path;
          return a;
        },
        metrics);
    BOOST_REQUIRE_MESSAGE(s, (s ? std::string{} : describe(s.error())));
    srv = std::move(*s);
  }
};

/// qdrant_api over a memory-backend collection registry in a scratch directory.
struct api_fixture {
  std::filesystem::path dir;
  caf::actor_system_config cfg;
  std::optional<caf::actor_system> sys;
  std::unique_ptr<collection_registry> registry;
  http_metrics metrics;
  std::unique_ptr<qdrant_api> api;
  std::unique_ptr<http_server> srv;

  api_fixture() {
    dir = std::filesystem::temp_directory_path() /
          ("telos-server-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    register_telos(cfg);
    sys.emplace(cfg);
    collection_options co;
    co.data_dir = dir.string();
    co.backend = storage::backend_kind::memory;
    registry = std::make_unique<collection_registry>(*sys, co);
    BOOST_REQUIRE(registry->open_existing());
    api = std::make_unique<qdrant_api>(*registry, metrics);
    http_options o;
    o.port = 0;
    auto s = http_server::start(
        o, [this](const http_request& r) { return api->handle(r); }, metrics);
    BOOST_REQUIRE_MESSAGE(s, (s ? std::string{} : describe(s.error())));
    srv = std::move(*s);
  }
  ~api_fixture() {
    srv->stop();
    registry->close_all();
    std::filesystem::remove_all(dir);
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(server)

BOOST_AUTO_TEST_CASE(a_body_over_the_limit_gets_413_naming_the_limit_and_is_not_handled) {
  http_options o;
  o.max_body_bytes = 1000;
  echo_fixture f{o};
  client c{f.srv->port()};
  auto small = c.call(bhttp::verb::post, "/echo", std::string(1000, 'x'));
  BOOST_CHECK_EQUAL(small.status, 200);
  BOOST_CHECK_EQUAL(small.body.size(), 1000u);
  auto big = c.call(bhttp::verb::post, "/echo", std::string(1001, 'x'));
  BOOST_CHECK_EQUAL(big.status, 413);
  BOOST_CHECK(contains(message_of(big), "larger than 1000 bytes (--max-body-mb)"));
  BOOST_CHECK(!big.keep_alive);
  BOOST_CHECK_EQUAL(f.handled.load(), 1);
}

BOOST_AUTO_TEST_CASE(without_the_api_key_a_request_gets_401_and_the_probes_need_none) {
  http_options o;
  o.api_key = "sesame";
  echo_fixture f{o};
  client c{f.srv->port()};
  auto refused = c.call(bhttp::verb::post, "/collections", "{}");
  BOOST_CHECK_EQUAL(refused.status, 401);
  BOOST_CHECK(contains(message_of(refused), "API key"));
  BOOST_CHECK_EQUAL(c.call(bhttp::verb::post, "/x", "{}", {{"api-key", "wrong"}}).status, 401);
  BOOST_CHECK_EQUAL(f.handled.load(), 0);
  BOOST_CHECK_EQUAL(c.call(bhttp::verb::get, "/healthz").status, 200);
  BOOST_CHECK_EQUAL(c.call(bhttp::verb::post, "/x", "{}", {{"api-key", "sesame"}}).status, 200);
  BOOST_CHECK_EQUAL(
      c.call(bhttp::verb::post, "/x", "{}", {{"Authorization", "Bearer sesame"}}).status, 200);
  BOOST_CHECK_EQUAL(f.handled.load(), 3);
}

BOOST_AUTO_TEST_CASE(a_malformed_request_closes_the_connection_and_the_server_keeps_serving) {
  echo_fixture f;
  client bad{f.srv->port()};
  auto got = bad.raw("NOT HTTP AT ALL\r\n\r\n");
  BOOST_CHECK(got.empty());
  client bad_length{f.srv->port()};
  got = bad_length.raw("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: nope\r\n\r\n");
  BOOST_CHECK(got.empty());
  BOOST_CHECK_EQUAL(f.handled.load(), 0);
  client good{f.srv->port()};
  BOOST_CHECK_EQUAL(good.call(bhttp::verb::post, "/x", "hello").body, "hello");
}

BOOST_AUTO_TEST_CASE(a_handler_that_throws_is_a_500_with_an_error_body) {
  echo_fixture f;
  client c{f.srv->port()};
  auto a = c.call(bhttp::verb::get, "/throw");
  BOOST_CHECK_EQUAL(a.status, 500);
  BOOST_CHECK_EQUAL(message_of(a), "Service internal error: the handler failed");
  // The connection stays usable.
  BOOST_CHECK_EQUAL(c.call(bhttp::verb::post, "/x", "again").body, "again");
}

BOOST_AUTO_TEST_CASE(tls_without_a_certificate_and_key_is_refused_naming_the_options) {
  http_metrics metrics;
  http_options o;
  o.port = 0;
  o.tls.cafile = "/nonexistent/ca.pem";
  auto s = http_server::start(
      o, [](const http_request&) { return http_answer{}; }, metrics);
  BOOST_REQUIRE(!s);
  BOOST_CHECK(contains(describe(s.error()), "--tls-cert and --tls-key"));
  o.tls.certificate = "/nonexistent/server.pem";
  o.tls.key = "/nonexistent/server.key";
  s = http_server::start(
      o, [](const http_request&) { return http_answer{}; }, metrics);
  BOOST_REQUIRE(!s);
  BOOST_CHECK(contains(describe(s.error()), "--tls-cert '/nonexistent/server.pem' cannot be read"));
}

BOOST_AUTO_TEST_CASE(qdrant_errors_name_what_is_wrong_and_change_nothing) {
  api_fixture f;
  client c{f.srv->port()};
  auto unknown = c.call(bhttp::verb::get, "/collections/nope");
  BOOST_CHECK_EQUAL(unknown.status, 404);
  BOOST_CHECK_EQUAL(message_of(unknown), "Not found: Collection `nope` doesn't exist!");
  auto route = c.call(bhttp::verb::get, "/no/such/route");
  BOOST_CHECK_EQUAL(route.status, 404);
  BOOST_CHECK(contains(message_of(route), "/no/such/route"));
  auto malformed = c.call(bhttp::verb::put, "/collections/a", "{\"vectors\":");
  BOOST_CHECK_EQUAL(malformed.status, 400);
  BOOST_CHECK(contains(message_of(malformed), "Format error in JSON body"));
  auto manhattan = c.call(bhttp::verb::put, "/collections/a",
                          R"({"vectors":{"size":3,"distance":"Manhattan"}})");
  BOOST_CHECK_EQUAL(manhattan.status, 400);
  BOOST_CHECK(contains(message_of(manhattan), "vectors.distance"));
  BOOST_CHECK(f.registry->names().empty());

  BOOST_CHECK_EQUAL(
      c.call(bhttp::verb::put, "/collections/a", R"({"vectors":{"size":3,"distance":"Dot"}})")
          .status,
      200);
  auto dim = c.call(bhttp::verb::put, "/collections/a/points",
                    R"({"points":[{"id":1,"vector":[1,0,0]},{"id":2,"vector":[1,0]}]})");
  BOOST_CHECK_EQUAL(dim.status, 400);
  BOOST_CHECK(contains(message_of(dim), "points[1].vector"));
  auto bad_id = c.call(bhttp::verb::put, "/collections/a/points",
                       R"({"points":[{"id":-4,"vector":[1,0,0]}]})");
  BOOST_CHECK_EQUAL(bad_id.status, 400);
  BOOST_CHECK(contains(message_of(bad_id), "points[0].id"));
  auto bad_filter = c.call(bhttp::verb::post, "/collections/a/points/count",
                           R"({"filter":{"must":[{"key":"a","likes":1}]}})");
  BOOST_CHECK_EQUAL(bad_filter.status, 400);
  BOOST_CHECK(contains(message_of(bad_filter), "filter.must[0]"));
  auto count = c.call(bhttp::verb::post, "/collections/a/points/count", "{}");
  BOOST_CHECK_EQUAL(count.status, 200);
  BOOST_CHECK_EQUAL((*parse_json(count.body))["result"]["count"], 0);
}

BOOST_AUTO_TEST_SUITE_END()
