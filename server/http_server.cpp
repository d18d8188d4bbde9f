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
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/err.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <thread>
#include <type_traits>

namespace telos::server {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;

namespace {

std::string server_error_body(const std::string& message, double seconds) {
  return dump(json_value{{"status", {{"error", message}}}, {"time", seconds}});
}

/// OpenSSL's reason for a failed ssl::context call (asio's own message is "asio.ssl error").
std::string server_ssl_reason(const beast::error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category())
    if (const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value())))
      return reason;
  return ec.message();
}

/// The TLS context of an HTTPS port: the certificate chain and key; with a CA file, clients must
/// present a certificate signed by it (mutual TLS, as between cluster nodes). TLS 1.2 or newer.
expected<std::unique_ptr<asio::ssl::context>> server_tls_context(const tls_options& tls) {
  if (tls.certificate.empty() || tls.key.empty())
    return make_error(ec::invalid_argument,
                      "--http with TLS needs --tls-cert and --tls-key (--tls-ca is optional: it "
                      "makes clients present a certificate signed by that CA)");
  for (const auto& [option, path] :
       {std::pair{"--tls-cert", tls.certificate}, std::pair{"--tls-key", tls.key},
        std::pair{"--tls-ca", tls.cafile}}) {
    if (path.empty()) continue;
    std::ifstream in{path};
    if (!in)
      return make_error(ec::invalid_argument, std::string{option} + " '" + path +
                                                  "' cannot be read: " + std::strerror(errno));
  }
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  beast::error_code ec;
  ctx->use_certificate_chain_file(tls.certificate, ec);
  if (ec)
    return make_error(ec::invalid_argument,
                      "--tls-cert '" + tls.certificate + "': " + server_ssl_reason(ec));
  ctx->use_private_key_file(tls.key, asio::ssl::context::pem, ec);
  if (ec)
    return make_error(ec::invalid_argument,
                      "--tls-key '" + tls.key + "': " + server_ssl_reason(ec));
  if (!tls.cafile.empty()) {
    ctx->load_verify_file(tls.cafile, ec);
    if (ec)
      return make_error(ec::invalid_argument,
                        "--tls-ca '" + tls.cafile + "': " + server_ssl_reason(ec));
    ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  }
  return ctx;
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
  /// Set when the port serves TLS (http_options::tls).
  std::unique_ptr<asio::ssl::context> tls;

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

/// The transport of a session: a TCP stream, or TLS over one.
using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

beast::tcp_stream& tcp_of(plain_stream& s) {
  return s;
}
beast::tcp_stream& tcp_of(tls_stream& s) {
  return beast::get_lowest_layer(s);
}

/// One connection: reads a request, has a worker run it, writes the answer, and again while the
/// client keeps the connection alive.
template <class Stream>
class http_session : public std::enable_shared_from_this<http_session<Stream>> {
public:
  http_session(Stream stream, beast::flat_buffer buffer, http_server::impl& server)
      : stream_(std::move(stream)), buffer_(std::move(buffer)), server_(server) {}

  void run() {
    if constexpr (std::is_same_v<Stream, tls_stream>) {
      // The bytes the TLS detector already read are the start of the handshake.
      tcp_of(stream_).expires_after(server_.opts.timeout);
      stream_.async_handshake(asio::ssl::stream_base::server, buffer_.data(),
                              [self = this->shared_from_this()](beast::error_code ec, size_t used) {
                                if (ec) return self->close(); // not TLS, wrong CA, timeout
                                self->buffer_.consume(used);
                                self->read();
                              });
    } else {
      read();
    }
  }

private:
  void read() {
    parser_.emplace();
    parser_->body_limit(server_.opts.max_body_bytes);
    tcp_of(stream_).expires_after(server_.opts.timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&http_session::on_read, this->shared_from_this()));
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
    asio::post(server_.workers, [self = this->shared_from_this(), req, started] {
      auto res = self->server_.process(*req, started);
      asio::post(self->stream_.get_executor(), [self, res] { self->write(res); });
    });
  }

  void write(std::shared_ptr<bhttp::response<bhttp::string_body>> res) {
    res_ = std::move(res);
    tcp_of(stream_).expires_after(server_.opts.timeout);
    bhttp::async_write(stream_, *res_,
                       beast::bind_front_handler(&http_session::on_written,
                                                 this->shared_from_this(), !res_->keep_alive()));
  }

  void on_written(bool last, beast::error_code ec, size_t) {
    if (ec) return close();
    res_.reset();
    if (last || server_.stopped) return finish();
    read();
  }

  /// The server ends the connection: TLS says so first (close_notify), under the deadline.
  void finish() {
    if constexpr (std::is_same_v<Stream, tls_stream>) {
      tcp_of(stream_).expires_after(server_.opts.timeout);
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->close(); });
    } else {
      close();
    }
  }

  void close() {
    beast::error_code ec;
    tcp_of(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
    tcp_of(stream_).socket().close(ec);
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<bhttp::response<bhttp::string_body>> res_;
  http_server::impl& server_;
};

/// On a TLS port: looks at the first bytes of a connection. A TLS handshake goes on to a TLS
/// session; anything else (plain HTTP) gets one 400 in plain text naming the scheme, and the
/// connection is closed, so a client sent to the wrong scheme learns why instead of hanging.
class tls_detector : public std::enable_shared_from_this<tls_detector> {
public:
  tls_detector(tcp::socket socket, http_server::impl& server)
      : stream_(std::move(socket)), server_(server) {}

  void run() {
    stream_.expires_after(server_.opts.timeout);
    beast::async_detect_ssl(
        stream_, buffer_, beast::bind_front_handler(&tls_detector::on_detect, shared_from_this()));
  }

private:
  void on_detect(beast::error_code ec, bool tls) {
    if (ec) return close();
    if (tls) {
      std::make_shared<http_session<tls_stream>>(tls_stream{std::move(stream_), *server_.tls},
                                                 std::move(buffer_), server_)
          ->run();
      return;
    }
    res_ = std::make_shared<bhttp::response<bhttp::string_body>>(bhttp::status::bad_request, 11);
    res_->set(bhttp::field::server, "telosd");
    res_->set(bhttp::field::content_type, "application/json");
    res_->body() = server_error_body(
        "Bad request: this port serves HTTPS (TLS); plain HTTP is refused: use https://", 0);
    res_->keep_alive(false);
    res_->prepare_payload();
    server_.metrics.record("", "plain_http_on_tls", 400, 0);
    bhttp::async_write(stream_, *res_,
                       [self = shared_from_this()](beast::error_code, size_t) { self->close(); });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::shared_ptr<bhttp::response<bhttp::string_body>> res_;
  http_server::impl& server_;
};

} // namespace

void http_server::impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
    if (stopped) return;
    if (!ec) {
      if (tls)
        std::make_shared<tls_detector>(std::move(s), *this)->run();
      else
        std::make_shared<http_session<plain_stream>>(plain_stream{std::move(s)},
                                                     beast::flat_buffer{}, *this)
            ->run();
    }
    accept();
  });
}

expected<std::unique_ptr<http_server>> http_server::start(http_options opts, http_handler handler,
                                                          http_metrics& metrics) {
  auto p = std::make_unique<impl>(std::move(opts), std::move(handler), metrics);
  beast::error_code ec;
  if (p->opts.tls.enabled()) {
    auto ctx = server_tls_context(p->opts.tls);
    if (!ctx) return ctx.error();
    p->tls = std::move(*ctx);
  }
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
