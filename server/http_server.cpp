// Boost.Beast sessions of telosd --http: reads and writes on one I/O thread under deadlines,
// handlers on a worker pool (see http_server.hpp).
#include "telos/server/http_server.hpp"

#include "telos/messages/json_value.hpp"
#include "telos/server/http_metrics.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <optional>
#include <thread>

namespace telos::server {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;

namespace {

std::string server_error_body(const std::string& message, double seconds) {
  return dump(json_value{{"status", {{"error", message}}}, {"time", seconds}});
}

bool server_is_probe(const std::string& path) {
  return path == "/healthz" || path == "/livez" || path == "/readyz";
}

} // namespace

struct http_server::impl {
  http_options opts;
  http_handler handler;
  http_metrics& metrics;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::thread_pool workers;
  std::thread io_thread;
  std::atomic<bool> stopped{false};

  impl(http_options o, http_handler h, http_metrics& m)
      : opts(std::move(o)), handler(std::move(h)), metrics(m), workers(opts.worker_threads) {}

  void accept();

  bool authorised(const bhttp::request<bhttp::string_body>& req) const {
    if (opts.api_key.empty()) return true;
    if (auto it = req.find("api-key"); it != req.end() && it->value() == opts.api_key) return true;
    if (auto it = req.find(bhttp::field::authorization); it != req.end()) {
      auto value = std::string(it->value());
      if (value == "Bearer " + opts.api_key) return true;
    }
    return false;
  }

  /// Runs on a worker thread: the handler may block on the store.
  std::shared_ptr<bhttp::response<bhttp::string_body>>
  process(const bhttp::request<bhttp::string_body>& req,
          std::chrono::steady_clock::time_point started) {
    http_request r;
    r.method = std::string(req.method_string());
    auto target = std::string(req.target());
    auto q = target.find('?');
    r.path = target.substr(0, q);
    r.query = q == std::string::npos ? std::string{} : target.substr(q + 1);
    r.body = req.body();
    http_answer a;
    if (!server_is_probe(r.path) && !authorised(req)) {
      a.status = 401;
      a.route = "unauthorised";
      a.body = server_error_body("Must provide an API key or an Authorization bearer token", 0);
    } else {
      try {
        a = handler(r);
      } catch (const std::exception& e) {
        a.status = 500;
        a.body = server_error_body(std::string{"Service internal error: "} + e.what(), 0);
      }
    }
    auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(a.status), req.version());
    res->set(bhttp::field::server, "telosd");
    res->set(bhttp::field::content_type, a.content_type);
    res->keep_alive(req.keep_alive());
    res->body() = std::move(a.body);
    res->prepare_payload();
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    metrics.record(r.method, a.route, a.status, took.count());
    return res;
  }
};

namespace {

class http_session : public std::enable_shared_from_this<http_session> {
public:
  http_session(tcp::socket socket, http_server::impl& server)
      : stream_(std::move(socket)), server_(server) {}

  void run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&http_session::read, shared_from_this()));
  }

private:
  void read() {
    parser_.emplace();
    parser_->body_limit(server_.opts.max_body_bytes);
    stream_.expires_after(server_.opts.timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec == bhttp::error::body_limit) {
      auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
          bhttp::status::payload_too_large, 11);
      res->set(bhttp::field::content_type, "application/json");
      res->body() = server_error_body("Payload error: the body is larger than " +
                                          std::to_string(server_.opts.max_body_bytes) +
                                          " bytes (--max-body-mb)",
                                      0);
      res->keep_alive(false);
      res->prepare_payload();
      server_.metrics.record("", "body_too_large", 413, 0);
      return write(res);
    }
    if (ec) return close(); // end of stream, deadline passed, malformed request, reset
    auto started = std::chrono::steady_clock::now();
    auto req = std::make_shared<bhttp::request<bhttp::string_body>>(parser_->release());
    asio::post(server_.workers, [self = shared_from_this(), req, started] {
      auto res = self->server_.process(*req, started);
      asio::post(self->stream_.get_executor(), [self, res] { self->write(res); });
    });
  }

  void write(std::shared_ptr<bhttp::response<bhttp::string_body>> res) {
    res_ = std::move(res);
    stream_.expires_after(server_.opts.timeout);
    bhttp::async_write(stream_, *res_,
                       beast::bind_front_handler(&http_session::on_written, shared_from_this(),
                                                 !res_->keep_alive()));
  }

  void on_written(bool last, beast::error_code ec, size_t) {
    if (ec) return close();
    res_.reset();
    if (last || server_.stopped) return close();
    read();
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<bhttp::response<bhttp::string_body>> res_;
  http_server::impl& server_;
};

} // namespace

void http_server::impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
    if (stopped) return;
    if (!ec) std::make_shared<http_session>(std::move(s), *this)->run();
    accept();
  });
}

expected<std::unique_ptr<http_server>> http_server::start(http_options opts, http_handler handler,
                                                          http_metrics& metrics) {
  auto p = std::make_unique<impl>(std::move(opts), std::move(handler), metrics);
  beast::error_code ec;
  auto address =
      asio::ip::make_address(p->opts.host == "localhost" ? "127.0.0.1" : p->opts.host, ec);
  if (ec)
    return make_error(ec::invalid_argument, "--http: '" + p->opts.host + "': " + ec.message());
  tcp::endpoint where{address, p->opts.port};
  auto where_text = p->opts.host + ":" + std::to_string(p->opts.port);
  p->acceptor.open(where.protocol(), ec);
  if (!ec) p->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) p->acceptor.bind(where, ec);
  if (!ec) p->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error(ec::io_error, "--http " + where_text + ": " + ec.message());
  p->accept();
  auto* raw = p.get();
  p->io_thread = std::thread{[raw] { raw->ioc.run(); }};
  return std::unique_ptr<http_server>{new http_server(std::move(p))};
}

http_server::http_server(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

http_server::~http_server() {
  stop();
}

uint16_t http_server::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void http_server::stop() {
  if (impl_->stopped.exchange(true)) return;
  asio::post(impl_->ioc, [p = impl_.get()] {
    beast::error_code ec;
    p->acceptor.close(ec);
  });
  impl_->workers.join();
  impl_->ioc.stop();
  if (impl_->io_thread.joinable()) impl_->io_thread.join();
}

} // namespace telos::server
