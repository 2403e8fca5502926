// The call log line: one per call, formatted on the thread that finishes the call.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "observability/log.h"

namespace gengate::observability {
namespace {

// The timestamp as the time zone library writes it: what LogTimestamp saves per line.
void BM_TimestampThroughTimeZoneLibrary(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()));
  }
}
BENCHMARK(BM_TimestampThroughTimeZoneLibrary);

void BM_LogTimestamp(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(LogTimestamp(absl::Now()));
}
BENCHMARK(BM_LogTimestamp);

// The fields CallContext::Complete logs for an OK unary chat call.
void BM_CallLogLine(benchmark::State& state) {
  const std::string request_id = "0123456789abcdef0123456789abcdef";
  const std::vector<LogField> fields = {
      {"method", "/gengate.v1.ChatService/CreateChatCompletion"},
      {"request_id", request_id},
      {"code", "OK"},
      {"latency_ms", 0.412},
      {"model", "gpt-4o-mini"},
      {"prompt_tokens", std::int64_t{12}},
      {"completion_tokens", std::int64_t{9}},
      {"upstream_status", 200},
      {"upstream_request_id", "req_8f1c2a"},
      {"payload_bytes", std::int64_t{187}},
      {"stream_messages", std::int64_t{0}},
      {"first_message_ms", -1.0},
      {"peer", "ipv4:127.0.0.1:53122"},
      {"reason", ""},
      {"error", ""}};
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        FormatLogLine(config::LogFormat::kJson, LogLevel::kInfo, "call", fields));
  }
}
BENCHMARK(BM_CallLogLine);

}  // namespace
}  // namespace gengate::observability
