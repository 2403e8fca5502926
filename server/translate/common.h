// What the API families of translate/ share: tolerant readers of upstream JSON members, the
// INVALID_ARGUMENT shape of a request error, and the upstream names of shared enums.
// Internal to translate/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gengate/v1/chat.pb.h"
#include "gengate/v1/common.pb.h"
#include "google/protobuf/struct.pb.h"
#include "nlohmann/json.hpp"

namespace gengate::translate {

// --- Reading upstream JSON. Tolerant: a member of the wrong type counts as absent. ---

// The member `key` of `object` unless it is missing or null.
const nlohmann::json* Member(const nlohmann::json& object, const char* key);
const std::string* StringMember(const nlohmann::json& object, const char* key);
const nlohmann::json* ArrayMember(const nlohmann::json& object, const char* key);
const nlohmann::json* ObjectMember(const nlohmann::json& object, const char* key);
// An integer, also from an unsigned past int64 (clamped) or a float count such as `12.0`.
std::optional<std::int64_t> AsInteger(const nlohmann::json& value);
std::optional<std::int64_t> IntegerMember(const nlohmann::json& object, const char* key);
std::int32_t ClampToInt32(std::int64_t value);
// `bytes` arrive as an array of byte values.
std::optional<std::string> BytesMember(const nlohmann::json& object, const char* key);
// Arrays and objects nested deeper than this are refused: nlohmann parses any depth, but its
// dump() and the conversion to a protobuf Struct recurse once per level, so a small answer of
// nested brackets would overflow the stack.
inline constexpr int kMaxJsonDepth = 128;
// The most choices (chat) or images an upstream answer may hold; more is malformed. OpenAI's n
// stops at 128. Without a cap, 30 MB of `{},` made a reply of ten million choices and gigabytes
// of memory.
inline constexpr std::size_t kMaxAnswerItems = 128;
// The parsed text; an error whose message says what is wrong ("is not valid JSON", "nests
// deeper than 128 levels") when it is not JSON or nests deeper than kMaxJsonDepth. Never
// throws.
absl::StatusOr<nlohmann::json> ParseJson(std::string_view text);
// absl::string_view is not std::string_view in this abseil build, so trim by hand.
std::string_view TrimAsciiWhitespace(std::string_view text);

// --- Request errors. ---

// INVALID_ARGUMENT "field: problem".
absl::Status FieldError(absl::string_view field, absl::string_view problem);
// JSON has no NaN or infinity, and the writers would send null, which an upstream takes for
// "the default": a set number that is not finite is refused, naming `field`.
absl::Status CheckFinite(bool has, double value, absl::string_view field);
// The same for every number inside a Struct (extra_body, tool parameters, schemas).
absl::Status CheckFiniteNumbers(const google::protobuf::Struct& value, absl::string_view field);
absl::Status UnknownEnumError(absl::string_view field, int value);

// --- Upstream names of enums chat and responses share; "" for UNSPECIFIED or unknown. ---

std::string_view ImageDetailName(v1::ImageDetail detail);
std::string_view ToolChoiceModeName(v1::ToolChoiceMode mode);
std::string_view ResponseFormatTypeName(v1::ResponseFormatType type);
std::string_view ReasoningEffortName(v1::ReasoningEffort effort);

}  // namespace gengate::translate
