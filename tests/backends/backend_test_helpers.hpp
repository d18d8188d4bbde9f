// Small helpers for the backend tests: error codes and backend kinds as text (so Boost.Test prints
// them) and fresh temporary store directories.
#pragma once

#include "telos/messages/error.hpp"
#include "telos/storage/backend.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <filesystem>
#include <ostream>
#include <string>
#include <unistd.h>

namespace telos::test {

/// The code name of the error held by `result` ("none" if it holds a value).
template <class T>
std::string code(const expected<T>& result) {
  return result ? "none" : to_string(code_of(result.error()));
}

inline std::string code(const caf::error& err) {
  return to_string(code_of(err));
}

/// A directory name under the system temp dir that does not exist yet; removed on destruction.
class temp_dir {
public:
  temp_dir() {
    static std::atomic<int> counter{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("telos-backends-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
                .string();
    std::filesystem::remove_all(path_);
  }
  ~temp_dir() {
    std::error_code err;
    std::filesystem::remove_all(path_, err);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

} // namespace telos::test

/// Boost.Test prints a backend kind (a data-test parameter, a compared value) by its name.
namespace boost::test_tools::tt_detail {
template <>
struct print_log_value<telos::storage::backend_kind> {
  void operator()(std::ostream& os, telos::storage::backend_kind kind) { os << to_string(kind); }
};
} // namespace boost::test_tools::tt_detail
