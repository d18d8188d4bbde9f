// Restarting a program with glibc's malloc on transparent huge pages (huge_pages.hpp).
#include "telos/storage/huge_pages.hpp"

#include <cstdlib>
#include <cstring>

#include <unistd.h>

namespace telos::storage {

namespace {

constexpr const char* hugetlb_tunable = "glibc.malloc.hugetlb";

} // namespace

std::optional<std::string> huge_page_tunables(const char* tunables, const char* setting) {
  if (setting == nullptr || std::strcmp(setting, "1") != 0) return std::nullopt;
  std::string current = tunables != nullptr ? tunables : "";
  if (current.find(hugetlb_tunable) != std::string::npos) return std::nullopt;
  std::string wanted = std::string{hugetlb_tunable} + "=1";
  return current.empty() ? wanted : current + ":" + wanted;
}

void restart_with_huge_pages(char** argv) {
#if defined(__linux__) && defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) &&                  \
    !defined(__SANITIZE_THREAD__)
  if (argv == nullptr || argv[0] == nullptr) return;
  auto tunables =
      huge_page_tunables(std::getenv("GLIBC_TUNABLES"), std::getenv("TELOS_HUGE_PAGES"));
  if (!tunables) return;
  if (::setenv("GLIBC_TUNABLES", tunables->c_str(), 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // The restart failed (no /proc, say): go on as we are; the variable stays set, so programs
  // this one starts get it.
#else
  static_cast<void>(argv);
#endif
}

} // namespace telos::storage
