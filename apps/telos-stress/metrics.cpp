// Percentiles and timelines over latency samples.
#include "metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>

namespace telos::stress {

const char* to_string(op_type t) {
  switch (t) {
  case op_type::put:
    return "put";
  case op_type::batch:
    return "batch";
  case op_type::update:
    return "update";
  case op_type::remove:
    return "delete";
  case op_type::get:
    return "get";
  case op_type::search:
    return "search";
  case op_type::fused:
    return "fused";
  case op_type::count_:
    break;
  }
  return "?";
}

uint32_t percentile(std::vector<uint32_t>& latencies_us, double p) {
  if (latencies_us.empty()) return 0;
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(latencies_us.size())));
  auto index = rank == 0 ? 0 : std::min(rank, latencies_us.size()) - 1;
  std::nth_element(latencies_us.begin(), latencies_us.begin() + static_cast<std::ptrdiff_t>(index),
                   latencies_us.end());
  return latencies_us[index];
}

std::array<op_summary, op_types> summarize(const std::vector<sample>& all) {
  std::array<op_summary, op_types> result{};
  std::array<std::vector<uint32_t>, op_types> latencies;
  for (auto& s : all) {
    auto& r = result[static_cast<size_t>(s.type)];
    ++r.ops;
    if (!s.ok) {
      ++(s.overloaded ? r.overloaded : r.errors);
      continue;
    }
    r.memories += s.memories;
    latencies[static_cast<size_t>(s.type)].push_back(s.latency_us);
  }
  for (size_t i = 0; i < op_types; ++i) {
    auto& l = latencies[i];
    result[i].p50_us = percentile(l, 50);
    result[i].p90_us = percentile(l, 90);
    result[i].p99_us = percentile(l, 99);
    result[i].max_us = l.empty() ? 0 : *std::max_element(l.begin(), l.end());
  }
  return result;
}

std::vector<second> timeline(const std::vector<sample>& all) {
  uint32_t last = 0;
  for (auto& s : all)
    last = std::max(last, s.at_ms / 1000);
  std::vector<second> result(all.empty() ? 0 : last + 1);
  std::vector<std::vector<uint32_t>> write_lat(result.size());
  std::vector<std::vector<uint32_t>> read_lat(result.size());
  for (auto& s : all) {
    auto t = s.at_ms / 1000;
    result[t].overloaded += s.overloaded ? 1 : 0;
    if (!s.ok) continue;
    if (is_write(s.type)) {
      ++result[t].writes;
      result[t].memories_written += s.memories;
      write_lat[t].push_back(s.latency_us);
    } else {
      ++result[t].reads;
      read_lat[t].push_back(s.latency_us);
    }
  }
  for (size_t t = 0; t < result.size(); ++t) {
    result[t].t = static_cast<uint32_t>(t);
    result[t].write_p50_us = percentile(write_lat[t], 50);
    result[t].write_p99_us = percentile(write_lat[t], 99);
    result[t].read_p50_us = percentile(read_lat[t], 50);
    result[t].read_p99_us = percentile(read_lat[t], 99);
  }
  return result;
}

resident_memory read_resident_memory() {
  resident_memory result;
  std::ifstream in{"/proc/self/status"};
  std::string line;
  // Lines like "VmHWM:     123456 kB".
  auto value = [&](const char* key) -> uint64_t {
    return std::strtoull(line.c_str() + std::char_traits<char>::length(key), nullptr, 10);
  };
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) result.now_kib = value("VmRSS:");
    if (line.rfind("VmHWM:", 0) == 0) result.peak_kib = value("VmHWM:");
  }
  return result;
}

ack_gap longest_ack_gap(const std::vector<sample>& all, uint32_t end_ms) {
  std::vector<uint32_t> acks;
  for (auto& s : all)
    if (s.ok && is_write(s.type)) acks.push_back(s.at_ms);
  std::sort(acks.begin(), acks.end());
  acks.push_back(std::max(end_ms, acks.empty() ? 0u : acks.back()));
  ack_gap result;
  uint32_t previous = 0;
  for (auto at : acks) {
    if (at - previous > result.longest_ms) result = {at - previous, previous};
    previous = at;
  }
  return result;
}

} // namespace telos::stress
