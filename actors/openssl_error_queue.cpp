// Works around a bug of caf_openssl 0.17: after a failed TLS handshake (a port scanner, a peer
// without a certificate) it leaves OpenSSL's thread-local error queue filled, and the next
// SSL_get_error of any other session on the multiplexer thread reports that stale error, so CAF
// drops healthy connections (a coordinator loses every shard link of a node whenever someone
// knocks on the node's port). OpenSSL requires an empty queue before each I/O call; these
// definitions interpose the four calls caf_openssl makes (the executable's symbols come first in
// the dynamic linker's lookup) and clear the queue before calling the real function.
#include <dlfcn.h>

struct ssl_st;

namespace telos::detail {

/// Referenced from configure_network so the linker keeps this object in every executable that
/// uses the network.
void keep_openssl_error_queue_guard() {}

namespace {

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

void clear_error_queue() {
  using clear_fn = void (*)();
  static auto clear = reinterpret_cast<clear_fn>(::dlsym(RTLD_DEFAULT, "ERR_clear_error"));
  if (clear != nullptr) clear();
}

} // namespace

} // namespace telos::detail

extern "C" {

int SSL_read(ssl_st* ssl, void* buf, int num) {
  static auto f = telos::detail::real<int (*)(ssl_st*, void*, int)>("SSL_read");
  telos::detail::clear_error_queue();
  return f(ssl, buf, num);
}

int SSL_write(ssl_st* ssl, const void* buf, int num) {
  static auto f = telos::detail::real<int (*)(ssl_st*, const void*, int)>("SSL_write");
  telos::detail::clear_error_queue();
  return f(ssl, buf, num);
}

int SSL_accept(ssl_st* ssl) {
  static auto f = telos::detail::real<int (*)(ssl_st*)>("SSL_accept");
  telos::detail::clear_error_queue();
  return f(ssl);
}

int SSL_connect(ssl_st* ssl) {
  static auto f = telos::detail::real<int (*)(ssl_st*)>("SSL_connect");
  telos::detail::clear_error_queue();
  return f(ssl);
}

} // extern "C"
