// Runs the real telos and telos-stress binaries from the tests: paths come from the command line
// after "--" (see suite.cmake), output is captured in files so no pipe can fill up and block.
#pragma once

#include <string>
#include <vector>

#include <sys/types.h>

namespace telos::test {

struct run_result {
  int code = -1;
  std::string out;
  std::string err;
};

/// The path of the telos binary (first argument after "--").
const std::string& telos_binary();
/// The path of the telos-stress binary (second argument after "--").
const std::string& stress_binary();

/// Runs `binary args...` with `input` on standard input; waits for it to end.
run_result run(const std::string& binary, const std::vector<std::string>& args,
               const std::string& input = {});

/// Starts `binary args...` without waiting; standard output and error go to the given files.
pid_t start(const std::string& binary, const std::vector<std::string>& args,
            const std::string& out_file, const std::string& err_file);
/// Waits for a started process; returns its exit code (or 128 + signal).
int wait_for(pid_t pid);

/// A fresh temporary directory, removed with everything in it when the object dies.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);
bool exists(const std::string& path);

} // namespace telos::test
