// fuzz_import_line: the lines of `telos import` (messages/import_line.*). The input is a JSONL
// file, split into lines as the CLI splits it; every line is blank, a completed valid memory, or
// ec::invalid_argument. Memories are read against a small profile with one embedder per kind.
#include "fuzz_common.hpp"

#include "telos/messages/import_line.hpp"

#include <cstdint>
#include <string_view>

namespace telos::fuzz {
namespace {

const profile& import_profile() {
  static const profile p = [] {
    profile out;
    out.name = "custom";
    out.embedders = {{"d", embedder_kind::dense, 4, metric::l2},
                     {"s", embedder_kind::sparse, 100, metric::dot},
                     {"m", embedder_kind::multi, 3, metric::cosine}};
    return out;
  }();
  return p;
}

constexpr int64_t fuzz_now = 1700000000000;

} // namespace
} // namespace telos::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace telos;
  using namespace telos::fuzz;
  std::string_view input{reinterpret_cast<const char*>(data), size};
  limits lim;
  // Small limits, so that the fuzzer reaches them with small inputs.
  lim.max_content_bytes = 64;
  lim.max_attributes = 4;
  lim.max_attribute_value_bytes = 16;
  lim.max_tokens = 4;
  lim.max_sparse_entries = 8;
  while (!input.empty()) {
    auto end = input.find('\n');
    auto line = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view{} : input.substr(end + 1);
    auto got = parse_import_line(line, import_profile(), lim, fuzz_now);
    if (!got) {
      require(code_of(got.error()) == ec::invalid_argument, "a bad line is invalid_argument");
      continue;
    }
    if (!*got) {
      require(line.find_first_not_of(" \t\r") == std::string_view::npos, "only blank is blank");
      continue;
    }
    const auto& m = **got;
    require(!m.id.is_nil() && m.created_at != 0 && m.updated_at != 0, "a line is completed");
    require(static_cast<bool>(validate(m, import_profile(), lim)), "an imported memory is valid");
  }
  return 0;
}
