// Commands that write and read memories: put, import, get, list.
#include "cli.hpp"

#include <chrono>
#include <fstream>
#include <iostream>
#include <set>

#include <sys/stat.h>

namespace telos::cli {
namespace {

std::function<int()> put_setup(CLI::App& sub, const global_options& globals) {
  auto source = std::make_shared<std::string>("-");
  sub.add_option("FILE", *source, "Memory JSON file, or - for standard input")
      ->capture_default_str();
  return [&globals, source] {
    // Read before opening, so the store is not held while a person types.
    auto text = read_input(*source);
    if (!text) return fail(text.error());
    return with_store(globals, [&](store& db) {
      auto m = memory_from_json(*text, db.profile());
      if (!m) return fail(m.error(), "put");
      complete(*m);
      auto id = db.put(std::move(*m));
      if (!id) return fail(id.error(), "put");
      print({{"id", id->to_string()}});
      return int{exit_ok};
    });
  };
}

registrar put_command{
    {"put", "Insert or replace one memory given as JSON; prints its id", put_setup}};

/// The progress line of an import, drawn on stderr only when it is a terminal.
class progress_bar {
public:
  progress_bar(bool enabled, uint64_t total_bytes) : enabled_(enabled), total_(total_bytes) {}

  void update(uint64_t bytes, uint64_t imported, uint64_t failed) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds{100}) return;
    last_ = now;
    draw(bytes, imported, failed);
  }

  void finish(uint64_t bytes, uint64_t imported, uint64_t failed) {
    if (!enabled_) return;
    draw(bytes, imported, failed);
    std::cerr << '\n';
  }

private:
  void draw(uint64_t bytes, uint64_t imported, uint64_t failed) {
    constexpr int width = 30;
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double fraction = total_ == 0 ? 0.0 : std::min(1.0, static_cast<double>(bytes) / total_);
    int filled = static_cast<int>(fraction * width);
    std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, ' ') << "] "
              << static_cast<int>(fraction * 100) << "% " << imported << " imported, " << failed
              << " failed, " << static_cast<uint64_t>(elapsed > 0 ? imported / elapsed : 0)
              << "/s   " << std::flush;
  }

  bool enabled_;
  uint64_t total_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

/// Imports JSONL: every line is checked on its own first, so one bad memory costs only its own
/// line; the valid ones are written with put_batch, --batch at a time.
class importer {
public:
  importer(store& db, std::string source) : db_(db), source_(std::move(source)) {}

  /// Reports a failed line on stderr.
  void reject(uint64_t line, const std::string& why) {
    ++failed_;
    std::cerr << "telos: import: " << source_ << ":" << line << ": " << why << '\n';
  }

  /// Takes one line; returns a store error that ends the import.
  caf::error add(uint64_t line, std::string_view text, size_t batch_size) {
    auto m = parse_import_line(text, db_.profile(), limits_, now_ms());
    if (!m) {
      reject(line, describe(m.error()));
      return {};
    }
    if (!*m) return {};
    // A batch may not name an id twice; a repeated id starts a new batch, so the later line
    // still wins, as it would with one put per line.
    if (ids_.count((*m)->id) != 0)
      if (auto err = flush()) return err;
    ids_.insert((*m)->id);
    lines_.push_back(line);
    batch_.push_back(std::move(**m));
    if (batch_.size() >= batch_size) return flush();
    return {};
  }

  caf::error flush() {
    if (batch_.empty()) return {};
    auto done = db_.put_batch(batch_);
    if (done) {
      imported_ += batch_.size();
    } else if (code_of(done.error()) == ec::invalid_argument) {
      // Validated above, so this is rare (e.g. a limit of the store differs): find the culprit
      // line by line rather than losing the whole batch.
      for (size_t i = 0; i < batch_.size(); ++i) {
        auto one = db_.put(batch_[i]);
        if (one)
          ++imported_;
        else if (code_of(one.error()) == ec::invalid_argument)
          reject(lines_[i], describe(one.error()));
        else
          return one.error();
      }
    } else {
      return done.error();
    }
    batch_.clear();
    lines_.clear();
    ids_.clear();
    return {};
  }

  uint64_t imported() const { return imported_; }
  uint64_t failed() const { return failed_; }

private:
  store& db_;
  std::string source_;
  telos::limits limits_;
  std::vector<memory> batch_;
  std::vector<uint64_t> lines_;
  std::set<uuid> ids_;
  uint64_t imported_ = 0;
  uint64_t failed_ = 0;
};

std::function<int()> import_setup(CLI::App& sub, const global_options& globals) {
  auto source = std::make_shared<std::string>();
  auto batch = std::make_shared<size_t>(256);
  sub.add_option("FILE", *source, "JSONL file, or - for standard input")->required();
  sub.add_option("--batch", *batch, "Memories per atomic batch")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{100000}));
  auto no_optimize = std::make_shared<bool>(false);
  sub.add_flag("--no-optimize", *no_optimize,
               "Exit as soon as the memories are stored, leaving vectors outside the HNSW graphs "
               "for the next process (or `telos optimize`) to finish");
  return [&globals, source, batch, no_optimize] {
    struct stat st {};
    if (*source != "-" && ::stat(source->c_str(), &st) != 0)
      return fail(exit_bad_input, "cannot read '" + *source + "': no such file");
    // The store is opened before the input, so a long stream from a pipe imports as it comes.
    return with_store(globals, [&](store& db) {
      std::ifstream file;
      if (*source != "-") {
        file.open(*source, std::ios::binary);
        if (!file) return fail(exit_bad_input, "cannot read '" + *source + "'");
      }
      std::istream& in = *source == "-" ? std::cin : file;
      bool regular = *source != "-" && S_ISREG(st.st_mode);
      progress_bar bar{stderr_is_terminal() && regular,
                       static_cast<uint64_t>(regular ? st.st_size : 0)};
      importer run{db, *source};
      std::string text;
      uint64_t line = 0;
      uint64_t bytes = 0;
      while (std::getline(in, text)) {
        ++line;
        bytes += text.size() + 1;
        if (auto err = run.add(line, text, *batch))
          return fail(err, "import stopped at " + *source + ":" + std::to_string(line) + " after " +
                               std::to_string(run.imported()) + " memories");
        bar.update(bytes, run.imported(), run.failed());
      }
      if (auto err = run.flush())
        return fail(err, "import stopped at the end of " + *source + " after " +
                             std::to_string(run.imported()) + " memories");
      bar.finish(bytes, run.imported(), run.failed());
      // Unless told otherwise the graphs are finished before the store closes, so its snapshots
      // hold them and the next search does not pay for them (--no-optimize only reads how many
      // vectors are left outside them).
      auto finished = finish_indexes(db, stderr_is_terminal(), !*no_optimize);
      if (!finished)
        return fail(finished.error(), "import: finishing the indexes after " +
                                          std::to_string(run.imported()) + " memories");
      print({{"imported", run.imported()},
             {"failed", run.failed()},
             {"fresh", finished->fresh_after}});
      return run.failed() == 0 ? int{exit_ok} : int{exit_bad_input};
    });
  };
}

registrar import_command{
    {"import", "Insert or replace many memories from JSONL (one memory per line)", import_setup}};

std::function<int()> get_setup(CLI::App& sub, const global_options& globals) {
  auto id_text = std::make_shared<std::string>();
  sub.add_option("ID", *id_text, "Memory id")->required();
  return [&globals, id_text] {
    auto id = uuid::parse(*id_text);
    if (!id) return fail(id.error());
    return with_store(globals, [&](store& db) {
      auto m = db.get(*id);
      if (!m) return fail(m.error(), "get " + *id_text);
      if (!*m) return fail(exit_not_found, "no memory with id " + id->to_string());
      print(to_json_value(**m, db.profile()));
      return int{exit_ok};
    });
  };
}

registrar get_command{{"get", "Print one memory as JSON", get_setup}};

std::function<int()> list_setup(CLI::App& sub, const global_options& globals) {
  struct options {
    filter_options filter;
    size_t limit = 100;
    std::string after;
    bool embeddings = false;
  };
  auto o = std::make_shared<options>();
  o->filter.add_to(sub, false);
  sub.add_option("--limit", o->limit, "Memories per page")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{100000}));
  sub.add_option("--after", o->after, "Continue after this id (next_after of the last page)");
  sub.add_flag("--embeddings", o->embeddings, "Include the embeddings");
  return [&globals, o] {
    std::optional<uuid> after;
    if (!o->after.empty()) {
      auto parsed = uuid::parse(o->after);
      if (!parsed) return fail(parsed.error());
      after = *parsed;
    }
    auto f = o->filter.build();
    if (!f) return fail(f.error());
    return with_store(globals, [&](store& db) {
      auto page = o->filter.beyond_namespace() ? db.list_matching(*f, o->limit, after)
                                               : db.list(o->filter.ns, o->limit, after);
      if (!page) return fail(page.error(), "list");
      json_value items = json_value::array();
      for (auto& m : page->items)
        items.push_back(to_json_value(m, db.profile(), o->embeddings));
      json_value next = nullptr;
      if (page->next_after) next = page->next_after->to_string();
      print({{"memories", std::move(items)}, {"next_after", std::move(next)}});
      return int{exit_ok};
    });
  };
}

registrar list_command{{"list", "List memories in id order, a page at a time", list_setup}};

} // namespace
} // namespace telos::cli
