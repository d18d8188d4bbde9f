// Shared test data for the data-model suite: a small profile covering every kind and metric,
// and valid memories for it and for teleo13.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/messages/memory.hpp"
#include "telos/messages/profile.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

namespace telos::test {

/// d: dense 4 cosine, l: dense 3 l2, s: sparse vocabulary 100, m: multi 2-d tokens.
inline profile small_profile() {
  return profile{"custom",
                 {{"d", embedder_kind::dense, 4, metric::cosine},
                  {"l", embedder_kind::dense, 3, metric::l2},
                  {"s", embedder_kind::sparse, 100, metric::cosine},
                  {"m", embedder_kind::multi, 2, metric::cosine}}};
}

inline memory small_memory() {
  memory m;
  m.id = *uuid::parse("0123abcd-4567-89ab-cdef-0123456789ab");
  m.ns = "notes";
  m.content = "Grüße, 世界";
  m.attributes = {{"lang", "de"}, {"topic", "greeting"}};
  m.created_at = 1700000000000;
  m.updated_at = 1700000000500;
  m.embeddings["d"] = embedding::dense({0.1f, -0.25f, 3.5f, 1e-7f});
  m.embeddings["l"] = embedding::dense({0.0f, 0.0f, 0.0f});
  m.embeddings["s"] = embedding::sparse({3, 17, 99}, {0.5f, 0.2f, 1.25f});
  m.embeddings["m"] = embedding::dense({1.0f, 2.0f, 3.0f, 4.0f, -5.5f, 6.0f});
  return m;
}

/// A valid teleo13 memory whose values follow a simple deterministic pattern.
inline memory teleo13_memory() {
  memory m;
  m.id = *uuid::parse("ffeeddcc-bbaa-4988-b766-554433221100");
  m.content = "teleo13";
  for (const auto& spec : profile::teleo13().embedders) {
    embedding e;
    switch (spec.kind) {
    case embedder_kind::dense:
      for (uint32_t i = 0; i < spec.dim; ++i)
        e.values.push_back(static_cast<float>(i % 7) - 3.0f);
      break;
    case embedder_kind::sparse:
      for (uint32_t i = 0; i < 50; ++i) {
        e.indices.push_back(i * 600);
        e.values.push_back(0.01f * static_cast<float>(i + 1));
      }
      break;
    case embedder_kind::multi:
      for (uint32_t i = 0; i < 5 * spec.dim; ++i)
        e.values.push_back(static_cast<float>(i % 5) + 0.5f);
      break;
    }
    m.embeddings[spec.name] = std::move(e);
  }
  return m;
}

/// The error text of a failed result, for test messages (Boost builds the message even when the
/// check passes, and error() of a successful expected is undefined).
template <class Expected>
std::string why(const Expected& result) {
  return result ? std::string{"no error"} : describe(result.error());
}

/// Checks that a result failed with ec::invalid_argument and exactly this context text.
template <class Expected>
void check_invalid(const Expected& result, const std::string& text) {
  BOOST_REQUIRE_MESSAGE(!result, "expected an error: " + text);
  BOOST_CHECK_MESSAGE(code_of(result.error()) == ec::invalid_argument, describe(result.error()));
  BOOST_CHECK_EQUAL(describe(result.error()), "invalid_argument: " + text);
}

} // namespace telos::test
