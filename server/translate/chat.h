// Chat completions: proto ⇄ upstream JSON (pure; no I/O).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gengate/v1/chat.pb.h"

namespace gengate::translate {

// INVALID_ARGUMENT when the request cannot be sent: no model, no messages, a message without
// role or with an unknown enum value, content and parts both set, a tool without a name, ...
absl::Status ValidateChatRequest(const v1::CreateChatCompletionRequest& request);

// The upstream JSON body for the request (validated first). Unset optional fields are left
// out; `extra_body` is merged last. With `stream`, adds `"stream": true` and
// `"stream_options": {"include_usage": true}`.
absl::StatusOr<std::string> ChatRequestToUpstreamJson(
    const v1::CreateChatCompletionRequest& request, bool stream);

// Parses a unary answer body (`chat.completion`). INTERNAL when it is not a valid answer.
absl::StatusOr<v1::ChatCompletion> ChatCompletionFromUpstreamJson(std::string_view body);

// What one SSE data payload of a chat stream is.
enum class ChatStreamEventKind {
  kChunk,  // a chunk, written into `chunk`
  kDone,   // `[DONE]`: the stream ended
  kError,  // an `{"error": {...}}` payload: pass the data to status::MapStreamError
};

// Parses one SSE `data` payload of a chat stream. INTERNAL when it is not valid JSON or not a
// chunk.
absl::StatusOr<ChatStreamEventKind> ParseChatStreamData(std::string_view data,
                                                        v1::ChatCompletionChunk& chunk);

}  // namespace gengate::translate
