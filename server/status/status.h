// The one place that turns upstream failures into gRPC statuses (DESIGN.md section 3).
//
// Every failed call leaves gengate through one of these functions, so the mapping table, the
// google.rpc.ErrorInfo / RetryInfo details and the redaction rules live here and nowhere else.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"

namespace gengate::status {

// Why a transfer failed without a usable HTTP answer. The http library maps curl's codes to
// these; nothing outside http/ sees curl.
enum class TransportFailure {
  kConnect,         // connection refused or reset before any answer
  kResolve,         // DNS lookup failed
  kTls,             // TLS handshake or certificate failure
  kReset,           // connection reset or closed in the middle of the answer
  kTimeout,         // the caller's deadline (or --default_timeout) passed
  kIdleTimeout,     // a stream got no upstream bytes for --stream_idle_timeout
  kCancelled,       // the caller cancelled
  kBufferOverflow,  // a slow reader let the per-stream buffer pass its cap
  kShuttingDown,    // the gateway is draining
  kInternal,        // anything else (out of memory, curl misuse, ...)
};

// What is known about the upstream of one call; used for details and redaction.
struct UpstreamContext {
  std::string host;        // ErrorInfo.domain, e.g. "api.acedata.cloud"
  std::string request_id;  // upstream request id (x-request-id / trace_id), may be empty
  std::string api_key;     // never shown: removed from every message
};

// An HTTP answer with a non-2xx status.
struct UpstreamAnswer {
  int http_status = 0;
  std::string_view body;
  std::string_view content_type;
  // From `retry-after-ms` or `retry-after` (seconds) headers, when present.
  std::optional<absl::Duration> retry_after;
};

// Maps an upstream error answer (either error envelope, or HTML / empty / garbage) to a status
// with ErrorInfo{reason = upstream code, domain = host, metadata{http_status,
// upstream_request_id}} and RetryInfo for 429/503 when a delay is known. The message is the
// upstream's own message, cut to 512 bytes, never an HTML page and never the API key.
grpc::Status MapUpstreamError(const UpstreamAnswer& answer, const UpstreamContext& context);

// Maps a transport failure. `detail` is a short human explanation (e.g. curl's error text).
grpc::Status MapTransportFailure(TransportFailure failure, std::string_view detail,
                                 const UpstreamContext& context);

// A 2xx answer (or a stream event) that could not be parsed: INTERNAL.
grpc::Status MalformedUpstream(std::string_view what, const UpstreamContext& context);

// An error payload inside a stream (`{"error": {...}}` or a Responses `error` /
// `response.failed` event's JSON): INTERNAL with the upstream's message and code as reason.
grpc::Status MapStreamError(std::string_view event_json, const UpstreamContext& context);

// Converts our own validation and logic errors (absl::Status) to gRPC, same code and message.
grpc::Status FromAbsl(const absl::Status& status);

// Parses `retry-after-ms` (milliseconds) or else `retry-after` (seconds; HTTP dates ignored).
std::optional<absl::Duration> ParseRetryAfter(std::string_view retry_after_ms,
                                              std::string_view retry_after);

}  // namespace gengate::status
