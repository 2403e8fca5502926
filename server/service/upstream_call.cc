#include "service/upstream_call.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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

// The upstream request id that status details carry (Ace sends it as trace_id in the body).
std::string RequestIdFromDetails(const grpc::Status& status) {
  if (status.error_details().empty()) return {};
  google::rpc::Status details;
  if (!details.ParseFromString(status.error_details())) return {};
  for (const auto& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) {
      auto it = info.metadata().find("upstream_request_id");
      if (it != info.metadata().end()) return it->second;
    }
  }
  return {};
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
  return settings;
}

CallContext::CallContext(const ServiceEnv& env, grpc::CallbackServerContext& context,
                         std::string_view method)
    : env_(env), method_(method), start_(absl::Now()) {
  request_id_ = observability::RequestIdFromCaller(Metadata(context, "x-request-id"));
  traceparent_ = std::string(Metadata(context, "traceparent"));
  context.AddInitialMetadata("x-request-id", request_id_);
  const auto caller_deadline = context.deadline();
  const absl::Time fallback = start_ + env.settings.default_timeout;
  deadline_ = caller_deadline == std::chrono::system_clock::time_point::max()
                  ? fallback
                  : std::min(fallback, absl::FromChrono(caller_deadline));
  upstream_.host = env.settings.host;
  upstream_.api_key = env.settings.api_key;
}

http::Request CallContext::MakeRequest(std::string_view path, std::string body,
                                       bool stream) const {
  http::Request request;
  request.url = absl::StrCat(env_.settings.base_url, std::string(path));
  request.body = std::move(body);
  request.deadline = deadline_;
  request.headers.reserve(6);
  request.headers.push_back({"Content-Type", "application/json"});
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

void CallContext::OnUpstreamHead(const http::ResponseHead& head) {
  upstream_status_ = head.status;
  std::string_view id = head.Find("x-request-id");
  if (id.empty()) id = head.Find("trace-id");
  if (id.empty()) id = head.Find("x-trace-id");
  upstream_.request_id = std::string(id);
}

void CallContext::Complete(const grpc::Status& status, grpc::CallbackServerContext& context) {
  if (upstream_.request_id.empty()) upstream_.request_id = RequestIdFromDetails(status);
  if (!upstream_.request_id.empty()) {
    context.AddTrailingMetadata("x-upstream-request-id", upstream_.request_id);
  }
  const double latency_ms = absl::ToDoubleMilliseconds(absl::Now() - start_);
  const std::string& message = status.error_message();
  observability::Log(
      status.ok() ? observability::LogLevel::kInfo : observability::LogLevel::kWarning, "call",
      {{"method", method_},
       {"request_id", request_id_},
       {"code", CodeName(status.error_code())},
       {"latency_ms", latency_ms},
       {"model", model_},
       {"prompt_tokens", usage_.input.load()},
       {"completion_tokens", usage_.output.load()},
       {"upstream_status", upstream_status_},
       {"upstream_request_id", upstream_.request_id},
       {"error", message}});
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
