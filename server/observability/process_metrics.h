// Process metrics under the names Prometheus client libraries use (process_*), read from
// /proc/self at scrape time.
#pragma once

#include <cstdint>
#include <optional>

#include "observability/metrics.h"

namespace gengate::observability {

struct ProcessStats {
  std::int64_t resident_memory_bytes = 0;
  std::int64_t virtual_memory_bytes = 0;
  std::int64_t open_fds = 0;
  std::int64_t max_fds = 0;
  std::int64_t threads = 0;
  double cpu_seconds = 0;         // user + system
  double start_time_seconds = 0;  // since the Unix epoch
};

// Reads /proc/self/{statm,stat,fd} and /proc/stat; nullopt when /proc is not readable.
std::optional<ProcessStats> ReadProcessStats();

// Registers process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
// process_max_fds, process_threads, process_cpu_seconds_total and process_start_time_seconds.
void AddProcessMetrics(MetricsRegistry& registry);

}  // namespace gengate::observability
