// The end of a telos-stress run: the summary table on stdout, the JSON report (--report) and the
// plot (--plot, PNG through gnuplot or a self-contained HTML page).
#pragma once

#include "stress.hpp"

#include <optional>
#include <string>
#include <vector>

namespace telos::stress {

struct run_report {
  config cfg;
  std::string data_dir;
  telos::profile profile;
  std::vector<sample> samples;
  /// The indexes once a second during the load (fresh depth, graphs).
  std::vector<index_sample> index_samples;
  /// Problems seen while the load ran (readers' checks, failed writes).
  std::vector<std::string> problems;
  check_result check;
  /// At the end of the load, before the close: bytes written during the load and its size on disk.
  std::optional<store_stats> loaded;
  /// After the reopen and the check.
  std::optional<store_stats> stats;
  uint64_t present = 0;
  /// Peak resident memory of the process at the end of the load (VmHWM), KiB.
  uint64_t peak_rss_kib = 0;
  double load_s = 0;
  double close_s = 0;
  double reopen_s = 0;
  double check_s = 0;
};

/// Prints the summary, writes the report and plot files asked for; returns whether the run
/// passed (no problem anywhere).
bool finish_report(const run_report& rep);

/// Writes `timeline` as a plot: PNG via gnuplot, or HTML with inline SVG when `path` ends in
/// ".html". Returns an empty string or what went wrong.
std::string write_plot(const std::string& path, const std::vector<second>& timeline,
                       const std::string& title);

} // namespace telos::stress
