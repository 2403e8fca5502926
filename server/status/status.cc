#include "status/status.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "nlohmann/json.hpp"

namespace gengate::status {
namespace {

using Json = nlohmann::json;

constexpr char kRedacted[] = "[REDACTED]";
constexpr std::string_view kEllipsis = "...";
// Upstream-controlled strings that end up in ErrorInfo get a bound too; a reason or request id
// longer than this is not an identifier anymore.
constexpr std::size_t kMaxReasonBytes = 128;
constexpr std::size_t kMaxMetadataBytes = 256;
// Content types are echoed in messages about non-JSON bodies; anything longer is not one.
constexpr std::size_t kMaxContentTypeBytes = 64;
// Beyond this a Retry-After is more likely garbage than advice.
constexpr absl::Duration kMaxRetryAfter = absl::Hours(24 * 7);

// This abseil's string_view is its own type, not an alias of std::string_view.
absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

// Length of the valid UTF-8 sequence starting at text[i], or 0 when it is not valid
// (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char min_second = 0x80, max_second = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) min_second = 0xA0;
    if (lead == 0xED) max_second = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) min_second = 0x90;
    if (lead == 0xF4) max_second = 0x8F;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < min_second || byte(i + 1) > max_second) return 0;
  for (std::size_t k = 2; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return length;
}

// Proto3 strings must be valid UTF-8 or the details fail to parse on the caller's side, so
// every invalid byte becomes '?'.
std::string ToValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      out.push_back('?');
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

// Cuts valid UTF-8 to at most `max_bytes`, never inside a character; a cut text ends in "...".
void CutOnUtf8Boundary(std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return;
  std::size_t cut = max_bytes - kEllipsis.size();
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  text.append(kEllipsis);
}

// Makes upstream- or caller-supplied text safe to show: valid UTF-8, no API key, bounded.
// The key is removed before cutting so that no cut can leave it whole.
std::string Clean(std::string_view text, const UpstreamContext& context, std::size_t max_bytes) {
  std::string out = ToValidUtf8(text);
  if (!context.api_key.empty()) {
    out = absl::StrReplaceAll(out, {{context.api_key, kRedacted}});
  }
  CutOnUtf8Boundary(out, max_bytes);
  return out;
}

// The parts of an upstream error that reach the caller.
struct UpstreamError {
  std::string message;
  std::string reason;
  std::string request_id;
};

std::string StringField(const Json& object, std::string_view name) {
  const auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// Reads {"message", "code", "type"} from one error object. A numeric or null `code` says
// nothing a caller can switch on, so `type` stands in for it.
void ReadErrorObject(const Json& error, UpstreamError& out) {
  if (out.message.empty()) out.message = StringField(error, "message");
  if (out.reason.empty()) out.reason = StringField(error, "code");
  if (out.reason.empty()) out.reason = StringField(error, "type");
}

// Understands OpenAI's {"error": {...}}, Ace's {"success": false, "error": {...}, "trace_id"}
// and, defensively, {"error": "text"} and a top-level {"message", "code"}.
UpstreamError ReadErrorEnvelope(const Json& body) {
  UpstreamError out;
  if (const auto error = body.find("error"); error != body.end()) {
    if (error->is_object()) {
      ReadErrorObject(*error, out);
    } else if (error->is_string()) {
      out.message = error->get<std::string>();
    }
  }
  ReadErrorObject(body, out);
  out.request_id = StringField(body, "trace_id");
  return out;
}

// A parsed JSON object, or nullopt for anything else (not JSON, or JSON but not an object).
std::optional<Json> ParseObject(std::string_view text) {
  Json parsed = Json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return std::nullopt;
  return parsed;
}

// "text/html; charset=UTF-8" -> "text/html"; anything that is not a media type is dropped,
// since it is echoed back to the caller.
std::string MediaType(std::string_view content_type) {
  const absl::string_view media =
      absl::StripAsciiWhitespace(AbslView(content_type.substr(0, content_type.find(';'))));
  if (media.empty() || media.size() > kMaxContentTypeBytes) return "";
  for (const char c : media) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '.' &&
        c != '+' && c != '-' && c != '_') {
      return "";
    }
  }
  return absl::AsciiStrToLower(media);
}

// Said instead of a body that has no usable message; never quotes the body itself.
std::string DescribeBody(const UpstreamAnswer& answer, bool is_json) {
  const std::string prefix = absl::StrCat("upstream answered HTTP ", answer.http_status);
  if (absl::StripAsciiWhitespace(AbslView(answer.body)).empty()) {
    return prefix + " with an empty body";
  }
  const std::string media = MediaType(answer.content_type);
  const std::string suffix = media.empty() ? "" : absl::StrCat(" (", media, ")");
  if (is_json) return absl::StrCat(prefix, " without an error message", suffix);
  return absl::StrCat(prefix, " with a non-JSON body", suffix);
}

// DESIGN.md section 3, plus a choice for every status the table does not name.
grpc::StatusCode CodeForHttpStatus(int http_status) {
  switch (http_status) {
    case 400:
    case 413:
    case 422:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case 401:
      return grpc::StatusCode::UNAUTHENTICATED;
    case 403:
      return grpc::StatusCode::PERMISSION_DENIED;
    case 404:
      return grpc::StatusCode::NOT_FOUND;
    case 409:
      return grpc::StatusCode::ABORTED;
    case 429:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case 500:
      return grpc::StatusCode::INTERNAL;
    case 502:
    case 503:
      return grpc::StatusCode::UNAVAILABLE;
    case 504:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    // Request Timeout: the upstream gave up waiting, like a deadline; retrying may work.
    case 408:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    // Gone: the resource (model, endpoint) no longer exists; a caller treats it as 404.
    case 410:
      return grpc::StatusCode::NOT_FOUND;
    // Unavailable For Legal Reasons: a refusal to serve this caller, not a bad request.
    case 451:
      return grpc::StatusCode::PERMISSION_DENIED;
    // Not Implemented: the upstream does not offer this method.
    case 501:
      return grpc::StatusCode::UNIMPLEMENTED;
    default:
      break;
  }
  // Other 4xx (and 412 by name): the upstream refused the request as it stands. Not
  // INVALID_ARGUMENT, which would blame the request's fields without evidence, and not
  // retryable as is; FAILED_PRECONDITION says exactly that.
  if (http_status >= 400 && http_status <= 499) return grpc::StatusCode::FAILED_PRECONDITION;
  // Other 5xx (505, 507, proxies' 520-599): the upstream or a proxy in front of it is not
  // serving right now; UNAVAILABLE tells the caller that a retry with backoff is reasonable.
  if (http_status >= 500 && http_status <= 599) return grpc::StatusCode::UNAVAILABLE;
  // 1xx/2xx/3xx handed to us: the answer could not be used (unparseable, redirect not
  // followed), which is our side's failure to understand it.
  return grpc::StatusCode::INTERNAL;
}

// Assembles the status: the same code and message in the grpc::Status and in the serialized
// google.rpc.Status, whose details hold the ErrorInfo and, when given, a RetryInfo.
grpc::Status MakeStatus(grpc::StatusCode code, const std::string& message,
                        const google::rpc::ErrorInfo& info,
                        std::optional<absl::Duration> retry_delay = std::nullopt) {
  google::rpc::Status details;
  details.set_code(static_cast<std::int32_t>(code));
  details.set_message(message);
  details.add_details()->PackFrom(info);
  if (retry_delay.has_value()) {
    absl::Duration remainder;
    const std::int64_t seconds = absl::IDivDuration(*retry_delay, absl::Seconds(1), &remainder);
    google::rpc::RetryInfo retry;
    retry.mutable_retry_delay()->set_seconds(seconds);
    retry.mutable_retry_delay()->set_nanos(
        static_cast<std::int32_t>(absl::ToInt64Nanoseconds(remainder)));
    details.add_details()->PackFrom(retry);
  }
  return grpc::Status(code, message, details.SerializeAsString());
}

// ErrorInfo with domain = host and the request id (ours first, else the upstream body's).
google::rpc::ErrorInfo MakeErrorInfo(std::string_view reason, const UpstreamContext& context,
                                     std::string_view body_request_id = {}) {
  google::rpc::ErrorInfo info;
  info.set_reason(Clean(reason, context, kMaxReasonBytes));
  info.set_domain(context.host);
  const std::string_view request_id =
      context.request_id.empty() ? body_request_id : std::string_view(context.request_id);
  if (!request_id.empty()) {
    (*info.mutable_metadata())["upstream_request_id"] =
        Clean(request_id, context, kMaxMetadataBytes);
  }
  return info;
}

// "upstream api.acedata.cloud", or just "upstream" when the host is not known.
std::string UpstreamName(const UpstreamContext& context) {
  return context.host.empty() ? "upstream" : absl::StrCat("upstream ", context.host);
}

std::optional<absl::Duration> BoundedDelay(absl::Duration delay) {
  if (delay < absl::ZeroDuration() || delay > kMaxRetryAfter) return std::nullopt;
  return delay;
}

}  // namespace

grpc::Status MapUpstreamError(const UpstreamAnswer& answer, const UpstreamContext& context) {
  const grpc::StatusCode code = CodeForHttpStatus(answer.http_status);
  const Json body = Json::parse(answer.body, /*cb=*/nullptr, /*allow_exceptions=*/false);
  UpstreamError error;
  if (body.is_object()) error = ReadErrorEnvelope(body);

  std::string message = error.message;
  if (message.empty()) message = DescribeBody(answer, /*is_json=*/!body.is_discarded());

  std::string reason = error.reason;
  if (reason.empty()) {
    const bool success_status = answer.http_status >= 200 && answer.http_status <= 299;
    reason = success_status ? std::string(kMalformedUpstreamReason)
                            : absl::StrCat("upstream_http_", answer.http_status);
  }

  google::rpc::ErrorInfo info = MakeErrorInfo(reason, context, error.request_id);
  (*info.mutable_metadata())["http_status"] = absl::StrCat(answer.http_status);

  std::optional<absl::Duration> retry_delay;
  if (answer.http_status == 429 || answer.http_status == 503) retry_delay = answer.retry_after;

  return MakeStatus(code, Clean(message, context, kMaxStatusMessageBytes), info, retry_delay);
}

namespace {

// The reasons of failures whose request cannot have reached the upstream.
constexpr std::string_view kUnreachableReason = "upstream_unreachable";
constexpr std::string_view kDnsFailedReason = "upstream_dns_failed";
constexpr std::string_view kTlsFailedReason = "upstream_tls_failed";
constexpr std::string_view kShuttingDownReason = "shutting_down";

}  // namespace

bool NeverReachedUpstream(std::string_view reason) {
  return reason == kUnreachableReason || reason == kDnsFailedReason ||
         reason == kTlsFailedReason || reason == kShuttingDownReason;
}

grpc::Status MapTransportFailure(TransportFailure failure, std::string_view detail,
                                 const UpstreamContext& context) {
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  std::string_view reason;
  std::string message;
  const std::string upstream = UpstreamName(context);
  switch (failure) {
    case TransportFailure::kConnect:
      code = grpc::StatusCode::UNAVAILABLE;
      reason = kUnreachableReason;
      message = absl::StrCat("could not connect to ", upstream);
      break;
    case TransportFailure::kResolve:
      code = grpc::StatusCode::UNAVAILABLE;
      reason = kDnsFailedReason;
      message = absl::StrCat("could not resolve the host of ", upstream);
      break;
    case TransportFailure::kTls:
      code = grpc::StatusCode::UNAVAILABLE;
      reason = kTlsFailedReason;
      message = absl::StrCat("TLS with ", upstream, " failed");
      break;
    case TransportFailure::kReset:
      code = grpc::StatusCode::UNAVAILABLE;
      reason = "upstream_connection_reset";
      message = absl::StrCat("the connection to ", upstream, " broke off mid-answer");
      break;
    case TransportFailure::kTimeout:
      code = grpc::StatusCode::DEADLINE_EXCEEDED;
      reason = "upstream_timeout";
      message = absl::StrCat("the deadline passed while waiting for ", upstream);
      break;
    case TransportFailure::kIdleTimeout:
      code = grpc::StatusCode::DEADLINE_EXCEEDED;
      reason = "stream_idle_timeout";
      message = absl::StrCat(upstream, " sent nothing for longer than the stream idle timeout");
      break;
    case TransportFailure::kCancelled:
      code = grpc::StatusCode::CANCELLED;
      reason = "cancelled";
      message = "the call was cancelled by the caller";
      break;
    case TransportFailure::kBufferOverflow:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      reason = "slow_reader";
      message = "the caller read the stream too slowly: the per-stream buffer passed its cap";
      break;
    case TransportFailure::kShuttingDown:
      code = grpc::StatusCode::UNAVAILABLE;
      reason = kShuttingDownReason;
      message = "gengate is shutting down";
      break;
    case TransportFailure::kInternal:
      code = grpc::StatusCode::INTERNAL;
      reason = "gateway_internal_error";
      message = absl::StrCat("gengate failed internally while calling ", upstream);
      break;
  }
  if (!detail.empty()) absl::StrAppend(&message, ": ", AbslView(detail));
  return MakeStatus(code, Clean(message, context, kMaxStatusMessageBytes),
                    MakeErrorInfo(reason, context));
}

grpc::Status MalformedUpstream(std::string_view what, const UpstreamContext& context) {
  std::string message = absl::StrCat("malformed answer from ", UpstreamName(context));
  if (!what.empty()) absl::StrAppend(&message, ": ", AbslView(what));
  return MakeStatus(grpc::StatusCode::INTERNAL, Clean(message, context, kMaxStatusMessageBytes),
                    MakeErrorInfo(kMalformedUpstreamReason, context));
}

grpc::Status MapStreamError(std::string_view event_json, const UpstreamContext& context) {
  const std::optional<Json> event = ParseObject(event_json);
  if (!event.has_value()) return MalformedUpstream("a stream error event is not JSON", context);

  UpstreamError error;
  const std::string type = StringField(*event, "type");
  if (type == "response.failed") {
    // The error sits in the failed response: {"response": {"error": {"code", "message"}}}.
    if (const auto response = event->find("response");
        response != event->end() && response->is_object()) {
      if (const auto nested = response->find("error");
          nested != response->end() && nested->is_object()) {
        ReadErrorObject(*nested, error);
      }
    }
  } else {
    // Chat's {"error": {...}}, the Responses `error` event (fields nested or at the top).
    if (const auto nested = event->find("error"); nested != event->end()) {
      if (nested->is_object()) {
        ReadErrorObject(*nested, error);
      } else if (nested->is_string()) {
        error.message = nested->get<std::string>();
      }
    }
    error.message = error.message.empty() ? StringField(*event, "message") : error.message;
    error.reason = error.reason.empty() ? StringField(*event, "code") : error.reason;
    // A top-level `type` is the event's own type ("error"), not an error type.
    if (error.reason.empty() && type != "error") error.reason = type;
  }
  if (error.message.empty()) {
    error.message = absl::StrCat(UpstreamName(context), " ended the stream with an error");
  }
  if (error.reason.empty()) error.reason = "upstream_stream_error";
  return MakeStatus(grpc::StatusCode::INTERNAL,
                    Clean(error.message, context, kMaxStatusMessageBytes),
                    MakeErrorInfo(error.reason, context));
}

grpc::Status FromAbsl(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.raw_code()),
                      std::string(status.message()));
}

std::optional<absl::Duration> ParseRetryAfter(std::string_view retry_after_ms,
                                              std::string_view retry_after) {
  const absl::string_view millis_text = absl::StripAsciiWhitespace(AbslView(retry_after_ms));
  if (double millis = 0;
      absl::SimpleAtod(millis_text, &millis) && std::isfinite(millis) && millis >= 0) {
    if (auto delay = BoundedDelay(absl::Milliseconds(millis)); delay.has_value()) return delay;
  }
  // Integer seconds only; an HTTP date fails to parse and is ignored.
  const absl::string_view seconds_text = absl::StripAsciiWhitespace(AbslView(retry_after));
  if (std::int64_t seconds = 0; absl::SimpleAtoi(seconds_text, &seconds) && seconds >= 0) {
    return BoundedDelay(absl::Seconds(seconds));
  }
  return std::nullopt;
}

}  // namespace gengate::status
