// fuzz_json: the JSON forms of profiles, memories and queries (messages/json.*). Input:
// [selector][text]; selector % 4 picks profile_from_json, memory_from_json, parse_query (both
// against a small profile with one embedder of each kind) or profile::from_json. A parse either
// fails with ec::invalid_argument (whose JSON rendering never throws) or yields a value that prints
// and reads back to the same value.
#include "fuzz_common.hpp"

#include "telos/messages/json.hpp"

#include <cstdint>
#include <string_view>

namespace telos::fuzz {
namespace {

const profile& fuzz_profile() {
  static const profile p = [] {
    profile out;
    out.name = "custom";
    out.embedders = {{"d", embedder_kind::dense, 4, metric::cosine},
                     {"s", embedder_kind::sparse, 100, metric::dot},
                     {"m", embedder_kind::multi, 3, metric::cosine}};
    return out;
  }();
  return p;
}

template <class T>
bool parsed(const expected<T>& x) {
  if (x) return true;
  require(code_of(x.error()) == ec::invalid_argument, "bad JSON is ec::invalid_argument");
  require(!error_to_json(x.error()).empty(), "an error renders as JSON");
  return false;
}

} // namespace
} // namespace telos::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace telos;
  using namespace telos::fuzz;
  if (size == 0) return 0;
  std::string_view text{reinterpret_cast<const char*>(data) + 1, size - 1};
  const auto& p = fuzz_profile();
  switch (data[0] % 4) {
  case 0: {
    auto got = profile_from_json(text);
    if (!parsed(got)) return 0;
    auto again = profile_from_json(to_json(*got));
    require(again && *again == *got, "a profile prints and reads back");
    break;
  }
  case 1: {
    auto got = memory_from_json(text, p);
    if (!parsed(got)) return 0;
    auto again = memory_from_json(to_json(*got, p), p);
    require(again && *again == *got, "a memory prints and reads back");
    // Whatever validation says, it says it without crashing; a valid memory stays valid.
    if (validate(*got, p, limits{}))
      require(static_cast<bool>(validate(*again, p, limits{})), "a valid memory stays valid");
    break;
  }
  case 3: {
    auto got = profile::from_json(text);
    if (!parsed(got)) return 0;
    auto again = profile::from_json(got->to_json());
    require(again && *again == *got, "a profile prints and reads back (profile::to_json)");
    break;
  }
  default: {
    auto got = parse_query(text, p);
    if (!parsed(got)) return 0;
    memory m;
    m.embeddings = *got;
    auto again = parse_query(to_json(m, p), p);
    require(again && *again == *got, "a query prints and reads back");
    break;
  }
  }
  return 0;
}
