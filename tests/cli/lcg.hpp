// A deterministic generator of test data, shared by the CLI and cluster suites (no std
// distributions: those differ between standard libraries).
#pragma once

#include <cstdint>

namespace telos::test {

struct lcg {
  uint64_t state;
  uint64_t next() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  }
  float uniform() { return static_cast<float>(next() % 2000001) / 1000000.0f - 1.0f; }
};

} // namespace telos::test
