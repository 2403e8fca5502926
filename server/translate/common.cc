#include "translate/common.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/json_scan.h"

namespace gengate::translate {

using nlohmann::json;

const json* Member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

const std::string* StringMember(const json& object, const char* key) {
  const json* value = Member(object, key);
  return value != nullptr && value->is_string() ? &value->get_ref<const std::string&>() : nullptr;
}

const json* ArrayMember(const json& object, const char* key) {
  const json* value = Member(object, key);
  return value != nullptr && value->is_array() ? value : nullptr;
}

const json* ObjectMember(const json& object, const char* key) {
  const json* value = Member(object, key);
  return value != nullptr && value->is_object() ? value : nullptr;
}

std::optional<std::int64_t> AsInteger(const json& value) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (value.is_number_unsigned()) {
    const std::uint64_t number = value.get<std::uint64_t>();
    return number > static_cast<std::uint64_t>(kMax) ? kMax : static_cast<std::int64_t>(number);
  }
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (!std::isfinite(number)) return std::nullopt;
    // Compat servers sometimes send counts as floats (`12.0`); clamp before converting.
    return static_cast<std::int64_t>(std::clamp(number, -9.2e18, 9.2e18));
  }
  return std::nullopt;
}

std::optional<std::int64_t> IntegerMember(const json& object, const char* key) {
  const json* value = Member(object, key);
  return value != nullptr ? AsInteger(*value) : std::nullopt;
}

std::int32_t ClampToInt32(std::int64_t value) {
  return static_cast<std::int32_t>(std::clamp<std::int64_t>(
      value, std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()));
}

std::optional<std::string> BytesMember(const json& object, const char* key) {
  const json* array = ArrayMember(object, key);
  if (array == nullptr) return std::nullopt;
  std::string bytes;
  bytes.reserve(array->size());
  for (const json& element : *array) {
    if (std::optional<std::int64_t> byte = AsInteger(element)) {
      bytes.push_back(static_cast<char>(static_cast<unsigned char>(*byte & 0xFF)));
    }
  }
  return bytes;
}

namespace {

// Whether `text` nests arrays and objects deeper than `max_depth`. Brackets inside strings do
// not count; the text need not be valid JSON (the parser judges that).
bool NestsDeeperThan(std::string_view text, int max_depth) {
  int depth = 0;
  bool deeper = false;
  base::ForEachStructuralByte(text, [&](char c) {
    if (c == '[' || c == '{') {
      deeper = ++depth > max_depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
    return !deeper;
  });
  return deeper;
}

}  // namespace

absl::StatusOr<json> ParseJson(std::string_view text) {
  if (NestsDeeperThan(text, kMaxJsonDepth)) {
    return absl::InvalidArgumentError(absl::StrCat("nests deeper than ", kMaxJsonDepth, " levels"));
  }
  json parsed = json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return absl::InvalidArgumentError("is not valid JSON");
  return parsed;
}

std::string_view TrimAsciiWhitespace(std::string_view text) {
  while (!text.empty() && absl::ascii_isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && absl::ascii_isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

absl::Status FieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

absl::Status CheckFinite(bool has, double value, absl::string_view field) {
  if (has && !std::isfinite(value)) return FieldError(field, "must be a finite number");
  return absl::OkStatus();
}

namespace {

bool AllFinite(const google::protobuf::Value& value);

bool AllFinite(const google::protobuf::Struct& value) {
  for (const auto& [key, member] : value.fields()) {
    if (!AllFinite(member)) return false;
  }
  return true;
}

bool AllFinite(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      return std::isfinite(value.number_value());
    case google::protobuf::Value::kStructValue:
      return AllFinite(value.struct_value());
    case google::protobuf::Value::kListValue:
      for (const google::protobuf::Value& element : value.list_value().values()) {
        if (!AllFinite(element)) return false;
      }
      return true;
    default:
      return true;
  }
}

}  // namespace

absl::Status CheckFiniteNumbers(const google::protobuf::Struct& value, absl::string_view field) {
  if (!AllFinite(value)) return FieldError(field, "holds a number that is not finite");
  return absl::OkStatus();
}

absl::Status UnknownEnumError(absl::string_view field, int value) {
  return FieldError(field, absl::StrCat("unknown enum value ", value));
}

std::string_view ImageDetailName(v1::ImageDetail detail) {
  switch (detail) {
    case v1::IMAGE_DETAIL_AUTO:
      return "auto";
    case v1::IMAGE_DETAIL_LOW:
      return "low";
    case v1::IMAGE_DETAIL_HIGH:
      return "high";
    default:
      return "";
  }
}

std::string_view ToolChoiceModeName(v1::ToolChoiceMode mode) {
  switch (mode) {
    case v1::TOOL_CHOICE_MODE_NONE:
      return "none";
    case v1::TOOL_CHOICE_MODE_AUTO:
      return "auto";
    case v1::TOOL_CHOICE_MODE_REQUIRED:
      return "required";
    default:
      return "";
  }
}

std::string_view ResponseFormatTypeName(v1::ResponseFormatType type) {
  switch (type) {
    case v1::RESPONSE_FORMAT_TYPE_TEXT:
      return "text";
    case v1::RESPONSE_FORMAT_TYPE_JSON_OBJECT:
      return "json_object";
    case v1::RESPONSE_FORMAT_TYPE_JSON_SCHEMA:
      return "json_schema";
    default:
      return "";
  }
}

std::string_view ReasoningEffortName(v1::ReasoningEffort effort) {
  switch (effort) {
    case v1::REASONING_EFFORT_NONE:
      return "none";
    case v1::REASONING_EFFORT_MINIMAL:
      return "minimal";
    case v1::REASONING_EFFORT_LOW:
      return "low";
    case v1::REASONING_EFFORT_MEDIUM:
      return "medium";
    case v1::REASONING_EFFORT_HIGH:
      return "high";
    default:
      return "";
  }
}

}  // namespace gengate::translate
