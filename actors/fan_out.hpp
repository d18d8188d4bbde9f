// Fan-out-and-gather for CAF 0.17, which has no fan_out_request: start n members (requests or
// other asynchronous steps), collect their answers in member order, and continue once the last
// arrived: with every member's answer or error (gather_all), or with the first error (gather).
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
struct collecting {
  std::vector<caf::expected<T>> answers;
  size_t pending = 0;
};

} // namespace detail

/// Calls start(i, reply) for i in [0, n); each member calls reply(caf::expected<T>) exactly once.
/// Once every member replied, done(std::vector<caf::expected<T>>) runs once, answers in member
/// order (so nothing is still running when done runs).
template <class T, class Start, class Done>
void await_all(size_t n, Start start, Done done) {
  if (n == 0) {
    done(std::vector<caf::expected<T>>{});
    return;
  }
  auto c = std::make_shared<detail::collecting<T>>();
  c->answers.resize(n, caf::expected<T>{caf::error{}});
  c->pending = n;
  auto finish = std::make_shared<Done>(std::move(done));
  for (size_t i = 0; i < n; ++i)
    start(i, [c, i, finish](caf::expected<T> x) {
      c->answers[i] = std::move(x);
      if (--c->pending == 0) (*finish)(std::move(c->answers));
    });
}

/// Calls send(i) for i in [0, n), each returning a response handle of a request answering T, and
/// then done(std::vector<caf::expected<T>>) once, with every member's answer or error in order.
template <class T, class Send, class Done>
void gather_all(size_t n, Send send, Done done) {
  await_all<T>(
      n,
      [send](size_t i, auto reply) mutable {
        send(i).then([reply](T& x) mutable { reply(std::move(x)); },
                     [reply](caf::error& err) mutable { reply(std::move(err)); });
      },
      std::move(done));
}

/// The answers in order, or the first error among them.
template <class T>
caf::expected<std::vector<T>> first_error_or_values(std::vector<caf::expected<T>> answers) {
  std::vector<T> values;
  values.reserve(answers.size());
  for (auto& x : answers) {
    if (!x) return std::move(x.error());
    values.push_back(std::move(*x));
  }
  return values;
}

/// As gather_all, but done(caf::expected<std::vector<T>>) gets the answers in order, or the first
/// error (in member order) after every answer arrived.
template <class T, class Send, class Done>
void gather(size_t n, Send send, Done done) {
  gather_all<T>(n, std::move(send),
                [done = std::move(done)](std::vector<caf::expected<T>> xs) mutable {
                  done(first_error_or_values(std::move(xs)));
                });
}

} // namespace telos
