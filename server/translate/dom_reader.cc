#include "translate/dom_reader.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gengate::translate::dom {
namespace {

// Documents up to this size use the thread's parser (a chat answer is a few KiB).
constexpr std::size_t kThreadParserMaxBytes = 256 << 10;

simdjson::dom::parser& ThreadParser() {
  thread_local simdjson::dom::parser parser(kThreadParserMaxBytes);
  return parser;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// simdjson refuses a whole document over one integer literal past 64 bits, where nlohmann (and
// JSON itself) take a number. Such literals get a ".0" here, so they parse as doubles: only
// called after a NUMBER_ERROR, never on the common path.
std::string BigIntegersAsFloats(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  bool in_string = false;
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[i + 1]);
        i += 2;
        continue;
      }
      in_string = c != '"';
      ++i;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out.push_back(c);
      ++i;
      continue;
    }
    if (!IsDigit(c)) {
      out.push_back(c);
      ++i;
      continue;
    }
    // A run of digits: an integer literal unless it is a fraction or an exponent.
    const char before = i > 0 ? text[i - 1] : ' ';
    const bool starts_number =
        before != '.' && before != 'e' && before != 'E' && before != '+' &&
        !(before == '-' && i > 1 && (text[i - 2] == 'e' || text[i - 2] == 'E'));
    std::size_t end = i;
    while (end < text.size() && IsDigit(text[end])) ++end;
    out.append(text.substr(i, end - i));
    const bool integer = starts_number && (end == text.size() || (text[end] != '.' &&
                                                                  text[end] != 'e' &&
                                                                  text[end] != 'E'));
    if (integer && end - i > 19) out.append(".0");
    i = end;
  }
  return out;
}

}  // namespace

Document::Document(std::string_view text) {
  simdjson::dom::parser* parser = &ThreadParser();
  if (text.size() > kThreadParserMaxBytes) {
    own_parser_ = std::make_unique<simdjson::dom::parser>(text.size());
    parser = own_parser_.get();
  }
  // The text is copied into the parser's padded buffer: simdjson reads past the end.
  error_ = parser->parse(text.data(), text.size(), /*realloc_if_needed=*/true).get(root_);
  if (error_ == simdjson::NUMBER_ERROR) {
    const std::string rewritten = BigIntegersAsFloats(text);
    if (rewritten.size() > kThreadParserMaxBytes && own_parser_ == nullptr) {
      own_parser_ = std::make_unique<simdjson::dom::parser>(rewritten.size());
      parser = own_parser_.get();
    }
    error_ = parser->parse(rewritten.data(), rewritten.size(), true).get(root_);
  }
}

std::optional<Element> Member(Element object, std::string_view key) {
  simdjson::dom::object members;
  if (object.get_object().get(members) != simdjson::SUCCESS) return std::nullopt;
  Element value;
  if (members.at_key(key).get(value) != simdjson::SUCCESS || value.is_null()) return std::nullopt;
  return value;
}

std::optional<std::string_view> StringMember(Element object, std::string_view key) {
  std::optional<Element> value = Member(object, key);
  std::string_view text;
  if (!value.has_value() || value->get_string().get(text) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return text;
}

std::optional<Array> ArrayMember(Element object, std::string_view key) {
  std::optional<Element> value = Member(object, key);
  Array array;
  if (!value.has_value() || value->get_array().get(array) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return array;
}

std::optional<Element> ObjectMember(Element object, std::string_view key) {
  std::optional<Element> value = Member(object, key);
  if (!value.has_value() || !value->is_object()) return std::nullopt;
  return value;
}

std::optional<std::int64_t> AsInteger(Element value) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  switch (value.type()) {
    case simdjson::dom::element_type::INT64:
      return value.get_int64().value_unsafe();
    case simdjson::dom::element_type::UINT64: {
      const std::uint64_t number = value.get_uint64().value_unsafe();
      return number > static_cast<std::uint64_t>(kMax) ? kMax : static_cast<std::int64_t>(number);
    }
    case simdjson::dom::element_type::DOUBLE: {
      const double number = value.get_double().value_unsafe();
      if (!std::isfinite(number)) return std::nullopt;
      // Compat servers sometimes send counts as floats (`12.0`); clamp before converting.
      return static_cast<std::int64_t>(std::clamp(number, -9.2e18, 9.2e18));
    }
    default:
      return std::nullopt;
  }
}

std::optional<std::int64_t> IntegerMember(Element object, std::string_view key) {
  std::optional<Element> value = Member(object, key);
  return value.has_value() ? AsInteger(*value) : std::nullopt;
}

double DoubleMember(Element object, std::string_view key) {
  std::optional<Element> value = Member(object, key);
  double number = 0;
  // get_double also converts integers.
  if (!value.has_value() || value->get_double().get(number) != simdjson::SUCCESS) return 0.0;
  return number;
}

std::optional<std::string> BytesMember(Element object, std::string_view key) {
  std::optional<Array> array = ArrayMember(object, key);
  if (!array.has_value()) return std::nullopt;
  std::string bytes;
  bytes.reserve(array->size());
  for (Element element : *array) {
    if (std::optional<std::int64_t> byte = AsInteger(element)) {
      bytes.push_back(static_cast<char>(static_cast<unsigned char>(*byte & 0xFF)));
    }
  }
  return bytes;
}

std::string TextOrJson(Element value) {
  std::string_view text;
  if (value.get_string().get(text) == simdjson::SUCCESS) return std::string(text);
  return simdjson::minify(value);
}

}  // namespace gengate::translate::dom
