// Test hooks (see test_hooks.hpp).
#include "telos/actors/test_hooks.hpp"

#include "telos/storage/fault_injection.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

namespace telos::detail {

void crash_point(const char* point) {
  auto* wanted = std::getenv("TELOS_TEST_CRASH");
  if (wanted != nullptr && std::strcmp(wanted, point) == 0) ::kill(::getpid(), SIGKILL);
}

void pause_point(const char* point) {
  static std::atomic<bool> paused{false};
  auto* wanted = std::getenv("TELOS_TEST_PAUSE");
  if (wanted == nullptr) return;
  std::string spec = wanted;
  auto colon = spec.find(':');
  if (colon == std::string::npos || spec.substr(0, colon) != point || paused.exchange(true)) return;
  auto dir = spec.substr(colon + 1);
  char byte = '1';
  if (auto fd = ::open((dir + "/reached").c_str(), O_WRONLY | O_CLOEXEC); fd >= 0) {
    (void)!::write(fd, &byte, 1);
    ::close(fd);
  }
  if (auto fd = ::open((dir + "/resume").c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    (void)!::read(fd, &byte, 1);
    ::close(fd);
  }
}

bool fail_point(const char* point) {
  static std::atomic<bool> fired{false};
  auto* wanted = std::getenv("TELOS_TEST_FAIL");
  return wanted != nullptr && std::strcmp(wanted, point) == 0 && !fired.exchange(true);
}

void test_faults_from_environment(char** argv) {
  const char* control = std::getenv("TELOS_TEST_FAULT_FILE");
  if (control == nullptr || *control == '\0') return;
  if (!storage::posix_faults_loaded() && std::getenv("TELOS_TEST_FAULTS_PRELOADED") == nullptr) {
    auto preload = storage::posix_fault_preload_path();
    if (::access(preload.c_str(), R_OK) == 0) {
      ::setenv("LD_PRELOAD", storage::posix_fault_preload_list().c_str(), 1);
      ::setenv("TELOS_TEST_FAULTS_PRELOADED", "1", 1);
      ::execv("/proc/self/exe", argv);
      std::cerr << "TELOS_TEST_FAULT_FILE: cannot start again with " << preload << ": "
                << std::strerror(errno) << '\n';
      std::_Exit(2);
    }
  }
  auto injector = std::make_shared<storage::fault_injector>(1);
  injector->arm_from_file(control);
  storage::install_fault_injector(injector);
  // LMDB's calls too, when the preload library is there (RocksDB needs nothing more).
  if (storage::posix_faults_loaded())
    if (auto enabled = storage::enable_posix_faults(); !enabled) {
      std::cerr << "TELOS_TEST_FAULT_FILE: " << describe(enabled.error()) << '\n';
      std::_Exit(2);
    }
}

} // namespace telos::detail
