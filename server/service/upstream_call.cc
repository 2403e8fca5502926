#include "service/upstream_call.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/visible_ascii.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "observability/log.h"
#include "observability/request_id.h"

namespace gengate::service {
namespace {

std::string_view Metadata(const grpc::CallbackServerContext& context, std::string_view key) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return {};
  return std::string_view(it->second.data(), it->second.size());
}

std::string HostOf(std::string_view url) {
  std::size_t start = url.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  std::size_t end = url.find_first_of(":/", start);
  return std::string(url.substr(start, end == std::string_view::npos ? end : end - start));
}

// The ErrorInfo that a failed status carries (the upstream request id, which Ace sends as
// trace_id in the body, and the reason), if any.
std::optional<google::rpc::ErrorInfo> ErrorInfoOf(const grpc::Status& status) {
  if (status.error_details().empty()) return std::nullopt;
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return std::nullopt;
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return info;
  }
  return std::nullopt;
}

// The upstream's request id as it may travel in gRPC metadata and a log line: 1-128 bytes of
// printable ASCII, no spaces (gRPC refuses a byte outside 0x20-0x7E in a text header, and the
// whole call with it), else nothing. An id is dropped, not mended: a mended id would name some
// other request.
std::string UpstreamRequestId(std::string_view id) {
  constexpr std::size_t kMaxBytes = 128;
  if (id.size() > kMaxBytes || !base::IsVisibleAscii(id)) return {};
  return std::string(id);
}

std::string_view CodeName(grpc::StatusCode code) {
  static constexpr std::string_view kNames[] = {
      "OK",           "CANCELLED",          "UNKNOWN",           "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED", "NOT_FOUND",     "ALREADY_EXISTS",    "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",     "OUT_OF_RANGE",
      "UNIMPLEMENTED", "INTERNAL",          "UNAVAILABLE",       "DATA_LOSS",
      "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  return index >= 0 && index < 17 ? kNames[index] : "UNKNOWN";
}

}  // namespace

UpstreamSettings UpstreamSettings::FromConfig(const config::Config& config) {
  UpstreamSettings settings;
  settings.base_url = config.upstream_url;
  settings.host = HostOf(config.upstream_url);
  settings.api_key = config.upstream_api_key;
  settings.default_timeout = config.default_timeout;
  settings.stream_idle_timeout = config.stream_idle_timeout;
  settings.stream_buffer_bytes = config.stream_buffer_bytes;
  settings.max_message_bytes = config.max_message_bytes;
  if (!config.sched_batch) settings.conclude_in_place_bytes = 0;
  return settings;
}

CallContext::CallContext(const ServiceEnv& env, grpc::CallbackServerContext& context,
                         std::string_view method)
    : env_(env), context_(context), method_(method), start_(absl::Now()) {
  request_id_ = observability::RequestIdFromCaller(Metadata(context, "x-request-id"));
  traceparent_ = std::string(Metadata(context, "traceparent"));
  const auto caller_deadline = context.deadline();
  caller_deadline_ = caller_deadline == std::chrono::system_clock::time_point::max()
                         ? absl::InfiniteFuture()
                         : absl::FromChrono(caller_deadline);
  deadline_ = std::min(caller_deadline_, start_ + env.settings.default_timeout);
  upstream_.host = env.settings.host;
  upstream_.api_key = env.settings.api_key;
  peer_ = context.peer();
  metrics_ = env.metrics;
  if (metrics_ != nullptr) {
    method_metrics_ = &metrics_->ForMethod(method_);
    metrics_->CallStarted(*method_metrics_);
  }
}

CallContext::~CallContext() {
  if (!completed_ && metrics_ != nullptr) {
    metrics_->CallFinished(*method_metrics_, static_cast<int>(grpc::StatusCode::UNKNOWN),
                           absl::Now() - start_);
  }
}

void CallContext::NotePayload(const UpstreamBody& body) {
  const bool keep = observability::LogPayloads();
  if (body.form.empty()) {
    payload_bytes_ = static_cast<std::int64_t>(body.json.size());
    if (keep) payload_ = body.json.substr(0, kMaxLoggedPayloadBytes);
    return;
  }
  payload_bytes_ = 0;
  for (const http::FormPart& part : body.form) {
    payload_bytes_ += static_cast<std::int64_t>(part.value.size());
    if (!keep) continue;
    // Text fields as they are; files (images, masks) by name and size only.
    absl::StrAppend(&payload_, payload_.empty() ? "" : "&", part.name, "=",
                    part.filename.empty() ? part.value
                                          : absl::StrCat("<file ", part.filename, ", ",
                                                         part.value.size(), " bytes>"));
  }
  if (payload_.size() > kMaxLoggedPayloadBytes) payload_.resize(kMaxLoggedPayloadBytes);
}

absl::Status CheckRequestSize(const google::protobuf::Message& request,
                              const UpstreamSettings& settings) {
  const std::size_t request_bytes = request.ByteSizeLong();
  if (request_bytes > static_cast<std::size_t>(settings.max_message_bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request is ", request_bytes, " bytes, over the limit of ",
                     settings.max_message_bytes, " bytes (--max_message_bytes)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<UpstreamBody> JsonBody(const google::protobuf::Message& request,
                                      const UpstreamSettings& settings,
                                      absl::FunctionRef<absl::StatusOr<std::string>()> translate) {
  if (absl::Status size = CheckRequestSize(request, settings); !size.ok()) return size;
  absl::StatusOr<std::string> json = translate();
  if (!json.ok()) return json.status();
  return UpstreamBody{*std::move(json), {}};
}

http::Request CallContext::MakeRequest(std::string_view path, UpstreamBody body,
                                       bool stream) const {
  http::Request request;
  request.url = absl::StrCat(env_.settings.base_url, std::string(path));
  request.deadline = stream ? caller_deadline_ : deadline_;
  request.headers.reserve(6);
  if (body.form.empty()) {
    request.body = std::move(body.json);
    request.headers.push_back({"Content-Type", "application/json"});
  } else {
    request.form = std::move(body.form);  // curl sets the multipart Content-Type and boundary
  }
  if (!env_.settings.api_key.empty()) {
    request.headers.push_back({"Authorization", absl::StrCat("Bearer ", env_.settings.api_key)});
  }
  request.headers.push_back({"X-Request-Id", request_id_});
  if (!traceparent_.empty()) request.headers.push_back({"traceparent", traceparent_});
  if (stream) {
    request.headers.push_back({"Accept", "text/event-stream"});
    request.idle_timeout = env_.settings.stream_idle_timeout;
  }
  return request;
}

void CallContext::PlaceRequestId(bool in_trailers) {
  absl::MutexLock lock(&request_id_mu_);
  if (request_id_placed_) return;
  request_id_placed_ = true;
  if (in_trailers) {
    context_.AddTrailingMetadata("x-request-id", request_id_);
  } else {
    context_.AddInitialMetadata("x-request-id", request_id_);
  }
}

void CallContext::OnUpstreamHead(const http::ResponseHead& head) {
  PlaceRequestId(/*in_trailers=*/false);
  std::string_view id = head.Find("x-request-id");
  if (id.empty()) id = head.Find("trace-id");
  if (id.empty()) id = head.Find("x-trace-id");
  std::string checked = UpstreamRequestId(id);
  absl::MutexLock lock(&head_mu_);
  upstream_status_ = head.status;
  upstream_.request_id = std::move(checked);
}

bool CallContext::DeadlinePassed() const {
  // gRPC's timers tick in milliseconds and its clock is not absl's.
  constexpr absl::Duration kTimerSlack = absl::Milliseconds(5);
  return absl::Now() + kTimerSlack >= caller_deadline_;
}

void CallContext::OnStreamMessage(std::size_t bytes) {
  const bool first = stream_messages_.fetch_add(1, std::memory_order_relaxed) == 0;
  stream_bytes_.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
  const absl::Duration since_start = absl::Now() - start_;
  if (first) {
    first_message_us_.store(absl::ToInt64Microseconds(since_start), std::memory_order_relaxed);
  }
  if (metrics_ != nullptr) {
    metrics_->StreamMessageQueued(*method_metrics_, bytes, first, since_start);
  }
}

void CallContext::OnSlowReader() {
  if (metrics_ != nullptr) metrics_->SlowReaderAborted(*method_metrics_);
}

void CallContext::OnAnswerDecoded(absl::Duration elapsed) {
  if (metrics_ != nullptr) metrics_->AnswerDecoded(*method_metrics_, elapsed);
}

void CallContext::Complete(const grpc::Status& status) {
  const absl::Duration latency = absl::Now() - start_;
  completed_ = true;
  const std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status);
  PlaceRequestId(status.error_code() == grpc::StatusCode::UNAVAILABLE && info.has_value() &&
                 status::NeverReachedUpstream(info->reason()));
  int upstream_status;
  std::string upstream_request_id;
  {
    absl::MutexLock lock(&head_mu_);
    upstream_status = upstream_status_;
    upstream_request_id = upstream_.request_id;
  }
  if (upstream_request_id.empty() && info.has_value()) {
    // Ace's trace_id from an error body.
    auto it = info->metadata().find("upstream_request_id");
    if (it != info->metadata().end()) upstream_request_id = UpstreamRequestId(it->second);
  }
  if (!upstream_request_id.empty()) {
    context_.AddTrailingMetadata("x-upstream-request-id", upstream_request_id);
  }
  // Token counts are whatever usage the upstream reported, also for a stream cut short.
  const std::int64_t input_tokens = usage_.input.load();
  const std::int64_t output_tokens = usage_.output.load();
  if (metrics_ != nullptr) {
    metrics_->CallFinished(*method_metrics_, static_cast<int>(status.error_code()), latency);
    metrics_->TokensUsed(model_, input_tokens, output_tokens);
    if (info.has_value() && !info->reason().empty()) metrics_->UpstreamError(info->reason());
  }
  const std::int64_t first_message_us = first_message_us_.load(std::memory_order_relaxed);
  const double first_message_ms =
      first_message_us < 0 ? -1.0 : static_cast<double>(first_message_us) / 1000.0;
  const std::string& message = status.error_message();
  const std::string_view reason = info.has_value() ? std::string_view(info->reason()) : "";
  const auto level =
      status.ok() ? observability::LogLevel::kInfo : observability::LogLevel::kWarning;
  // Never the API key (it is only in a request header) and never prompt or completion text,
  // unless --log_payloads asked for the request body.
  std::vector<observability::LogField> fields = {
      {"method", method_},
      {"request_id", request_id_},
      {"code", CodeName(status.error_code())},
      {"latency_ms", absl::ToDoubleMilliseconds(latency)},
      {"model", model_},
      {"prompt_tokens", input_tokens},
      {"completion_tokens", output_tokens},
      {"upstream_status", upstream_status},
      {"upstream_request_id", upstream_request_id},
      {"payload_bytes", payload_bytes_},
      {"stream_messages", stream_messages_.load()},
      {"first_message_ms", first_message_ms},
      {"peer", peer_},
      {"reason", reason},
      {"error", message}};
  if (!payload_.empty()) fields.emplace_back("payload", payload_);
  observability::Log(level, "call", fields);
}

grpc::Status TransferFailureStatus(const http::TransferResult& result,
                                   const status::UpstreamContext& upstream) {
  return status::MapTransportFailure(*result.failure, result.detail, upstream);
}

grpc::Status UpstreamErrorStatus(int http_status, const http::ResponseHead& head,
                                 std::string_view body, const status::UpstreamContext& upstream) {
  status::UpstreamAnswer answer;
  answer.http_status = http_status;
  answer.body = body;
  answer.content_type = head.Find("content-type");
  answer.retry_after =
      status::ParseRetryAfter(head.Find("retry-after-ms"), head.Find("retry-after"));
  return status::MapUpstreamError(answer, upstream);
}

}  // namespace gengate::service
