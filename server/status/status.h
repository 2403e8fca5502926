// The one place that turns upstream failures into gRPC statuses (DESIGN.md section 3).
//
// Every failed call leaves gengate through one of these functions, so the mapping table, the
// google.rpc.ErrorInfo / RetryInfo details and the redaction rules live here and nowhere else.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"

namespace gengate::status {

// Why a transfer failed without a usable HTTP answer. The http library maps curl's codes to
// these; nothing outside http/ sees curl. The trailing comment names the gRPC code and the
// ErrorInfo.reason that MapTransportFailure gives each one.
enum class TransportFailure {
  kConnect,         // refused or reset before any answer: UNAVAILABLE, upstream_unreachable
  kResolve,         // DNS lookup failed: UNAVAILABLE, upstream_dns_failed
  kTls,             // TLS handshake or certificate failure: UNAVAILABLE, upstream_tls_failed
  kReset,           // reset in the middle of the answer: UNAVAILABLE, upstream_connection_reset
  kTimeout,         // caller's deadline (or --default_timeout): DEADLINE_EXCEEDED, upstream_timeout
  kIdleTimeout,     // no bytes for --stream_idle_timeout: DEADLINE_EXCEEDED, stream_idle_timeout
  kCancelled,       // the caller cancelled: CANCELLED, cancelled
  kBufferOverflow,  // slow reader, per-stream buffer past its cap: RESOURCE_EXHAUSTED, slow_reader
  kShuttingDown,    // the gateway is draining: UNAVAILABLE, shutting_down
  kInternal,        // anything else (out of memory, curl misuse): INTERNAL, gateway_internal_error
};

// Status messages are cut to this many bytes (on a UTF-8 boundary, ending in "...").
inline constexpr std::size_t kMaxStatusMessageBytes = 512;

// The ErrorInfo.reason of answers that could not be parsed (MalformedUpstream, unparseable
// stream error events, and a 2xx answer handed to MapUpstreamError without an error code).
inline constexpr std::string_view kMalformedUpstreamReason = "malformed_upstream_answer";

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
//
// Codes follow DESIGN.md section 3; statuses the table does not list: 408 DEADLINE_EXCEEDED,
// 410 NOT_FOUND, 412 FAILED_PRECONDITION, 451 PERMISSION_DENIED, other 4xx
// FAILED_PRECONDITION, 501 UNIMPLEMENTED, other 5xx UNAVAILABLE, anything else INTERNAL.
// The reason is the envelope's `code`, else its `type`, else "upstream_http_<status>"
// (kMalformedUpstreamReason for a 2xx). The request id is context.request_id, else Ace's
// `trace_id`.
grpc::Status MapUpstreamError(const UpstreamAnswer& answer, const UpstreamContext& context);

// Maps a transport failure. `detail` is a short human explanation (e.g. curl's error text).
grpc::Status MapTransportFailure(TransportFailure failure, std::string_view detail,
                                 const UpstreamContext& context);

// True for the ErrorInfo reasons MapTransportFailure gives when the request cannot have
// reached the upstream (connect, DNS or TLS failure, gengate shutting down): a client may
// send such a call again, elsewhere, without the upstream doing the work twice.
bool NeverReachedUpstream(std::string_view reason);

// A 2xx answer (or a stream event) that could not be parsed: INTERNAL.
grpc::Status MalformedUpstream(std::string_view what, const UpstreamContext& context);

// An error payload inside a stream (`{"error": {...}}` or a Responses `error` /
// `response.failed` event's JSON): INTERNAL with the upstream's message and code as reason
// (else the error type, else "upstream_stream_error"; kMalformedUpstreamReason if the payload
// is not a JSON object).
grpc::Status MapStreamError(std::string_view event_json, const UpstreamContext& context);

// Converts our own validation and logic errors (absl::Status) to gRPC, same code and message.
grpc::Status FromAbsl(const absl::Status& status);

// Parses `retry-after-ms` (milliseconds, may be fractional) or else `retry-after` (integer
// seconds). HTTP dates, negative, non-finite or garbage values and delays over a week are
// ignored; either argument may be empty (header absent).
std::optional<absl::Duration> ParseRetryAfter(std::string_view retry_after_ms,
                                              std::string_view retry_after);

}  // namespace gengate::status
