// The Responses API: proto ⇄ upstream JSON (pure; no I/O).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gengate/v1/responses.pb.h"

namespace gengate::translate {

// INVALID_ARGUMENT when the request cannot be sent (no model, neither or both of input_text
// and input, unknown enum values, empty items, ...).
absl::Status ValidateResponseRequest(const v1::CreateResponseRequest& request);

// The upstream JSON body (validated first); unset optional fields absent; extra_body merged
// last; with `stream`, `"stream": true`.
absl::StatusOr<std::string> ResponseRequestToUpstreamJson(const v1::CreateResponseRequest& request,
                                                          bool stream);

// Parses a unary answer: a real Responses object (has `output`), or Ace's chat-completion
// shaped answer (UPSTREAM.md). INTERNAL when it is neither.
absl::StatusOr<v1::Response> ResponseFromUpstreamJson(std::string_view body);

// What one SSE event of a Responses stream is.
enum class ResponseStreamEventKind {
  kEvent,       // an ordinary event, written into `event`
  kTerminalOk,  // response.completed or response.incomplete, written into `event`: send, end OK
  kFailed,      // response.failed or `error`, written into `event`: send it, then end with
                // status::MapStreamError(data)
  kDone,        // `[DONE]`: end OK (nothing to send)
};

// Parses one SSE event: `sse_type` is the `event:` field (may be empty; the type is read from
// the JSON `type`). INTERNAL when the data is not a JSON object with a type.
absl::StatusOr<ResponseStreamEventKind> ParseResponseStreamEvent(std::string_view sse_type,
                                                                 std::string_view data,
                                                                 v1::ResponseEvent& event);

}  // namespace gengate::translate
