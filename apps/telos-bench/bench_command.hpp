// telos-bench subcommands register themselves here, one file each, so main.cpp never changes.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace telos::bench {

struct command {
  std::string name;
  std::string description;
  /// Adds the command's options to `sub` and returns what to run once parsing succeeded.
  std::function<std::function<int()>(CLI::App& sub)> setup;
};

inline std::vector<command>& commands() {
  static std::vector<command> all;
  return all;
}

struct registrar {
  explicit registrar(command c) { commands().push_back(std::move(c)); }
};

} // namespace telos::bench
