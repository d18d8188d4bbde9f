// Fan-out-and-gather for CAF 0.17, which has no fan_out_request: send n requests, collect the
// answers in request order, and continue once the last arrived (or with the first error).
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace telos {

namespace detail {

template <class T>
struct gathering {
  std::vector<T> results;
  size_t pending = 0;
  caf::error error;
};

} // namespace detail

/// Calls send(i) for i in [0, n), each returning a response handle of a request answering T, and
/// then done(caf::expected<std::vector<T>>) once: with the answers in order, or with the first
/// error after every answer arrived (so nothing is still running when done runs).
template <class T, class Send, class Done>
void gather(size_t n, Send send, Done done) {
  if (n == 0) {
    done(caf::expected<std::vector<T>>{std::vector<T>{}});
    return;
  }
  auto g = std::make_shared<detail::gathering<T>>();
  g->results.resize(n);
  g->pending = n;
  auto finish = std::make_shared<Done>(std::move(done));
  for (size_t i = 0; i < n; ++i) {
    send(i).then(
        [g, i, finish](T& x) {
          g->results[i] = std::move(x);
          if (--g->pending == 0) {
            if (g->error)
              (*finish)(caf::expected<std::vector<T>>{std::move(g->error)});
            else
              (*finish)(caf::expected<std::vector<T>>{std::move(g->results)});
          }
        },
        [g, finish](caf::error& err) {
          if (!g->error) g->error = std::move(err);
          if (--g->pending == 0) (*finish)(caf::expected<std::vector<T>>{std::move(g->error)});
        });
  }
}

} // namespace telos
