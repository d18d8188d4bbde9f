// Process and file helpers of the CLI end-to-end tests.
#include "process.hpp"

#include <boost/test/unit_test.hpp>

#include <climits>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace telos::test {

namespace {

const std::string& argument(int index) {
  static std::vector<std::string> args = [] {
    std::vector<std::string> result;
    auto& suite = boost::unit_test::framework::master_test_suite();
    // Absolute paths, so a test may change its working directory.
    for (int i = 1; i < suite.argc; ++i) {
      char resolved[PATH_MAX];
      result.emplace_back(::realpath(suite.argv[i], resolved) != nullptr ? resolved
                                                                         : suite.argv[i]);
    }
    return result;
  }();
  if (static_cast<size_t>(index) >= args.size())
    throw std::runtime_error("pass the telos and telos-stress binaries after --");
  return args[static_cast<size_t>(index)];
}

std::vector<char*> argv_of(const std::string& binary, std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

pid_t spawn(const std::string& binary, std::vector<std::string> args, const std::string& in_file,
            const std::string& out_file, const std::string& err_file,
            std::vector<std::string> env = {}) {
  auto argv = argv_of(binary, args);
  auto pid = ::fork();
  if (pid == 0) {
    for (auto& assignment : env)
      ::putenv(assignment.data());
    int in = ::open(in_file.empty() ? "/dev/null" : in_file.c_str(), O_RDONLY);
    int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) ::_exit(127);
    ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

} // namespace

const std::string& telos_binary() {
  return argument(0);
}

const std::string& stress_binary() {
  return argument(1);
}

run_result run(const std::string& binary, const std::vector<std::string>& args,
               const std::string& input) {
  temp_dir io;
  write_file(io / "in", input);
  auto pid = spawn(binary, args, io / "in", io / "out", io / "err");
  run_result result;
  result.code = wait_for(pid);
  result.out = read_file(io / "out");
  result.err = read_file(io / "err");
  return result;
}

pid_t start(const std::string& binary, const std::vector<std::string>& args,
            const std::string& out_file, const std::string& err_file,
            const std::vector<std::string>& env) {
  return spawn(binary, args, {}, out_file, err_file, env);
}

bool running(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == 0;
}

child::child(const std::string& binary, const std::vector<std::string>& args, std::string out_file,
             std::string err_file, const std::vector<std::string>& env)
    : pid_(start(binary, args, out_file, err_file, env)), out_file_(std::move(out_file)),
      err_file_(std::move(err_file)) {}

child::child(child&& other) noexcept
    : pid_(other.pid_), out_file_(std::move(other.out_file_)),
      err_file_(std::move(other.err_file_)) {
  other.pid_ = -1;
}

child::~child() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::kill(pid_, SIGCONT); // a stopped child must run to see the SIGTERM
  wait_for(pid_);
}

bool child::running() const {
  return pid_ > 0 && telos::test::running(pid_);
}

void child::signal(int signal) const {
  if (pid_ > 0) ::kill(pid_, signal);
}

int child::stop(int signal) {
  this->signal(signal);
  if (signal != SIGCONT && signal != SIGKILL) ::kill(pid_, SIGCONT);
  return wait();
}

int child::wait() {
  if (pid_ <= 0) return -1;
  auto code = wait_for(pid_);
  pid_ = -1;
  return code;
}

std::string child::first_line(std::chrono::milliseconds timeout) const {
  std::string line;
  eventually(
      [&] {
        auto text = read_file(out_file_);
        auto end = text.find('\n');
        if (end == std::string::npos) return false;
        line = text.substr(0, end);
        return true;
      },
      static_cast<int>(timeout / std::chrono::milliseconds(20)), std::chrono::milliseconds(20));
  return line;
}

int wait_for(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

temp_dir::temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string{base != nullptr && *base != '\0' ? base : "/tmp"} + "/telos-cli-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("cannot create a temporary directory");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  ::nftw(
      path_.c_str(),
      [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << text;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

} // namespace telos::test
