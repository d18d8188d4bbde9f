// Summary table, JSON report and plot of a telos-stress run.
#include "report.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

namespace telos::stress {

namespace {

using json = nlohmann::ordered_json;

double ms(uint32_t us) {
  return us / 1000.0;
}

std::string one_decimal(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", x);
  return buf;
}

json config_json(const config& cfg, const telos::profile& p) {
  return {{"backend", cfg.backend},
          {"profile", p.name},
          {"embedders", p.embedders.size()},
          {"memories", cfg.memories},
          {"duration_s", cfg.duration},
          {"writers", cfg.writers},
          {"readers", cfg.readers},
          {"seed", cfg.seed},
          {"sync", cfg.sync},
          {"shards", cfg.shards},
          {"max_batch", cfg.max_batch},
          {"max_inflight_writes", cfg.max_inflight_writes},
          {"vector_storage", cfg.vector_storage}};
}

std::string svg_polyline(const std::vector<second>& t, double max_y, bool log_scale,
                         double (*value)(const second&), const char* colour) {
  std::ostringstream out;
  out << "<polyline fill='none' stroke='" << colour << "' stroke-width='1.5' points='";
  auto max_x = t.empty() ? 1.0 : static_cast<double>(t.back().t + 1);
  for (auto& s : t) {
    auto v = value(s);
    double y = log_scale ? (v <= 0.01 ? 0.0 : std::log10(v / 0.01) / std::log10(max_y / 0.01))
                         : (max_y <= 0 ? 0.0 : v / max_y);
    out << 50 + 900.0 * s.t / max_x << ',' << 330 - 300.0 * std::min(1.0, std::max(0.0, y)) << ' ';
  }
  out << "'/>\n";
  return out.str();
}

} // namespace

std::string write_plot(const std::string& path, const std::vector<second>& timeline,
                       const std::string& title) {
  bool html = path.size() >= 5 && path.compare(path.size() - 5, 5, ".html") == 0;
  if (html) {
    std::ofstream out{path};
    if (!out) return "cannot write " + path;
    double max_rate = 1;
    double max_ms = 1;
    for (auto& s : timeline) {
      max_rate = std::max<double>(max_rate, std::max(s.writes, s.reads));
      max_ms = std::max({max_ms, ms(s.write_p99_us), ms(s.read_p99_us)});
    }
    out << "<!doctype html><html><head><meta charset='utf-8'><title>" << title
        << "</title></head><body style='font-family:sans-serif'>\n<h2>" << title << "</h2>\n"
        << "<h3>operations per second (max " << max_rate
        << "): <span style='color:#c00'>writes</span>, <span style='color:#06c'>reads</span></h3>"
        << "<svg width='1000' height='350' style='border:1px solid #ccc'>\n"
        << svg_polyline(
               timeline, max_rate, false, [](const second& s) { return double(s.writes); }, "#c00")
        << svg_polyline(
               timeline, max_rate, false, [](const second& s) { return double(s.reads); }, "#06c")
        << "</svg>\n<h3>latency, ms, log scale 0.01 .. " << max_ms
        << ": <span style='color:#c00'>write p50</span>, <span style='color:#f80'>write "
           "p99</span>, <span style='color:#06c'>read p50</span>, <span "
           "style='color:#0a8'>read p99</span></h3>"
        << "<svg width='1000' height='350' style='border:1px solid #ccc'>\n"
        << svg_polyline(
               timeline, max_ms, true, [](const second& s) { return ms(s.write_p50_us); }, "#c00")
        << svg_polyline(
               timeline, max_ms, true, [](const second& s) { return ms(s.write_p99_us); }, "#f80")
        << svg_polyline(
               timeline, max_ms, true, [](const second& s) { return ms(s.read_p50_us); }, "#06c")
        << svg_polyline(
               timeline, max_ms, true, [](const second& s) { return ms(s.read_p99_us); }, "#0a8")
        << "</svg>\n<p>x axis: seconds since the start of the load (0 .. "
        << (timeline.empty() ? 0 : timeline.back().t + 1) << ")</p></body></html>\n";
    return out ? std::string{} : "cannot write " + path;
  }
  auto* gp = ::popen("gnuplot", "w");
  if (gp == nullptr) return "cannot run gnuplot (install gnuplot-nox, or use --plot FILE.html)";
  std::ostringstream script;
  script << "set terminal pngcairo size 1200,800 noenhanced\nset output '" << path << "'\n"
         << "$d << EOD\n";
  for (auto& s : timeline)
    script << s.t << ' ' << s.writes << ' ' << s.reads << ' ' << ms(s.write_p50_us) << ' '
           << ms(s.write_p99_us) << ' ' << ms(s.read_p50_us) << ' ' << ms(s.read_p99_us) << '\n';
  script << "EOD\nset multiplot layout 2,1 title '" << title << "'\nset grid\n"
         << "set xlabel 'seconds'\nset ylabel 'operations/s'\n"
         << "plot $d using 1:2 with lines lw 2 title 'writes/s', $d using 1:3 with lines lw 2 "
            "title 'reads/s'\n"
         << "set ylabel 'latency, ms'\nset logscale y\n"
         << "plot $d using 1:($4>0?$4:NaN) with lines lw 2 title 'write p50', $d using "
            "1:($5>0?$5:NaN) with lines lw 2 title 'write p99', $d using 1:($6>0?$6:NaN) with "
            "lines lw 2 title 'read p50', $d using 1:($7>0?$7:NaN) with lines lw 2 title 'read "
            "p99'\nunset multiplot\n";
  auto text = script.str();
  auto written = std::fwrite(text.data(), 1, text.size(), gp);
  auto status = ::pclose(gp);
  if (written != text.size() || status != 0) return "gnuplot failed to write " + path;
  return {};
}

bool finish_report(const run_report& rep) {
  const auto& cfg = rep.cfg;
  auto ops = summarize(rep.samples);
  auto timeline_data = timeline(rep.samples);
  // The last second is cut short by the end of the load; as a rate it would read as a collapse.
  while (!timeline_data.empty() && timeline_data.back().t + 1 > rep.load_s)
    timeline_data.pop_back();
  uint64_t writes = 0;
  uint64_t reads = 0;
  uint64_t memories = 0;
  uint64_t errors = 0;
  uint64_t overloaded = 0;
  for (size_t i = 0; i < op_types; ++i) {
    // Pushed-back writes are sent again: they count as push-back, not as writes done.
    (is_write(static_cast<op_type>(i)) ? writes : reads) += ops[i].ops - ops[i].overloaded;
    memories += ops[i].memories;
    errors += ops[i].errors;
    overloaded += ops[i].overloaded;
  }
  auto secs = rep.load_s > 0 ? rep.load_s : 1;
  uint64_t overloaded_peak = 0;
  for (auto& t : timeline_data)
    overloaded_peak = std::max(overloaded_peak, t.overloaded);
  auto peak_rss_mib = static_cast<double>(rep.peak_rss_kib) / 1024.0;
  // The bounds asked for on the command line.
  auto problems = rep.problems;
  if (cfg.require_push_back && overloaded == 0)
    problems.push_back("--require-push-back: no write was pushed back (no 'overloaded' answer); "
                       "lower --max-inflight-writes or add writers");
  if (cfg.max_rss_mib > 0 && peak_rss_mib > cfg.max_rss_mib)
    problems.push_back("--max-rss-mib: the peak resident memory during the load, " +
                       one_decimal(peak_rss_mib) + " MiB, exceeds " + one_decimal(cfg.max_rss_mib) +
                       " MiB");
  bool passed = problems.empty() && rep.check.ok();

  std::printf("\ntelos-stress: %s, profile %s (%zu embedders), %u writers, %u readers, %.0f s, "
              "seed %llu%s\n",
              cfg.backend.c_str(), rep.profile.name.c_str(), rep.profile.embedders.size(),
              cfg.writers, cfg.readers, rep.load_s, static_cast<unsigned long long>(cfg.seed),
              cfg.sync ? ", sync" : "");
  std::printf("  %-8s %10s %8s %10s %10s %10s %9s %9s %9s %9s\n", "op", "count", "errors",
              "overloaded", "memories", "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms");
  for (size_t i = 0; i < op_types; ++i) {
    auto& o = ops[i];
    auto done = o.ops - o.overloaded;
    std::printf("  %-8s %10llu %8llu %10llu %10llu %10.1f %9.2f %9.2f %9.2f %9.2f\n",
                to_string(static_cast<op_type>(i)), static_cast<unsigned long long>(done),
                static_cast<unsigned long long>(o.errors),
                static_cast<unsigned long long>(o.overloaded),
                static_cast<unsigned long long>(o.memories), done / secs, ms(o.p50_us),
                ms(o.p90_us), ms(o.p99_us), ms(o.max_us));
  }
  std::printf("  writes %.1f ops/s (%.1f memories/s), reads %.1f ops/s, %llu errors\n",
              writes / secs, memories / secs, reads / secs,
              static_cast<unsigned long long>(errors));
  auto limit =
      cfg.max_inflight_writes > 0
          ? std::to_string(cfg.max_inflight_writes) + " writes in flight"
          : std::to_string(store_options{}.max_inflight_writes) + " writes in flight, the default";
  std::printf("  push-back: %llu writes answered 'overloaded' (%.1f/s, at most %llu in one "
              "second; limit %s); peak resident memory during the load %.1f "
              "MiB (VmHWM)\n",
              static_cast<unsigned long long>(overloaded), overloaded / secs,
              static_cast<unsigned long long>(overloaded_peak), limit.c_str(), peak_rss_mib);
  auto end_ms = static_cast<uint32_t>(rep.cfg.duration * 1000);
  auto gap = longest_ack_gap(rep.samples, end_ms);
  std::printf("  longest time without an acknowledged write: %.2f s (from %.1f s)\n",
              gap.longest_ms / 1000.0, gap.from_ms / 1000.0);
  // Ingest before and after the first ANN graph: the first sample that shows one splits the run.
  auto graph_at = std::find_if(rep.index_samples.begin(), rep.index_samples.end(),
                               [](const index_sample& x) { return x.graphs > 0; });
  uint64_t fresh_max = 0;
  uint64_t fresh_last = rep.index_samples.empty() ? 0 : rep.index_samples.back().fresh_max;
  for (auto& x : rep.index_samples)
    fresh_max = std::max(fresh_max, x.fresh_max);
  if (graph_at != rep.index_samples.end()) {
    uint64_t before = 0;
    uint64_t after = 0;
    for (auto& x : rep.samples)
      if (x.ok && is_write(x.type)) (x.at_ms < graph_at->at_ms ? before : after) += x.memories;
    double split = graph_at->at_ms / 1000.0;
    std::printf("  first ANN graph seen at %.1f s (%llu memories): %.1f memories/s before, %.1f "
                "after\n",
                split, static_cast<unsigned long long>(graph_at->memories),
                split > 0 ? before / split : 0.0, secs > split ? after / (secs - split) : 0.0);
  }
  if (!rep.index_samples.empty())
    std::printf("  fresh vectors (outside the graph) in the deepest index: max %llu, at the end "
                "%llu\n",
                static_cast<unsigned long long>(fresh_max),
                static_cast<unsigned long long>(fresh_last));
  if (rep.stats)
    std::printf("  store: %llu memories, %.1f MiB on disk\n",
                static_cast<unsigned long long>(rep.stats->memories),
                rep.stats->disk_bytes / 1048576.0);
  if (rep.loaded && rep.loaded->written.user > 0) {
    const auto& w = rep.loaded->written;
    auto mib = [](uint64_t bytes) { return static_cast<double>(bytes) / 1048576.0; };
    std::printf("  written during the load: %.1f MiB by users, %.1f MiB to files (WAL %.1f, "
                "flushes %.1f, compactions %.1f, of these blob files %.1f): write amplification "
                "%.2f; %.1f MiB on disk at the end of the load",
                mib(w.user), mib(w.files()), mib(w.wal), mib(w.flush), mib(w.compaction),
                mib(w.blob), w.amplification(), mib(rep.loaded->disk_bytes));
    if (rep.loaded->memories > 0)
      std::printf(", %.1f KiB per memory", static_cast<double>(rep.loaded->disk_bytes) / 1024.0 /
                                               static_cast<double>(rep.loaded->memories));
    std::printf("\n");
  }
  std::printf("  close %.2f s, reopen %.2f s, check %.2f s\n", rep.close_s, rep.reopen_s,
              rep.check_s);
  std::printf("  checked after reopen: %llu ids (%llu present) field by field and every "
              "embedding exactly; count, list, verify; %llu searches against brute force%s\n",
              static_cast<unsigned long long>(rep.check.memories_checked),
              static_cast<unsigned long long>(rep.present),
              static_cast<unsigned long long>(rep.check.searches_checked),
              rep.check.min_recall < 1.0 ? (" (approximate indexes: lowest mean recall@10 " +
                                            std::to_string(rep.check.min_recall) + ")")
                                               .c_str()
                                         : " (exact)");
  for (auto& p : problems)
    std::printf("  PROBLEM: %s\n", p.c_str());
  for (auto& p : rep.check.problems)
    std::printf("  PROBLEM: %s\n", p.c_str());
  std::printf("%s\n", passed ? "PASS: every acknowledged write is there, exactly; nothing else is"
                             : "FAIL");
  std::fflush(stdout);

  if (!cfg.report.empty()) {
    json ops_json = json::object();
    for (size_t i = 0; i < op_types; ++i) {
      auto& o = ops[i];
      ops_json[to_string(static_cast<op_type>(i))] = {{"count", o.ops - o.overloaded},
                                                      {"errors", o.errors},
                                                      {"overloaded", o.overloaded},
                                                      {"memories", o.memories},
                                                      {"ops_per_s", (o.ops - o.overloaded) / secs},
                                                      {"p50_ms", ms(o.p50_us)},
                                                      {"p90_ms", ms(o.p90_us)},
                                                      {"p99_ms", ms(o.p99_us)},
                                                      {"max_ms", ms(o.max_us)}};
    }
    json tl = json::array();
    for (auto& s : timeline_data)
      tl.push_back({{"t", s.t},
                    {"writes", s.writes},
                    {"reads", s.reads},
                    {"memories_written", s.memories_written},
                    {"overloaded", s.overloaded},
                    {"write_p50_ms", ms(s.write_p50_us)},
                    {"write_p99_ms", ms(s.write_p99_us)},
                    {"read_p50_ms", ms(s.read_p50_us)},
                    {"read_p99_ms", ms(s.read_p99_us)}});
    json ix = json::array();
    for (auto& x : rep.index_samples)
      ix.push_back({{"at_ms", x.at_ms},
                    {"memories", x.memories},
                    {"fresh_total", x.fresh_total},
                    {"fresh_max", x.fresh_max},
                    {"graphs", x.graphs},
                    {"rss_mib", static_cast<double>(x.rss_kib) / 1024.0}});
    auto all_problems = problems;
    all_problems.insert(all_problems.end(), rep.check.problems.begin(), rep.check.problems.end());
    json doc = {
        {"mode", "load"},
        {"passed", passed},
        {"config", config_json(cfg, rep.profile)},
        {"ops", ops_json},
        {"totals",
         {{"writes_per_s", writes / secs},
          {"memories_per_s", memories / secs},
          {"reads_per_s", reads / secs},
          {"errors", errors},
          {"overloaded", overloaded},
          {"overloaded_per_s", overloaded / secs},
          {"overloaded_peak_per_s", overloaded_peak},
          {"peak_rss_mib", peak_rss_mib}}},
        {"phases_s",
         {{"load", rep.load_s},
          {"close", rep.close_s},
          {"reopen", rep.reopen_s},
          {"check", rep.check_s}}},
        {"checks",
         {{"ids_checked", rep.check.memories_checked},
          {"present", rep.present},
          {"searches_checked", rep.check.searches_checked},
          {"min_recall", rep.check.min_recall}}},
        {"store",
         rep.stats ? json{{"memories", rep.stats->memories}, {"disk_bytes", rep.stats->disk_bytes}}
                   : json(nullptr)},
        {"loaded", rep.loaded ? json{{"memories", rep.loaded->memories},
                                     {"disk_bytes", rep.loaded->disk_bytes},
                                     {"user_bytes", rep.loaded->written.user},
                                     {"wal_bytes", rep.loaded->written.wal},
                                     {"flush_bytes", rep.loaded->written.flush},
                                     {"compaction_bytes", rep.loaded->written.compaction},
                                     {"blob_bytes", rep.loaded->written.blob},
                                     {"write_amplification", rep.loaded->written.amplification()}}
                              : json(nullptr)},
        {"problems", all_problems},
        {"longest_ack_gap_ms", gap.longest_ms},
        {"longest_ack_gap_from_ms", gap.from_ms},
        {"indexes", ix},
        {"timeline", tl}};
    std::ofstream out{cfg.report};
    out << doc.dump(2) << '\n';
    if (!out) std::cerr << "telos-stress: cannot write the report to " << cfg.report << '\n';
  }
  if (!cfg.plot.empty()) {
    auto title = "telos-stress " + cfg.backend + " " + rep.profile.name + ", " +
                 std::to_string(cfg.writers) + " writers, " + std::to_string(cfg.readers) +
                 " readers";
    auto err = write_plot(cfg.plot, timeline_data, title);
    if (!err.empty())
      std::cerr << "telos-stress: plot: " << err << '\n';
    else if (!cfg.quiet)
      std::cerr << "telos-stress: plot written to " << cfg.plot << '\n';
  }
  return passed;
}

} // namespace telos::stress
