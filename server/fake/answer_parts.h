// Building blocks the endpoint answers share: reading request fields without exceptions,
// error envelopes, SSE framing, word counts and stable hashes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "fake/answers.h"

namespace gengate::fake {

// `created` / `created_at` of every answer: fixed, so answers are byte-for-byte repeatable.
inline constexpr int64_t kCreatedAt = 1735689600;  // 2025-01-01T00:00:00Z

// This abseil's string_view is its own type (ABSL_OPTION_USE_STD_STRING_VIEW is 0): the
// bridge for passing a std::string_view to absl::StrCat and friends.
inline absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }

// Compact JSON; invalid UTF-8 (possible in multipart fields) is replaced instead of throwing.
std::string Dump(const Json& value);

// The member `key` of `object`, or nullptr when `object` is not an object or lacks it.
const Json* Field(const Json& object, std::string_view key);
// The string member `key`, or `fallback` when it is missing or not a string.
std::string StringField(const Json& object, std::string_view key, std::string_view fallback = "");
// The integer member `key`, or nullopt when it is missing or not an integral number.
std::optional<int64_t> IntField(const Json& object, std::string_view key);
// True only when the member `key` is the boolean true.
bool BoolField(const Json& object, std::string_view key);
// The member `key` when present and not null, else `fallback` (to echo request settings).
Json FieldOr(const Json& object, std::string_view key, Json fallback);

// A 200 answer with `body` as JSON.
Answer JsonAnswer(const Json& body);
// An answer in OpenAI's error envelope {"error": {message, type, param, code}}.
Answer ErrorAnswer(int status, std::string_view message, std::string_view type,
                   std::optional<std::string_view> param, std::string_view code);
// 400 missing_required_parameter for `param`.
Answer MissingParameterAnswer(std::string_view param);
// 400 invalid_value for `param`.
Answer InvalidValueAnswer(std::string_view param, std::string_view message);
// A streamed answer of `events`.
Answer StreamAnswer(std::vector<std::string> events);

// One SSE event carrying `data` ("data: <json>\n\n"), optionally with an `event:` line.
std::string SseEvent(const Json& data, std::string_view event_type = "");

// Whitespace-separated words: the fake's token counts.
int64_t CountWords(std::string_view text);
// `text` cut into word-sized pieces, each word with the whitespace before it, so the pieces
// join back to `text` exactly (the deltas of a streamed answer).
std::vector<std::string> WordPieces(std::string_view text);
// 64-bit FNV-1a: a hash that is the same in every process and on every machine.
uint64_t StableHash(std::string_view bytes);
// `prefix` followed by 16 hex digits of the request's hash, e.g. "chatcmpl-fake-0123...".
std::string IdFor(std::string_view prefix, const Json& request);

// The text and image count of a message's `content`: a string, or an array of parts (text
// parts are joined with spaces; image_url / input_image / file_url parts are counted).
struct MessageContent {
  std::string text;
  int images = 0;
};
MessageContent ReadContent(const Json& content);
// The fake's reply to a user turn: "Echo: <text>", plus "(N images)" when images came along.
// A text of more than kMaxEchoWords words is echoed up to there, followed by " ...".
inline constexpr std::size_t kMaxEchoWords = 1000;
std::string EchoText(const MessageContent& user);

// A function call the fake decides to make instead of answering with text.
struct ToolCall {
  std::string call_id;
  std::string name;
  std::string arguments;  // a JSON object as text, e.g. {"location":"Berlin"}
};
// A call to a tool from the request's `tools` (chat's {"function": {...}} shape or the flat
// Responses shape) when `tool_choice` is "required" or names a function, or when it is "auto"
// (or absent) and `user_text` mentions the weather; nullopt otherwise. The one argument is
// the tool's first required (else first) parameter, set to the place named in `user_text`.
std::optional<ToolCall> ChooseToolCall(const Json& request, std::string_view user_text);
// `arguments` cut where word characters meet punctuation, as a model streams them:
// {"location":"Berlin"} -> {" | location | ":" | Berlin | "}. The pieces join back to
// `arguments`.
std::vector<std::string> ArgumentPieces(std::string_view arguments);

}  // namespace gengate::fake
