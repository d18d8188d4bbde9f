// telos: the command-line client of a Telos store. JSON in, JSON out; see docs/CLI.md.
#include "cli.hpp"
#include "telos/storage/huge_pages.hpp"

#include <iostream>
#include <memory>

int main(int argc, char** argv) {
  // First, before any thread: glibc's heap on huge pages (storage/huge_pages.hpp).
  telos::storage::restart_with_huge_pages(argv);
  using namespace telos::cli;
  CLI::App app{"telos: store, fetch and search memories with many embeddings (JSON in and out)"};
  app.require_subcommand(1);
  global_options globals;
  app.add_option("--data-dir", globals.data_dir, "Store directory")->capture_default_str();
  app.add_option("--backend", globals.backend,
                 "rocksdb | lmdb | memory (default: the store's own, rocksdb for a new store)")
      ->check(CLI::IsMember({"rocksdb", "lmdb", "memory"}));
  app.add_option("--connect", globals.connect,
                 "HOST:PORT of a cluster's coordinator node (telosd --coordinator) instead of "
                 "--data-dir");
  app.add_option("--tls-cert", globals.tls.certificate, "With --connect: PEM client certificate");
  app.add_option("--tls-key", globals.tls.key, "With --connect: PEM key of the certificate");
  app.add_option("--tls-ca", globals.tls.cafile, "With --connect: PEM certificate of the CA");
  app.add_option("--hnsw-threshold", globals.hnsw_threshold,
                 "Vectors per dense index before it builds an HNSW graph (default: the engine's, "
                 "20000)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 40));
  app.add_flag("--no-sync", globals.no_sync,
               "Acknowledge writes once they are in the OS page cache instead of fsynced (faster "
               "for few small writes; a power loss can take the last ones)");
  std::function<int()> run;
  for (auto& cmd : commands()) {
    auto* sub = app.add_subcommand(cmd.name, cmd.description);
    auto action = std::make_shared<std::function<int()>>(cmd.setup(*sub, globals));
    sub->callback([action, &run] { run = *action; });
  }
  // CLI11 would only say "a subcommand is required"; name the word it did not know instead.
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word == "--data-dir" || word == "--backend" || word == "--connect" ||
        word == "--tls-cert" || word == "--tls-key" || word == "--tls-ca" ||
        word == "--hnsw-threshold") {
      ++i;
      continue;
    }
    if (word.empty() || word[0] == '-') continue;
    bool known = false;
    std::string names;
    for (auto& cmd : commands()) {
      known = known || cmd.name == word;
      names += (names.empty() ? "" : ", ") + cmd.name;
    }
    if (!known)
      return fail(exit_bad_input, "unknown command '" + word + "' (commands: " + names + ")");
    break;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors are bad input like any other: same exit code, same JSON shape.
    return fail(exit_bad_input, e.what());
  }
  return run ? run() : fail(exit_bad_input, "no command given (see telos --help)");
}
