// telos-bench: reproducible benchmarks, each a subcommand that reports ratios against a baseline
// measured in the same process.
#include "bench_command.hpp"
#include "telos/storage/huge_pages.hpp"

#include <iostream>
#include <memory>

int main(int argc, char** argv) {
  // First, before any thread: glibc's heap on huge pages (storage/huge_pages.hpp).
  telos::storage::restart_with_huge_pages(argv);
  CLI::App app{"telos-bench: Telos benchmarks (ratios against baselines measured in the same run)"};
  app.require_subcommand(1);
  std::function<int()> run;
  for (auto& cmd : telos::bench::commands()) {
    auto* sub = app.add_subcommand(cmd.name, cmd.description);
    auto action = std::make_shared<std::function<int()>>(cmd.setup(*sub));
    sub->callback([action, &run] { run = *action; });
  }
  CLI11_PARSE(app, argc, argv);
  return run ? run() : 1;
}
