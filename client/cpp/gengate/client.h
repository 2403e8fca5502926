// gengate::Client: a blocking C++ client for the four gengate.v1 services.
//
// One facade, one method per RPC, because the four services share one channel, one set of
// channel options and one error model; a caller who wants the raw stubs can take channel().
// Every call is blocking and thread-safe (one Client may serve many threads at once):
//
//   gengate::Client client("127.0.0.1:50051");
//   absl::StatusOr<gengate::v1::ChatCompletion> answer = client.CreateChatCompletion(request);
//   if (!answer.ok()) std::cerr << gengate::ErrorReason(answer.status());
//
// Streaming calls take a callback that runs on the calling thread once per message; it
// returns true to keep reading and false to stop the stream (the call is then cancelled and
// the method returns OK). A Cancellation given in CallOptions stops any call from another
// thread; the call then returns CANCELLED.
//
// Errors are absl::Status with the gRPC code and message. When the server attached
// google.rpc.Status details (grpc-status-details-bin), they are kept as the payload
// kStatusDetailsTypeUrl, and ErrorInfoOf / ErrorReason / RetryDelayOf read them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gengate/v1/chat.grpc.pb.h"
#include "gengate/v1/embeddings.grpc.pb.h"
#include "gengate/v1/images.grpc.pb.h"
#include "gengate/v1/responses.grpc.pb.h"
#include "google/rpc/error_details.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/channel_arguments.h"

namespace gengate {

// The metadata key of the request id, sent by the caller and echoed in initial metadata.
inline constexpr char kRequestIdKey[] = "x-request-id";
// The trailing metadata key carrying the upstream's own request id.
inline constexpr char kUpstreamRequestIdKey[] = "x-upstream-request-id";
// The absl::Status payload holding the serialized google.rpc.Status of a failed call.
inline constexpr char kStatusDetailsTypeUrl[] = "type.googleapis.com/google.rpc.Status";

// TLS for the channel. With no TlsOptions the channel is plaintext.
struct TlsOptions {
  // PEM roots that verify the server; empty: gRPC's default roots.
  std::string root_certs_pem;
  // PEM client certificate chain and private key for mTLS; both or neither.
  std::string client_cert_chain_pem;
  std::string client_private_key_pem;
  // Verify the server certificate against this name instead of the target's host (for a
  // target given as an IP address, or tests). Empty: the target's host.
  std::string server_name_override;

  // Reads the PEM files; an empty path leaves that part empty.
  static absl::StatusOr<TlsOptions> FromFiles(const std::string& root_certs_path,
                                              const std::string& client_cert_path = "",
                                              const std::string& client_key_path = "");
};

// Retry of calls that fail UNAVAILABLE before the server sent anything (gRPC's retry policy in
// the service config). gRPC retries only calls nothing was committed to: a connection that
// failed or went away, or a Trailers-Only UNAVAILABLE. gengate answers Trailers-Only only when
// the request cannot have reached the upstream (shutting_down, upstream_unreachable,
// upstream_dns_failed, upstream_tls_failed); any answer with initial metadata is final, so
// the upstream is never asked twice for work it may have started.
struct RetryOptions {
  bool enabled = true;
  int max_attempts = 3;  // including the first; gRPC caps it at 5
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
  double backoff_multiplier = 2.0;
};

struct ClientOptions {
  // "round_robin" spreads calls over every address the target resolves to (use a
  // "dns:///gengate.ns.svc:50051" target for all the pods of a headless Service);
  // "pick_first" uses one connection.
  std::string load_balancing_policy = "round_robin";
  // HTTP/2 keepalive pings on an idle connection, and how long to wait for the answer before
  // the connection is dropped. gengate accepts pings every 10 s or slower. Zero disables.
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(10);
  // Also ping when no call is running, so that a broken idle connection is found early.
  bool keepalive_without_calls = false;
  // Largest message sent / received, in bytes (gengate's own default limit is 64 MiB).
  int max_send_message_bytes = 64 << 20;
  int max_receive_message_bytes = 64 << 20;
  RetryOptions retry;
  // Plaintext when unset.
  std::optional<TlsOptions> tls;
  // Used when a call sets no timeout or deadline. InfiniteDuration(): no deadline.
  absl::Duration default_timeout = absl::Minutes(10);
};

// Cancels calls from another thread. Give the same object to one call (or several) in
// CallOptions; Cancel() ends every call attached to it, now or later, with CANCELLED.
// Thread-safe. It must outlive the calls it is given to.
class Cancellation {
 public:
  void Cancel();
  bool cancelled() const;

 private:
  friend class Client;
  // Returns false when Cancel() already ran (the call should not start).
  bool Attach(grpc::ClientContext* context);
  void Detach(grpc::ClientContext* context);

  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<grpc::ClientContext*> contexts_ ABSL_GUARDED_BY(mu_);
};

// What the server said about a call besides its answer; filled in when CallOptions::info is
// set, for failed calls too.
struct CallInfo {
  std::string request_id;           // x-request-id the server used (initial metadata)
  std::string upstream_request_id;  // x-upstream-request-id (trailing metadata)
};

struct CallOptions {
  // Per call: a timeout from now, or an absolute deadline (the earlier wins when both are
  // set). Neither: ClientOptions::default_timeout.
  std::optional<absl::Duration> timeout;
  std::optional<absl::Time> deadline;
  // Sent as x-request-id; gengate makes one when empty.
  std::string request_id;
  // More metadata (keys lower-case), e.g. {"traceparent", "00-..."}.
  std::vector<std::pair<std::string, std::string>> metadata;
  // Borrowed; may be null.
  Cancellation* cancellation = nullptr;
  // Borrowed; may be null.
  CallInfo* info = nullptr;
};

// Called once per streamed message; return false to stop the stream.
template <typename Message>
using StreamCallback = std::function<bool(const Message&)>;

class Client {
 public:
  // Makes a channel to `target` ("host:port", "dns:///host:port", "ipv4:a:p,b:p").
  explicit Client(const std::string& target, ClientOptions options = {});
  // Uses an existing channel; `options` only supplies default_timeout.
  explicit Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options = {});

  absl::StatusOr<v1::ChatCompletion> CreateChatCompletion(
      const v1::CreateChatCompletionRequest& request, const CallOptions& options = {});
  absl::Status StreamChatCompletion(const v1::CreateChatCompletionRequest& request,
                                    const StreamCallback<v1::ChatCompletionChunk>& on_chunk,
                                    const CallOptions& options = {});

  absl::StatusOr<v1::Response> CreateResponse(const v1::CreateResponseRequest& request,
                                               const CallOptions& options = {});
  absl::Status StreamResponse(const v1::CreateResponseRequest& request,
                              const StreamCallback<v1::ResponseEvent>& on_event,
                              const CallOptions& options = {});

  absl::StatusOr<v1::ImagesResponse> GenerateImages(const v1::GenerateImagesRequest& request,
                                                    const CallOptions& options = {});
  absl::StatusOr<v1::ImagesResponse> EditImage(const v1::EditImageRequest& request,
                                               const CallOptions& options = {});

  absl::StatusOr<v1::CreateEmbeddingsResponse> CreateEmbeddings(
      const v1::CreateEmbeddingsRequest& request, const CallOptions& options = {});

  // grpc.health.v1.Health/Check; "" asks about the server as a whole.
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> CheckHealth(
      const std::string& service = "", const CallOptions& options = {});

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  // Runs `call` with a context set up from `options`; see client.cc.
  template <typename Call>
  absl::Status Run(const CallOptions& options, Call&& call);

  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ChatService::Stub> chat_;
  std::unique_ptr<v1::ResponsesService::Stub> responses_;
  std::unique_ptr<v1::ImagesService::Stub> images_;
  std::unique_ptr<v1::EmbeddingsService::Stub> embeddings_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

// The channel Client(target, options) uses, for callers who want their own stubs.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           const ClientOptions& options);
// The channel arguments and service config JSON made from `options` (exposed for tests and
// for callers building channels themselves).
grpc::ChannelArguments MakeChannelArguments(const ClientOptions& options);
std::string MakeServiceConfigJson(const ClientOptions& options);

// grpc::Status -> absl::Status, keeping the details as the kStatusDetailsTypeUrl payload.
absl::Status FromGrpcStatus(const grpc::Status& status);
// The google.rpc.ErrorInfo in a failed call's details, if any.
std::optional<google::rpc::ErrorInfo> ErrorInfoOf(const absl::Status& status);
// ErrorInfo's reason (the upstream's error code, e.g. "rate_limit_exceeded"), or "".
std::string ErrorReason(const absl::Status& status);
// google.rpc.RetryInfo's delay, if the server gave one (upstream 429 / 503).
std::optional<absl::Duration> RetryDelayOf(const absl::Status& status);

}  // namespace gengate
