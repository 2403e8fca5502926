#include "fake/answer_parts.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace gengate::fake {
namespace {

bool IsSpace(char c) { return absl::ascii_isspace(static_cast<unsigned char>(c)); }

// Letters, digits, "_", "-" and every byte of a multi-byte UTF-8 character (so that argument
// pieces never split one).
bool IsWordByte(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte >= 0x80 || absl::ascii_isalnum(byte) || c == '_' || c == '-';
}

std::vector<std::string_view> SplitWords(std::string_view text) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    const size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

// Punctuation around a word ("Berlin?", "(Paris)") that is not part of a place name.
std::string_view StripPunctuation(std::string_view word) {
  constexpr std::string_view kPunctuation = "?!.,;:()[]\"'";
  while (!word.empty() && kPunctuation.find(word.front()) != std::string_view::npos) {
    word.remove_prefix(1);
  }
  while (!word.empty() && kPunctuation.find(word.back()) != std::string_view::npos) {
    word.remove_suffix(1);
  }
  return word;
}

bool EndsSentenceOrClause(std::string_view word) {
  return !word.empty() && std::string_view("?!.,;:").find(word.back()) != std::string_view::npos;
}

// The place a question is about: the words after its last "in", up to the end of the clause
// ("What's the weather in New York today?" -> "New York today"); else the whole text.
std::string PlaceIn(std::string_view text) {
  const std::vector<std::string_view> words = SplitWords(text);
  for (size_t i = words.size(); i-- > 1;) {
    if (absl::AsciiStrToLower(ToAbsl(StripPunctuation(words[i - 1]))) != "in") continue;
    std::vector<std::string> place;
    for (size_t j = i; j < words.size(); ++j) {
      if (std::string_view word = StripPunctuation(words[j]); !word.empty()) {
        place.emplace_back(word);
      }
      if (EndsSentenceOrClause(words[j])) break;
    }
    if (!place.empty()) return absl::StrJoin(place, " ");
  }
  const absl::string_view whole = absl::StripAsciiWhitespace(ToAbsl(text));
  return whole.empty() ? "unknown" : std::string(whole);
}

// A tool's name and parameter schema, in chat's {"type":"function","function":{...}} shape or
// the Responses API's flat {"type":"function","name":...} shape.
const Json& ToolDefinition(const Json& tool) {
  const Json* function = Field(tool, "function");
  return function != nullptr && function->is_object() ? *function : tool;
}

// The argument the fake fills in: the first required parameter, else the first one declared.
std::string ArgumentName(const Json& definition) {
  const Json* parameters = Field(definition, "parameters");
  if (parameters == nullptr) return "location";
  if (const Json* required = Field(*parameters, "required");
      required != nullptr && required->is_array() && !required->empty() &&
      required->front().is_string()) {
    return required->front().get<std::string>();
  }
  if (const Json* properties = Field(*parameters, "properties");
      properties != nullptr && properties->is_object() && !properties->empty()) {
    return properties->begin().key();
  }
  return "location";
}

}  // namespace

std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

const Json* Field(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string StringField(const Json& object, std::string_view key, std::string_view fallback) {
  const Json* value = Field(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string(fallback);
}

std::optional<int64_t> IntField(const Json& object, std::string_view key) {
  const Json* value = Field(object, key);
  if (value == nullptr || !value->is_number_integer()) return std::nullopt;
  return value->get<int64_t>();
}

bool BoolField(const Json& object, std::string_view key) {
  const Json* value = Field(object, key);
  return value != nullptr && value->is_boolean() && value->get<bool>();
}

Json FieldOr(const Json& object, std::string_view key, Json fallback) {
  const Json* value = Field(object, key);
  return value != nullptr && !value->is_null() ? *value : std::move(fallback);
}

Answer JsonAnswer(const Json& body) {
  Answer answer;
  answer.body = Dump(body);
  return answer;
}

Answer ErrorAnswer(int status, std::string_view message, std::string_view type,
                   std::optional<std::string_view> param, std::string_view code) {
  Json error = {{"message", message},
                {"type", type},
                {"param", param.has_value() ? Json(*param) : Json(nullptr)},
                {"code", code}};
  Answer answer = JsonAnswer(Json{{"error", std::move(error)}});
  answer.status = status;
  return answer;
}

Answer MissingParameterAnswer(std::string_view param) {
  return ErrorAnswer(400, absl::StrCat("Missing required parameter: '", ToAbsl(param), "'."),
                     "invalid_request_error", param, "missing_required_parameter");
}

Answer InvalidValueAnswer(std::string_view param, std::string_view message) {
  return ErrorAnswer(400, message, "invalid_request_error", param, "invalid_value");
}

Answer StreamAnswer(std::vector<std::string> events) {
  Answer answer;
  answer.content_type = "text/event-stream; charset=utf-8";
  answer.headers.emplace_back("Cache-Control", "no-cache");
  answer.streamed = true;
  answer.events = std::move(events);
  return answer;
}

std::string SseEvent(const Json& data, std::string_view event_type) {
  if (event_type.empty()) return absl::StrCat("data: ", Dump(data), "\n\n");
  return absl::StrCat("event: ", ToAbsl(event_type), "\ndata: ", Dump(data), "\n\n");
}

int64_t CountWords(std::string_view text) { return static_cast<int64_t>(SplitWords(text).size()); }

std::vector<std::string> WordPieces(std::string_view text) {
  std::vector<std::string> pieces;
  size_t start = 0;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    pieces.emplace_back(text.substr(start, i - start));
    start = i;
  }
  return pieces;
}

uint64_t StableHash(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 0x100000001b3ull;
  }
  return hash;
}

std::string IdFor(std::string_view prefix, const Json& request) {
  return absl::StrCat(ToAbsl(prefix), absl::Hex(StableHash(Dump(request)), absl::kZeroPad16));
}

MessageContent ReadContent(const Json& content) {
  MessageContent result;
  if (content.is_string()) {
    result.text = content.get<std::string>();
    return result;
  }
  if (!content.is_array()) return result;
  std::vector<std::string> texts;
  for (const Json& part : content) {
    const std::string type = StringField(part, "type");
    if (type == "text" || type == "input_text" || type == "output_text") {
      texts.push_back(StringField(part, "text"));
    } else if (type == "image_url" || type == "input_image" || type == "file_url" ||
               type == "image") {
      ++result.images;
    }
  }
  result.text = absl::StrJoin(texts, " ");
  return result;
}

std::string EchoText(const MessageContent& user) {
  std::string text = "Echo:";
  if (!user.text.empty()) {
    // Past kMaxEchoWords words the rest is cut: a stream is built whole, an event a word, and
    // a 2 MB prompt made 400 MB of events inside gengate.
    std::string_view echoed = user.text;
    std::size_t i = 0;
    for (std::size_t words = 0; words < kMaxEchoWords && i < echoed.size(); ++words) {
      while (i < echoed.size() && IsSpace(echoed[i])) ++i;
      while (i < echoed.size() && !IsSpace(echoed[i])) ++i;
    }
    const bool cut = i < echoed.size() && CountWords(echoed.substr(i)) > 0;
    if (cut) echoed = echoed.substr(0, i);
    absl::StrAppend(&text, " ", ToAbsl(echoed), cut ? " ..." : "");
  }
  if (user.images > 0) {
    absl::StrAppend(&text, " (", user.images, user.images == 1 ? " image)" : " images)");
  }
  return text;
}

std::optional<ToolCall> ChooseToolCall(const Json& request, std::string_view user_text) {
  const Json* tools = Field(request, "tools");
  if (tools == nullptr || !tools->is_array() || tools->empty()) return std::nullopt;

  bool forced = false;
  std::string wanted_name;  // empty: any tool
  if (const Json* choice = Field(request, "tool_choice"); choice != nullptr) {
    if (choice->is_string()) {
      const std::string mode = choice->get<std::string>();
      if (mode == "none") return std::nullopt;
      forced = mode == "required";
    } else if (choice->is_object()) {
      wanted_name = StringField(ToolDefinition(*choice), "name");
      forced = true;
    }
  }
  if (!forced && absl::AsciiStrToLower(ToAbsl(user_text)).find("weather") == std::string::npos) {
    return std::nullopt;
  }

  for (const Json& tool : *tools) {
    const Json& definition = ToolDefinition(tool);
    std::string name = StringField(definition, "name");
    if (name.empty() || (!wanted_name.empty() && name != wanted_name)) continue;
    ToolCall call;
    call.arguments = Dump(Json{{ArgumentName(definition), PlaceIn(user_text)}});
    call.call_id = absl::StrCat(
        "call_fake_", absl::Hex(StableHash(absl::StrCat(name, call.arguments)), absl::kZeroPad16));
    call.name = std::move(name);
    return call;
  }
  return std::nullopt;
}

std::vector<std::string> ArgumentPieces(std::string_view arguments) {
  std::vector<std::string> pieces;
  size_t start = 0;
  for (size_t i = 1; i <= arguments.size(); ++i) {
    if (i == arguments.size() || IsWordByte(arguments[i]) != IsWordByte(arguments[i - 1])) {
      pieces.emplace_back(arguments.substr(start, i - start));
      start = i;
    }
  }
  return pieces;
}

}  // namespace gengate::fake
