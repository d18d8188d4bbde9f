// Runs the real telos and telos-stress binaries from the tests: paths come from the command line
// after "--" (see suite.cmake), output is captured in files so no pipe can fill up and block.
#pragma once

#include <chrono>
#include <string>
#include <thread>
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
/// `env` adds environment assignments ("NAME=value") for the child.
pid_t start(const std::string& binary, const std::vector<std::string>& args,
            const std::string& out_file, const std::string& err_file,
            const std::vector<std::string>& env = {});
/// Waits for a started process; returns its exit code (or 128 + signal).
int wait_for(pid_t pid);
/// True while a started process runs (it has not exited); leaves it to wait_for.
bool running(pid_t pid);

/// Polls `done` up to `tries` times, `step` apart; true as soon as it holds.
template <class F>
bool eventually(F done, int tries = 600,
                std::chrono::milliseconds step = std::chrono::milliseconds(50)) {
  for (int i = 0; i < tries; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(step);
  }
  return false;
}

/// A long-running child a test owns (a server, a writer in the background): started like
/// start(), its output in files; ended with SIGTERM (and SIGCONT, in case a test stopped it) and
/// waited for when the object dies, unless a test ended it first.
class child {
public:
  child(const std::string& binary, const std::vector<std::string>& args, std::string out_file,
        std::string err_file, const std::vector<std::string>& env = {});
  ~child();
  child(child&& other) noexcept;
  child& operator=(child&&) = delete;
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& out_file() const { return out_file_; }
  const std::string& err_file() const { return err_file_; }
  /// True while it runs.
  bool running() const;
  /// Sends `signal`.
  void signal(int signal) const;
  /// Sends `signal` and waits for the end; the exit code (or 128 + signal).
  int stop(int signal);
  /// Waits for the end (a child that dies by itself); the exit code (or 128 + signal).
  int wait();
  /// The first line it wrote to standard output, waiting up to `timeout`; empty if none came.
  std::string first_line(std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

private:
  pid_t pid_ = -1;
  std::string out_file_;
  std::string err_file_;
};

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
