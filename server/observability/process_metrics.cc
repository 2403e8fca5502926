#include "observability/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gengate::observability {
namespace {

std::optional<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// Entries of /proc/self/fd, not counting the descriptor that reads the directory.
std::int64_t CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  std::int64_t count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count > 0 ? count - 1 : 0;
}

// The boot time (btime) from /proc/stat, in seconds since the epoch.
std::optional<std::int64_t> BootTime() {
  std::optional<std::string> stat = ReadFile("/proc/stat");
  if (!stat.has_value()) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    std::int64_t seconds = 0;
    if (absl::ConsumePrefix(&line, "btime ") && absl::SimpleAtoi(line, &seconds)) return seconds;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ProcessStats> ReadProcessStats() {
  std::optional<std::string> statm = ReadFile("/proc/self/statm");
  std::optional<std::string> stat = ReadFile("/proc/self/stat");
  if (!statm.has_value() || !stat.has_value()) return std::nullopt;
  const long page_size = sysconf(_SC_PAGESIZE);
  const long ticks = sysconf(_SC_CLK_TCK);

  ProcessStats stats;
  std::vector<absl::string_view> pages = absl::StrSplit(*statm, ' ', absl::SkipEmpty());
  std::int64_t size = 0;
  std::int64_t resident = 0;
  if (pages.size() < 2 || !absl::SimpleAtoi(pages[0], &size) ||
      !absl::SimpleAtoi(pages[1], &resident)) {
    return std::nullopt;
  }
  stats.virtual_memory_bytes = size * page_size;
  stats.resident_memory_bytes = resident * page_size;

  // The command name in field 2 may hold spaces and parentheses: fields are counted from the
  // last ')'. After it come field 3 (state) onwards.
  const std::size_t close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*stat).substr(close + 1), ' ', absl::SkipEmpty());
  // Field N of proc(5) is fields[N - 3].
  std::int64_t utime = 0;
  std::int64_t stime = 0;
  std::int64_t threads = 0;
  std::int64_t start_ticks = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[14 - 3], &utime) ||
      !absl::SimpleAtoi(fields[15 - 3], &stime) || !absl::SimpleAtoi(fields[20 - 3], &threads) ||
      !absl::SimpleAtoi(fields[22 - 3], &start_ticks)) {
    return std::nullopt;
  }
  stats.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks);
  stats.threads = threads;
  if (std::optional<std::int64_t> boot = BootTime(); boot.has_value()) {
    stats.start_time_seconds =
        static_cast<double>(*boot) + static_cast<double>(start_ticks) / static_cast<double>(ticks);
  }
  stats.open_fds = CountOpenFds();
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    stats.max_fds = static_cast<std::int64_t>(limit.rlim_cur);
  }
  return stats;
}

void AddProcessMetrics(MetricsRegistry& registry) {
  // Each callback reads /proc afresh: a scrape every few seconds makes that cheap enough, and
  // a cache would only add staleness.
  auto field = [](auto member) {
    return [member] {
      std::optional<ProcessStats> stats = ReadProcessStats();
      return stats.has_value() ? static_cast<double>((*stats).*member) : 0.0;
    };
  };
  registry.AddCallbackGauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                            field(&ProcessStats::resident_memory_bytes));
  registry.AddCallbackGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                            field(&ProcessStats::virtual_memory_bytes));
  registry.AddCallbackGauge("process_open_fds", "Number of open file descriptors.",
                            field(&ProcessStats::open_fds));
  registry.AddCallbackGauge("process_max_fds", "Maximum number of open file descriptors.",
                            field(&ProcessStats::max_fds));
  registry.AddCallbackGauge("process_threads", "Number of OS threads in the process.",
                            field(&ProcessStats::threads));
  registry.AddCallbackCounter("process_cpu_seconds_total",
                              "Total user and system CPU time spent in seconds.",
                              field(&ProcessStats::cpu_seconds));
  registry.AddCallbackGauge("process_start_time_seconds",
                            "Start time of the process since the Unix epoch in seconds.",
                            field(&ProcessStats::start_time_seconds));
}

}  // namespace gengate::observability
