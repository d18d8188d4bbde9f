// Test hooks (see test_hooks.hpp).
#include "telos/actors/test_hooks.hpp"

#include <csignal>
#include <cstdlib>
#include <cstring>

#include <signal.h>
#include <unistd.h>

namespace telos::detail {

void crash_point(const char* point) {
  auto* wanted = std::getenv("TELOS_TEST_CRASH");
  if (wanted != nullptr && std::strcmp(wanted, point) == 0) ::kill(::getpid(), SIGKILL);
}

} // namespace telos::detail
