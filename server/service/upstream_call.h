// What every service's reactors share: the upstream settings, the per-call context (request
// id, metadata, deadline, the call log line) and the upstream request they build.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "google/protobuf/message.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "http/client.h"
#include "observability/gateway_metrics.h"
#include "status/status.h"

namespace gengate::service {

// Fixed for the process; derived from the Config once.
struct UpstreamSettings {
  std::string base_url;  // without a trailing slash
  std::string host;      // for ErrorInfo.domain
  std::string api_key;   // secret
  absl::Duration default_timeout = absl::Seconds(600);
  absl::Duration stream_idle_timeout = absl::Seconds(120);
  std::int64_t stream_buffer_bytes = 1 << 20;
  std::int64_t max_message_bytes = 64 << 20;
  // Unary answers smaller than this are concluded on the event loop even while other transfers
  // run there (reactors.h, OnComplete); 0 under --sched_batch=false.
  std::size_t conclude_in_place_bytes = 64 << 10;

  static UpstreamSettings FromConfig(const config::Config& config);
};

// The parts every service needs; owned by main, borrowed by the services.
struct ServiceEnv {
  http::Client& client;
  UpstreamSettings settings;
  // Where calls are counted; nullptr means no metrics (unit tests).
  observability::GatewayMetrics* metrics = nullptr;
};

// Token counts seen in an answer or a stream so far, for logs and metrics.
// Atomic because the event loop updates them while a gRPC thread may write the log line.
struct TokenUsage {
  std::atomic<std::int64_t> input{0};
  std::atomic<std::int64_t> output{0};
};

// What is sent upstream: a JSON body, or a multipart form (image uploads).
struct UpstreamBody {
  std::string json;
  std::vector<http::FormPart> form;
};

// INVALID_ARGUMENT when a request is over --max_message_bytes (gRPC itself admits up to twice
// that, so the caller learns the limit instead of a bare RESOURCE_EXHAUSTED).
absl::Status CheckRequestSize(const google::protobuf::Message& request,
                              const UpstreamSettings& settings);

// Checks the request's size, then translates it into a JSON body (or the validation error).
absl::StatusOr<UpstreamBody> JsonBody(const google::protobuf::Message& request,
                                      const UpstreamSettings& settings,
                                      absl::FunctionRef<absl::StatusOr<std::string>()> translate);

// Per-call state shared by unary and streaming reactors: request id in and out, the upstream
// context for errors, and the single log line written when the call ends.
class CallContext {
 public:
  CallContext(const ServiceEnv& env, grpc::CallbackServerContext& context,
              std::string_view method);
  // Balances the active-call metrics should a call end without Complete.
  ~CallContext();
  CallContext(const CallContext&) = delete;
  CallContext& operator=(const CallContext&) = delete;

  // The upstream request: URL, auth and tracing headers, and its deadline. A unary call's is
  // the caller's, or --default_timeout from now when the caller set none. A stream's is the
  // caller's alone: a stream has the idle timeout instead of a total one (DESIGN.md, section
  // 5), for a long generation that keeps sending may take any time.
  http::Request MakeRequest(std::string_view path, UpstreamBody body, bool stream) const;

  // Records what the upstream answered (status, request id header) for trailers and logs.
  // The call is committed now: x-request-id goes into the initial metadata.
  void OnUpstreamHead(const http::ResponseHead& head);

  // A stream message was queued for the caller (`bytes` on the wire); the first one marks the
  // time to first message.
  void OnStreamMessage(std::size_t bytes);
  // The caller read too slowly and the stream was aborted.
  void OnSlowReader();
  // A unary answer took `elapsed` to parse into the reply.
  void OnAnswerDecoded(absl::Duration elapsed);

  // Adds the trailing metadata and writes the call's log line. Call once, with the status
  // about to be passed to Finish. A call that ends UNAVAILABLE without its request reaching
  // the upstream (unreachable, DNS, TLS, shutting down) gets x-request-id in its trailers
  // instead of its initial metadata: the answer is then Trailers-Only, which a gRPC client's
  // retry policy may retry on another connection or pod. Any other answer is final.
  void Complete(const grpc::Status& status);

  // The body about to be sent upstream: its size is logged as payload_bytes, and with
  // --log_payloads the JSON itself (cut to kMaxLoggedPayloadBytes; form uploads by part name
  // and size only, never file bytes).
  void NotePayload(const UpstreamBody& body);
  static constexpr std::size_t kMaxLoggedPayloadBytes = 4096;

  const status::UpstreamContext& upstream() const { return upstream_; }
  // Whether gRPC's cancel of the call (OnCancel) came from its deadline: gRPC cancels a call
  // when its deadline passes too, and that is DEADLINE_EXCEEDED in the log and the metrics,
  // not CANCELLED.
  bool DeadlinePassed() const;
  const std::string& request_id() const { return request_id_; }
  void set_model(std::string model) { model_ = std::move(model); }
  TokenUsage& usage() { return usage_; }

 private:
  // x-request-id into the initial metadata or the trailers; the first call decides.
  void PlaceRequestId(bool in_trailers);

  const ServiceEnv& env_;
  grpc::CallbackServerContext& context_;
  std::string method_;
  std::string request_id_;
  std::string traceparent_;
  absl::Time start_;
  absl::Time caller_deadline_;  // InfiniteFuture when the caller set none
  absl::Time deadline_;         // caller_deadline_, or start_ + --default_timeout if sooner
  // upstream_.request_id and upstream_status_ are written once, by OnUpstreamHead on the event
  // loop, under head_mu_; the loop reads them without it, Complete (any thread, on cancel)
  // with it.
  absl::Mutex head_mu_;
  status::UpstreamContext upstream_;
  int upstream_status_ = 0;
  std::string model_;
  TokenUsage usage_;
  std::atomic<std::int64_t> stream_messages_{0};
  std::atomic<std::int64_t> stream_bytes_{0};
  // Microseconds from the start to the first stream message, -1 before it. Atomic: written on
  // the event loop, read by Complete, which a cancel can run on a gRPC thread.
  std::atomic<std::int64_t> first_message_us_{-1};
  observability::GatewayMetrics* metrics_ = nullptr;
  const observability::GatewayMetrics::Method* method_metrics_ = nullptr;
  bool completed_ = false;
  std::string peer_;
  std::int64_t payload_bytes_ = 0;
  std::string payload_;  // only with --log_payloads
  // OnUpstreamHead (event loop) and Complete (any thread, on cancel) may race to place it.
  absl::Mutex request_id_mu_;
  bool request_id_placed_ ABSL_GUARDED_BY(request_id_mu_) = false;
};

// Maps how a transfer ended (without a usable answer) to a status.
grpc::Status TransferFailureStatus(const http::TransferResult& result,
                                   const status::UpstreamContext& upstream);

// Maps a non-2xx upstream answer to a status.
grpc::Status UpstreamErrorStatus(int http_status, const http::ResponseHead& head,
                                 std::string_view body, const status::UpstreamContext& upstream);

}  // namespace gengate::service
