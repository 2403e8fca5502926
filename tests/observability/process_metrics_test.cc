// Process metrics read from /proc/self.
#include "observability/process_metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <ctime>
#include <optional>

#include "gtest/gtest.h"

namespace gengate::observability {
namespace {

TEST(ProcessStatsTest, ReadsMemoryThreadsAndStartTime) {
  std::optional<ProcessStats> stats = ReadProcessStats();

  ASSERT_TRUE(stats.has_value());
  EXPECT_GT(stats->resident_memory_bytes, 0);
  EXPECT_GE(stats->virtual_memory_bytes, stats->resident_memory_bytes);
  EXPECT_GE(stats->threads, 1);
  EXPECT_GT(stats->max_fds, 0);
  EXPECT_GE(stats->cpu_seconds, 0);
  // Started in the past, and not before 2020.
  EXPECT_LE(stats->start_time_seconds, static_cast<double>(std::time(nullptr)) + 1);
  EXPECT_GT(stats->start_time_seconds, 1577836800.0);
}

TEST(ProcessStatsTest, CountsOpenFileDescriptors) {
  std::optional<ProcessStats> before = ReadProcessStats();
  ASSERT_TRUE(before.has_value());
  const int first = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int second = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);

  std::optional<ProcessStats> after = ReadProcessStats();
  close(first);
  close(second);

  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->open_fds, before->open_fds + 2);
}

}  // namespace
}  // namespace gengate::observability
