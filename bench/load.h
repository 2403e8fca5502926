// What one load generator run is asked to do and what it measured; shared by the gRPC and the
// HTTP runners so that both report the same numbers the same way.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "histogram.h"

namespace gengate::bench {

using Clock = std::chrono::steady_clock;

enum class CallKind { kChat, kStream, kEmbeddings };
enum class LoadMode {
  kClosed,  // `concurrency` calls always in flight: a new one starts when one ends
  kOpen,    // calls start at `rate` per second whatever the answers do
  kHold,    // `concurrency` long streams opened at `ramp_per_second`, held until they end
};

struct LoadSpec {
  std::string address;  // host:port
  CallKind call = CallKind::kChat;
  LoadMode mode = LoadMode::kClosed;
  int concurrency = 1;
  double rate = 0;  // calls per second, open loop
  double warmup_seconds = 1;
  double duration_seconds = 10;
  double deadline_seconds = 60;
  int channels = 1;  // gRPC: separate connections; HTTP: unused (one per concurrent call)
  std::string model;     // carries the mock's parameters, e.g. "bench:chunks=20:interval_ms=0"
  int64_t expect_messages = 0;  // streams: messages a complete stream has; 0 = don't check
  int embedding_inputs = 2048;
  int embedding_dimensions = 1536;
  double ramp_per_second = 2000;  // hold mode
  double hold_seconds = 30;       // hold mode: how long all streams must stay open
  double open_timeout_seconds = 120;  // hold mode: the hold starts then even if some are not open
  int64_t max_outstanding = 20000;  // open loop: calls beyond this are dropped as errors
  // HTTP only: the path and the JSON body to POST (the model in it is replaced by `model`).
  std::string http_path;
  std::string http_body;
};

struct LoadResult {
  Histogram latency;        // ns per call: start (closed) or due time (open) to the end
  Histogram first_message;  // ns to the first stream message or SSE event
  int64_t calls = 0;        // calls that ended OK inside the measured window
  int64_t messages = 0;     // stream messages received inside the window
  int64_t total_messages = 0;  // stream messages received in the whole run
  int64_t errors = 0;       // calls that failed, at any time (warm-up and drain included)
  int64_t total_calls = 0;  // calls that ended OK at any time: the divisor for CPU per call
  std::map<std::string, int64_t> error_kinds;
  double window_seconds = 0;
  // Hold mode.
  int64_t opened = 0;                // streams that got their first message
  int64_t max_open = 0;              // most streams open (first message in, not ended) at once
  double seconds_to_all_open = -1;   // from the first call to the last first message
  int64_t completed = 0;             // streams open until the hold ended (then cancelled)

  void AddError(const std::string& kind) {
    ++errors;
    ++error_kinds[kind];
  }
};

// The result as one JSON object (latencies in microseconds).
std::string ResultJson(const LoadSpec& spec, const LoadResult& result);

// Phases of a closed or open run: warm-up, then the measured window, then drain.
struct Window {
  Clock::time_point begin;
  Clock::time_point end;
  bool Contains(Clock::time_point t) const { return t >= begin && t < end; }
};

inline uint64_t Nanos(Clock::duration d) {
  return d.count() < 0 ? 0
                       : static_cast<uint64_t>(
                             std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

inline Clock::duration Seconds(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace gengate::bench

namespace gengate::bench {

// Runs the load against gengate's gRPC services.
LoadResult RunGrpcLoad(const LoadSpec& spec);
// The request a gRPC call of `spec` sends, as one length-prefixed gRPC message, for h2load.
std::string GrpcRequestFrame(const LoadSpec& spec);
// Runs the same load as HTTP/1.1 POSTs (the mock directly, or nginx in front of it).
LoadResult RunHttpLoad(const LoadSpec& spec);

}  // namespace gengate::bench
