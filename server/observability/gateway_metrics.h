// gengate's metrics: what every call, stream and upstream transfer records, on top of the
// registry in metrics.h. Owned by main; the per-call context and the upstream client borrow it.
//
// Every hot-path method works on cells resolved ahead of time (per RPC method at startup, per
// status code and upstream endpoint on first use), so a call costs a few relaxed atomic adds
// and no exclusive lock.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "observability/metrics.h"

namespace gengate::observability {

// One RPC the gateway serves, e.g. {"/gengate.v1.ChatService/StreamChatCompletion", true}.
struct RpcMethod {
  std::string full_name;
  bool server_streaming = false;
};

// The canonical name of a gRPC status code ("OK", "INVALID_ARGUMENT", ...).
std::string_view GrpcCodeName(int code);

class GatewayMetrics {
 public:
  // The number of gRPC status codes (OK .. UNAUTHENTICATED).
  static constexpr int kCodes = 17;
  // Distinct model names with their own token series; later ones count as model="other".
  static constexpr std::size_t kMaxModels = 100;

  // Registers every metric, including the process_* ones, in its own registry. `methods` are
  // resolved up front; others are resolved on first use.
  explicit GatewayMetrics(const std::vector<RpcMethod>& methods);
  GatewayMetrics(const GatewayMetrics&) = delete;
  GatewayMetrics& operator=(const GatewayMetrics&) = delete;

  MetricsRegistry& registry() { return registry_; }
  const MetricsRegistry& registry() const { return registry_; }

  // The cells of one RPC method.
  class Method {
   public:
    const std::string& service() const { return service_; }
    const std::string& method() const { return method_; }
    bool streaming() const { return streaming_; }

   private:
    friend class GatewayMetrics;
    std::string service_;
    std::string method_;
    bool streaming_ = false;
    // Resolved on first use: most codes never happen for most methods.
    mutable std::array<std::atomic<Counter*>, kCodes> requests_{};
    Histogram* duration_ = nullptr;
    Histogram* answer_decode_ = nullptr;  // unary only
    Histogram* first_message_ = nullptr;  // streams only
    Counter* stream_messages_ = nullptr;
    Counter* stream_bytes_ = nullptr;
    Counter* slow_readers_ = nullptr;
  };

  // The cells for "/package.Service/Method"; the reference stays valid for the object's life.
  const Method& ForMethod(std::string_view full_method);

  // A call started (its reactor exists).
  void CallStarted(const Method& method);
  // The call ended with `code` after `latency`; called once per CallStarted.
  void CallFinished(const Method& method, int code, absl::Duration latency);
  // A stream message of `bytes` was queued; `first` marks the first one of its call.
  void StreamMessageQueued(const Method& method, std::size_t bytes, bool first,
                           absl::Duration since_start);
  // A unary call's upstream answer took `elapsed` to become its reply message.
  void AnswerDecoded(const Method& method, absl::Duration elapsed);
  // The caller read too slowly and its stream was aborted.
  void SlowReaderAborted(const Method& method);
  // Tokens of one call as the upstream reported them (also for cut-off streams).
  void TokensUsed(std::string_view model, std::int64_t input, std::int64_t output);
  // A call failed with this google.rpc.ErrorInfo reason (e.g. rate_limit_exceeded).
  void UpstreamError(std::string_view reason);

  // The cells of one upstream endpoint (the path after the base URL, e.g. /chat/completions).
  struct Endpoint {
    static constexpr int kMaxHttpStatus = 599;
    std::string path;
    CounterFamily* requests = nullptr;  // {endpoint, status}
    // requests resolved per HTTP status on first use; index 0 is "none" (no answer).
    mutable std::array<std::atomic<Counter*>, kMaxHttpStatus + 1> requests_by_status{};
    Histogram* time_to_headers = nullptr;
    Histogram* duration = nullptr;
    Counter* sent_bytes = nullptr;
    Counter* received_bytes = nullptr;
  };
  const Endpoint& ForEndpoint(std::string_view path);
  // An upstream transfer ended. `http_status` is 0 when no answer arrived; `time_to_headers`
  // is ignored then.
  void UpstreamTransferFinished(const Endpoint& endpoint, int http_status,
                                absl::Duration time_to_headers, absl::Duration duration,
                                std::uint64_t sent_bytes, std::uint64_t received_bytes);

  std::int64_t active_calls() const { return active_calls_.load(std::memory_order_acquire); }
  // Blocks until no call is active or `deadline` passes; returns whether none is active.
  bool WaitForNoActiveCalls(absl::Time deadline);

 private:
  std::unique_ptr<Method> MakeMethod(std::string_view full_method, bool streaming);
  Counter& RequestsCell(const Method& method, int code);

  MetricsRegistry registry_;
  CounterFamily& requests_;
  HistogramFamily& duration_;
  HistogramFamily& answer_decode_;
  HistogramFamily& first_message_;
  CounterFamily& stream_messages_;
  CounterFamily& stream_bytes_;
  CounterFamily& slow_readers_;
  CounterFamily& tokens_;
  CounterFamily& upstream_errors_;
  CounterFamily& upstream_requests_;
  HistogramFamily& upstream_time_to_headers_;
  HistogramFamily& upstream_duration_;
  CounterFamily& upstream_bytes_;

  // Known methods: built in the constructor and read-only after, so lookups take no lock.
  absl::flat_hash_map<std::string, std::unique_ptr<Method>> methods_;
  absl::Mutex extra_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Method>> extra_methods_
      ABSL_GUARDED_BY(extra_mu_);

  absl::Mutex endpoints_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Endpoint>> endpoints_
      ABSL_GUARDED_BY(endpoints_mu_);

  struct ModelTokens {
    Counter* input = nullptr;
    Counter* output = nullptr;
  };
  absl::Mutex models_mu_;
  absl::flat_hash_map<std::string, ModelTokens> models_ ABSL_GUARDED_BY(models_mu_);

  std::atomic<std::int64_t> active_calls_{0};
  std::atomic<std::int64_t> active_streams_{0};
  // Only for WaitForNoActiveCalls: the last call out takes it once, so that a waiter blocked
  // on "no active calls" re-evaluates its condition.
  absl::Mutex drain_mu_;
};

}  // namespace gengate::observability
