#include "gengate/client.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace gengate {
namespace {

// The services the retry policy covers.
constexpr const char* kServices[] = {
    "gengate.v1.ChatService", "gengate.v1.ResponsesService", "gengate.v1.ImagesService",
    "gengate.v1.EmbeddingsService", "grpc.health.v1.Health"};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

int ClampedMilliseconds(absl::Duration duration) {
  if (duration == absl::InfiniteDuration()) return INT32_MAX;
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(duration), 0, INT32_MAX));
}

// A proto Duration in service config JSON form ("0.100s").
std::string JsonDuration(absl::Duration duration) {
  return absl::StrFormat("%.3fs", absl::ToDoubleSeconds(duration));
}

std::string MetadataValue(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                          absl::string_view key) {
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

std::optional<google::rpc::Status> StatusDetails(const absl::Status& status) {
  auto payload = status.GetPayload(kStatusDetailsTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  google::rpc::Status details;
  if (!details.ParseFromString(std::string(*payload))) return std::nullopt;
  return details;
}

template <typename Detail>
std::optional<Detail> FindDetail(const absl::Status& status) {
  std::optional<google::rpc::Status> details = StatusDetails(status);
  if (!details.has_value()) return std::nullopt;
  for (const google::protobuf::Any& any : details->details()) {
    Detail detail;
    if (any.Is<Detail>() && any.UnpackTo(&detail)) return detail;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<TlsOptions> TlsOptions::FromFiles(const std::string& root_certs_path,
                                                 const std::string& client_cert_path,
                                                 const std::string& client_key_path) {
  if (client_cert_path.empty() != client_key_path.empty()) {
    return absl::InvalidArgumentError("a client certificate and its key go together");
  }
  TlsOptions tls;
  if (!root_certs_path.empty()) {
    absl::StatusOr<std::string> roots = ReadFile(root_certs_path);
    if (!roots.ok()) return roots.status();
    tls.root_certs_pem = *std::move(roots);
  }
  if (!client_cert_path.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(client_cert_path);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(client_key_path);
    if (!key.ok()) return key.status();
    tls.client_cert_chain_pem = *std::move(cert);
    tls.client_private_key_pem = *std::move(key);
  }
  return tls;
}

// ---------------------------------------------------------------------------------------
// Cancellation.

void Cancellation::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  for (grpc::ClientContext* context : contexts_) context->TryCancel();
}

bool Cancellation::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool Cancellation::Attach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  contexts_.push_back(context);
  return true;
}

void Cancellation::Detach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  contexts_.erase(std::remove(contexts_.begin(), contexts_.end(), context), contexts_.end());
}

// ---------------------------------------------------------------------------------------
// Channel.

std::string MakeServiceConfigJson(const ClientOptions& options) {
  std::string config = absl::StrCat(R"({"loadBalancingConfig":[{")",
                                    options.load_balancing_policy, R"(":{}}])");
  if (options.retry.enabled && options.retry.max_attempts > 1) {
    std::vector<std::string> names;
    for (const char* service : kServices) names.push_back(absl::StrCat(R"({"service":")", service, R"("})"));
    absl::StrAppend(&config, R"(,"methodConfig":[{"name":[)", absl::StrJoin(names, ","),
                    R"(],"retryPolicy":{"maxAttempts":)", options.retry.max_attempts,
                    R"(,"initialBackoff":")", JsonDuration(options.retry.initial_backoff),
                    R"(","maxBackoff":")", JsonDuration(options.retry.max_backoff),
                    R"(","backoffMultiplier":)",
                    absl::StrFormat("%g", options.retry.backoff_multiplier),
                    R"(,"retryableStatusCodes":["UNAVAILABLE"]}}])");
  }
  absl::StrAppend(&config, "}");
  return config;
}

grpc::ChannelArguments MakeChannelArguments(const ClientOptions& options) {
  grpc::ChannelArguments arguments;
  arguments.SetServiceConfigJSON(MakeServiceConfigJson(options));
  arguments.SetMaxSendMessageSize(options.max_send_message_bytes);
  arguments.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  arguments.SetInt(GRPC_ARG_ENABLE_RETRIES, options.retry.enabled ? 1 : 0);
  if (options.keepalive_time > absl::ZeroDuration() &&
      options.keepalive_time != absl::InfiniteDuration()) {
    arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, ClampedMilliseconds(options.keepalive_time));
    arguments.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                     ClampedMilliseconds(options.keepalive_timeout));
    arguments.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
                     options.keepalive_without_calls ? 1 : 0);
    // Keep pinging during a long quiet stream (gRPC stops after 2 pings without data).
    arguments.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  if (options.tls.has_value() && !options.tls->server_name_override.empty()) {
    arguments.SetSslTargetNameOverride(options.tls->server_name_override);
  }
  return arguments;
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           const ClientOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls.has_value()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls->root_certs_pem;
    ssl.pem_cert_chain = options.tls->client_cert_chain_pem;
    ssl.pem_private_key = options.tls->client_private_key_pem;
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  return grpc::CreateCustomChannel(target, credentials, MakeChannelArguments(options));
}

// ---------------------------------------------------------------------------------------
// Errors.

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status result(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
  if (!status.error_details().empty()) {
    result.SetPayload(kStatusDetailsTypeUrl, absl::Cord(status.error_details()));
  }
  return result;
}

std::optional<google::rpc::ErrorInfo> ErrorInfoOf(const absl::Status& status) {
  return FindDetail<google::rpc::ErrorInfo>(status);
}

std::string ErrorReason(const absl::Status& status) {
  std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status);
  return info.has_value() ? info->reason() : "";
}

std::optional<absl::Duration> RetryDelayOf(const absl::Status& status) {
  std::optional<google::rpc::RetryInfo> info = FindDetail<google::rpc::RetryInfo>(status);
  if (!info.has_value() || !info->has_retry_delay()) return std::nullopt;
  return absl::Seconds(info->retry_delay().seconds()) +
         absl::Nanoseconds(info->retry_delay().nanos());
}

// ---------------------------------------------------------------------------------------
// Client.

Client::Client(const std::string& target, ClientOptions options)
    : Client(MakeChannel(target, options), options) {}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      chat_(v1::ChatService::NewStub(channel_)),
      responses_(v1::ResponsesService::NewStub(channel_)),
      images_(v1::ImagesService::NewStub(channel_)),
      embeddings_(v1::EmbeddingsService::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)) {}

// Sets up a context from `options`, runs `call(context)` (which returns a grpc::Status), and
// reports the metadata and the status.
template <typename Call>
absl::Status Client::Run(const CallOptions& options, Call&& call) {
  grpc::ClientContext context;
  std::optional<absl::Time> deadline = options.deadline;
  if (options.timeout.has_value()) {
    const absl::Time from_timeout = absl::Now() + *options.timeout;
    deadline = deadline.has_value() ? std::min(*deadline, from_timeout) : from_timeout;
  }
  if (!deadline.has_value() && options_.default_timeout != absl::InfiniteDuration()) {
    deadline = absl::Now() + options_.default_timeout;
  }
  if (deadline.has_value()) context.set_deadline(absl::ToChronoTime(*deadline));
  if (!options.request_id.empty()) context.AddMetadata(kRequestIdKey, options.request_id);
  for (const auto& [key, value] : options.metadata) context.AddMetadata(key, value);

  if (options.cancellation != nullptr && !options.cancellation->Attach(&context)) {
    return absl::CancelledError("cancelled before the call started");
  }
  const grpc::Status status = call(context);
  if (options.cancellation != nullptr) options.cancellation->Detach(&context);

  if (options.info != nullptr) {
    options.info->request_id = MetadataValue(context.GetServerInitialMetadata(), kRequestIdKey);
    if (options.info->request_id.empty()) {
      options.info->request_id = MetadataValue(context.GetServerTrailingMetadata(), kRequestIdKey);
    }
    options.info->upstream_request_id =
        MetadataValue(context.GetServerTrailingMetadata(), kUpstreamRequestIdKey);
  }
  return FromGrpcStatus(status);
}

namespace {

// Reads a server stream into `callback`; a false from the callback cancels the call, which
// then counts as a success.
template <typename Message>
grpc::Status ReadStream(grpc::ClientContext& context, grpc::ClientReader<Message>& reader,
                        const StreamCallback<Message>& callback) {
  Message message;
  while (reader.Read(&message)) {
    if (!callback(message)) {
      context.TryCancel();
      while (reader.Read(&message)) {
      }
      (void)reader.Finish();
      return grpc::Status::OK;
    }
  }
  return reader.Finish();
}

template <typename Response>
absl::StatusOr<Response> WithStatus(absl::Status status, Response response) {
  if (!status.ok()) return status;
  return response;
}

}  // namespace

absl::StatusOr<v1::ChatCompletion> Client::CreateChatCompletion(
    const v1::CreateChatCompletionRequest& request, const CallOptions& options) {
  v1::ChatCompletion response;
  absl::Status status = Run(options, [&](grpc::ClientContext& context) {
    return chat_->CreateChatCompletion(&context, request, &response);
  });
  return WithStatus(std::move(status), std::move(response));
}

absl::Status Client::StreamChatCompletion(const v1::CreateChatCompletionRequest& request,
                                          const StreamCallback<v1::ChatCompletionChunk>& on_chunk,
                                          const CallOptions& options) {
  return Run(options, [&](grpc::ClientContext& context) {
    auto reader = chat_->StreamChatCompletion(&context, request);
    return ReadStream(context, *reader, on_chunk);
  });
}

absl::StatusOr<v1::Response> Client::CreateResponse(const v1::CreateResponseRequest& request,
                                                    const CallOptions& options) {
  v1::Response response;
  absl::Status status = Run(options, [&](grpc::ClientContext& context) {
    return responses_->CreateResponse(&context, request, &response);
  });
  return WithStatus(std::move(status), std::move(response));
}

absl::Status Client::StreamResponse(const v1::CreateResponseRequest& request,
                                    const StreamCallback<v1::ResponseEvent>& on_event,
                                    const CallOptions& options) {
  return Run(options, [&](grpc::ClientContext& context) {
    auto reader = responses_->StreamResponse(&context, request);
    return ReadStream(context, *reader, on_event);
  });
}

absl::StatusOr<v1::ImagesResponse> Client::GenerateImages(const v1::GenerateImagesRequest& request,
                                                          const CallOptions& options) {
  v1::ImagesResponse response;
  absl::Status status = Run(options, [&](grpc::ClientContext& context) {
    return images_->GenerateImages(&context, request, &response);
  });
  return WithStatus(std::move(status), std::move(response));
}

absl::StatusOr<v1::ImagesResponse> Client::EditImage(const v1::EditImageRequest& request,
                                                     const CallOptions& options) {
  v1::ImagesResponse response;
  absl::Status status = Run(options, [&](grpc::ClientContext& context) {
    return images_->EditImage(&context, request, &response);
  });
  return WithStatus(std::move(status), std::move(response));
}

absl::StatusOr<v1::CreateEmbeddingsResponse> Client::CreateEmbeddings(
    const v1::CreateEmbeddingsRequest& request, const CallOptions& options) {
  v1::CreateEmbeddingsResponse response;
  absl::Status status = Run(options, [&](grpc::ClientContext& context) {
    return embeddings_->CreateEmbeddings(&context, request, &response);
  });
  return WithStatus(std::move(status), std::move(response));
}

absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> Client::CheckHealth(
    const std::string& service, const CallOptions& options) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  absl::Status status = Run(options, [&](grpc::ClientContext& context) {
    return health_->Check(&context, request, &response);
  });
  if (!status.ok()) return status;
  return response.status();
}

}  // namespace gengate
