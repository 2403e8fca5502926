#include "translate/embeddings.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "translate/base64.h"
#include "translate/common.h"
#include "translate/struct_json.h"

namespace gengate::translate {
namespace {

using nlohmann::json;

// The upstream's limit on inputs per call.
constexpr int kMaxInputs = 2048;

// ---------------------------------------------------------------------------------------------
// Reading the answer.
//
// The answer is read in one pass by the small reader below rather than by simdjson or
// nlohmann: a 2,048 x 1,536 answer is 16.8 MB, and on our 2-core machines one pass over it
// (the base64 decode) is already ~3.5 ms of memory traffic. simdjson needs a padded copy
// (~3 ms) and its structural index pass (~3.4 ms) before that; nlohmann's DOM takes ~240 ms.
// Here the base64 text is read only by the decoder, straight into the float field.

bool IsJsonWhitespace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

void AppendUtf8(std::uint32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. Proto strings must
// be valid UTF-8, so text copied into one is checked.
bool IsValidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p != end) {
    const unsigned char lead = *p;
    if (lead < 0x80) {
      ++p;
      continue;
    }
    int length = 0;
    std::uint32_t code_point = 0;
    std::uint32_t min_code_point = 0;
    if ((lead & 0xE0) == 0xC0) {
      length = 2, code_point = lead & 0x1F, min_code_point = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, code_point = lead & 0x0F, min_code_point = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, code_point = lead & 0x07, min_code_point = 0x10000;
    } else {
      return false;
    }
    if (end - p < length) return false;
    for (int i = 1; i < length; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (p[i] & 0x3F);
    }
    if (code_point < min_code_point || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    p += length;
  }
  return true;
}

// A strict reader of JSON text (RFC 8259), one token at a time, for the shapes this file
// expects; anything else is skipped with full syntax checks. Methods return false on a syntax
// error, with the cursor at or near it.
class JsonReader {
 public:
  explicit JsonReader(std::string_view text)
      : begin_(text.data()), cursor_(text.data()), end_(text.data() + text.size()) {}

  std::size_t offset() const { return static_cast<std::size_t>(cursor_ - begin_); }
  const char* cursor() const { return cursor_; }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - cursor_); }
  void Advance(std::size_t bytes) { cursor_ += bytes; }

  // The next character after whitespace, or '\0' at the end (never valid JSON there either).
  char Peek() {
    while (cursor_ != end_ && IsJsonWhitespace(*cursor_)) ++cursor_;
    return cursor_ == end_ ? '\0' : *cursor_;
  }

  // Consumes `c` when it is the next character after whitespace.
  bool Consume(char c) {
    if (Peek() != c || cursor_ == end_) return false;
    ++cursor_;
    return true;
  }

  bool AtEnd() {
    Peek();
    return cursor_ == end_;
  }

  // Reads a string. `out` views the JSON text itself when it has no escapes, otherwise the
  // unescaped copy in the reader, valid until the next ReadString or SkipValue.
  bool ReadString(std::string_view& out) {
    if (!Consume('"')) return false;
    const char* start = cursor_;
    while (cursor_ != end_) {
      const char c = *cursor_;
      if (c == '"') {
        out = std::string_view(start, static_cast<std::size_t>(cursor_ - start));
        ++cursor_;
        return true;
      }
      if (c == '\\') break;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      ++cursor_;
    }
    unescaped_.assign(start, cursor_);
    while (cursor_ != end_) {
      const char c = *cursor_++;
      if (c == '"') {
        out = unescaped_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        unescaped_.push_back(c);
      } else if (!ReadEscape(unescaped_)) {
        return false;
      }
    }
    return false;  // no closing quote
  }

  // Reads a number with no fraction or exponent.
  bool ReadInteger(std::int64_t& out) {
    std::string_view token;
    bool integral = false;
    if (!ScanNumber(token, integral) || !integral) return false;
    return std::from_chars(token.data(), token.data() + token.size(), out).ec == std::errc();
  }

  bool ReadNumber(double& out) {
    std::string_view token;
    bool integral = false;
    if (!ScanNumber(token, integral)) return false;
    return std::from_chars(token.data(), token.data() + token.size(), out).ec == std::errc();
  }

  // Skips one value of any type, checking its syntax.
  bool SkipValue(int depth = 0) {
    // Deeper than any answer nests; stops a hostile body from exhausting the stack.
    constexpr int kMaxDepth = 64;
    if (depth > kMaxDepth) return false;
    switch (Peek()) {
      case '"': {
        std::string_view ignored;
        return ReadString(ignored);
      }
      case '{':
        ++cursor_;
        if (Consume('}')) return true;
        do {
          std::string_view ignored;
          if (!ReadString(ignored) || !Consume(':') || !SkipValue(depth + 1)) return false;
        } while (Consume(','));
        return Consume('}');
      case '[':
        ++cursor_;
        if (Consume(']')) return true;
        do {
          if (!SkipValue(depth + 1)) return false;
        } while (Consume(','));
        return Consume(']');
      case 't':
        return ConsumeLiteral("true");
      case 'f':
        return ConsumeLiteral("false");
      case 'n':
        return ConsumeLiteral("null");
      default: {
        std::string_view ignored;
        bool integral = false;
        return ScanNumber(ignored, integral);
      }
    }
  }

  bool ConsumeLiteral(std::string_view literal) {
    Peek();
    if (remaining() < literal.size() || std::string_view(cursor_, literal.size()) != literal) {
      return false;
    }
    cursor_ += literal.size();
    return true;
  }

 private:
  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool ScanNumber(std::string_view& token, bool& integral) {
    Peek();
    const char* p = cursor_;
    if (p != end_ && *p == '-') ++p;
    if (p == end_) return false;
    if (*p == '0') {
      ++p;
    } else if (IsDigit(*p)) {
      while (p != end_ && IsDigit(*p)) ++p;
    } else {
      return false;
    }
    integral = true;
    if (p != end_ && *p == '.') {
      ++p;
      if (p == end_ || !IsDigit(*p)) return false;
      while (p != end_ && IsDigit(*p)) ++p;
      integral = false;
    }
    if (p != end_ && (*p == 'e' || *p == 'E')) {
      ++p;
      if (p != end_ && (*p == '+' || *p == '-')) ++p;
      if (p == end_ || !IsDigit(*p)) return false;
      while (p != end_ && IsDigit(*p)) ++p;
      integral = false;
    }
    token = std::string_view(cursor_, static_cast<std::size_t>(p - cursor_));
    cursor_ = p;
    return true;
  }

  bool ReadHex4(std::uint32_t& out) {
    if (remaining() < 4) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = *cursor_++;
      std::uint32_t digit = 0;
      if (IsDigit(c)) {
        digit = static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        digit = static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
      out = (out << 4) | digit;
    }
    return true;
  }

  // After a backslash.
  bool ReadEscape(std::string& out) {
    if (cursor_ == end_) return false;
    switch (*cursor_++) {
      case '"':
        out.push_back('"');
        return true;
      case '\\':
        out.push_back('\\');
        return true;
      case '/':
        out.push_back('/');
        return true;
      case 'b':
        out.push_back('\b');
        return true;
      case 'f':
        out.push_back('\f');
        return true;
      case 'n':
        out.push_back('\n');
        return true;
      case 'r':
        out.push_back('\r');
        return true;
      case 't':
        out.push_back('\t');
        return true;
      case 'u': {
        std::uint32_t code_point = 0;
        if (!ReadHex4(code_point)) return false;
        if (code_point >= 0xDC00 && code_point <= 0xDFFF) return false;  // a lone low half
        if (code_point >= 0xD800 && code_point <= 0xDBFF) {
          // A high surrogate must be followed by an escaped low one.
          std::uint32_t low = 0;
          if (remaining() < 2 || cursor_[0] != '\\' || cursor_[1] != 'u') return false;
          cursor_ += 2;
          if (!ReadHex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
          code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
        }
        AppendUtf8(code_point, out);
        return true;
      }
      default:
        return false;
    }
  }

  const char* begin_;
  const char* cursor_;
  const char* end_;
  std::string unescaped_;
};

absl::Status Malformed(absl::string_view problem) {
  return absl::InternalError(absl::StrCat("upstream embeddings answer is malformed: ", problem));
}

absl::Status Malformed(const JsonReader& reader, absl::string_view problem) {
  return Malformed(absl::StrCat(problem, " at byte ", reader.offset()));
}

// Appends the float32 values in `base64` (little-endian, as OpenAI sends them) to `out`,
// decoding straight into the field's storage.
absl::Status AppendBase64Floats(std::string_view base64,
                                google::protobuf::RepeatedField<float>& out) {
  // Rounded up: the decoder may write a partial float before the length check rejects it.
  const std::size_t max_count =
      (Base64MaxDecodedSize(base64.size()) + sizeof(float) - 1) / sizeof(float);
  if (max_count > static_cast<std::size_t>(std::numeric_limits<int>::max() - out.size())) {
    return Malformed("embedding is too long");
  }
  const int old_size = out.size();
  out.Reserve(old_size + static_cast<int>(max_count));
  // Not value-initialised: the decoder writes every byte that is kept.
  float* floats = out.AddNAlreadyReserved(static_cast<int>(max_count));
  const std::optional<std::size_t> bytes =
      DecodeBase64(base64, reinterpret_cast<char*>(floats));
  if (!bytes.has_value() || *bytes % sizeof(float) != 0) {
    out.Truncate(old_size);
    return Malformed(bytes.has_value()
                         ? absl::StrCat("embedding has ", *bytes,
                                        " bytes, not a whole number of float32 values")
                         : std::string("embedding is not valid base64"));
  }
  const std::size_t count = *bytes / sizeof(float);
  out.Truncate(old_size + static_cast<int>(count));
  if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = 0; i < count; ++i) {
      std::uint32_t word;
      std::memcpy(&word, &floats[i], sizeof(word));
      word = __builtin_bswap32(word);
      std::memcpy(&floats[i], &word, sizeof(word));
    }
  }
  return absl::OkStatus();
}

// What the previous vector looked like; all vectors of one answer have the same size.
struct VectorShape {
  std::size_t base64_length = 0;
  int dimensions = 0;
};

absl::Status ReadBase64Embedding(JsonReader& reader, VectorShape& shape,
                                 google::protobuf::RepeatedField<float>& out) {
  const char* text = reader.cursor() + 1;  // after the opening quote
  const std::size_t available = reader.remaining() - 1;
  // The fast path: the closing quote sits where the last vector's did. The decoder accepts only
  // base64 characters, so when it succeeds and a quote follows, the string really ends there.
  // The quote is checked after decoding, when those bytes are already in cache.
  const std::size_t expected = shape.base64_length;
  if (expected > 0 && expected < available) {
    const int old_size = out.size();
    if (AppendBase64Floats(std::string_view(text, expected), out).ok()) {
      if (text[expected] == '"') {
        reader.Advance(expected + 2);
        return absl::OkStatus();
      }
      out.Truncate(old_size);
    }
  }
  const void* quote = std::memchr(text, '"', available);
  if (quote == nullptr) return Malformed(reader, "unterminated string");
  const std::string_view raw(text,
                             static_cast<std::size_t>(static_cast<const char*>(quote) - text));
  if (raw.find('\\') == std::string_view::npos) {
    RETURN_IF_ERROR(AppendBase64Floats(raw, out));
    reader.Advance(raw.size() + 2);
    shape.base64_length = raw.size();
    return absl::OkStatus();
  }
  // Base64 needs no escapes, but a server may still write '/' as "\/".
  std::string_view unescaped;
  if (!reader.ReadString(unescaped)) return Malformed(reader, "invalid string");
  return AppendBase64Floats(unescaped, out);
}

absl::Status ReadFloatArray(JsonReader& reader, VectorShape& shape,
                            google::protobuf::RepeatedField<float>& out) {
  reader.Consume('[');
  out.Reserve(out.size() + shape.dimensions);
  if (reader.Consume(']')) return absl::OkStatus();
  do {
    double component = 0;
    if (!reader.ReadNumber(component)) {
      return Malformed(reader, "embedding has a component that is not a number");
    }
    out.Add(static_cast<float>(component));
  } while (reader.Consume(','));
  if (!reader.Consume(']')) return Malformed(reader, "expected ',' or ']' in embedding");
  shape.dimensions = out.size();
  return absl::OkStatus();
}

absl::Status ReadEmbeddingItem(JsonReader& reader, VectorShape& shape, v1::Embedding& out) {
  if (!reader.Consume('{')) return Malformed(reader, "data item is not an object");
  bool has_index = false;
  bool has_embedding = false;
  if (!reader.Consume('}')) {
    do {
      std::string_view key;
      if (!reader.ReadString(key) || !reader.Consume(':')) {
        return Malformed(reader, "expected a member name and ':'");
      }
      if (key == "embedding") {
        if (has_embedding) return Malformed(reader, "data item has two embeddings");
        has_embedding = true;
        switch (reader.Peek()) {
          case '"':
            RETURN_IF_ERROR(ReadBase64Embedding(reader, shape, *out.mutable_embedding()));
            break;
          case '[':
            RETURN_IF_ERROR(ReadFloatArray(reader, shape, *out.mutable_embedding()));
            break;
          default:
            return Malformed(reader, "embedding is neither a base64 string nor an array");
        }
      } else if (key == "index") {
        std::int64_t index = 0;
        if (!reader.ReadInteger(index) || index < 0 ||
            index > std::numeric_limits<std::int32_t>::max()) {
          return Malformed(reader, "index is not a non-negative integer");
        }
        out.set_index(static_cast<std::int32_t>(index));
        has_index = true;
      } else if (!reader.SkipValue()) {
        return Malformed(reader, "invalid JSON value");
      }
    } while (reader.Consume(','));
    if (!reader.Consume('}')) return Malformed(reader, "expected ',' or '}' in data item");
  }
  if (!has_embedding) return Malformed(reader, "data item has no embedding");
  if (!has_index) return Malformed(reader, "data item has no index");
  return absl::OkStatus();
}

// Sets `in_order` when every item's index is its position, the usual case, which needs no
// sorting or checking afterwards.
absl::Status ReadData(JsonReader& reader, v1::CreateEmbeddingsResponse& out, bool& in_order) {
  in_order = true;
  if (!reader.Consume('[')) return Malformed(reader, "data is not an array");
  if (reader.Consume(']')) return absl::OkStatus();
  VectorShape shape;
  do {
    v1::Embedding& item = *out.add_data();
    RETURN_IF_ERROR(ReadEmbeddingItem(reader, shape, item));
    in_order = in_order && item.index() == out.data_size() - 1;
  } while (reader.Consume(','));
  if (!reader.Consume(']')) return Malformed(reader, "expected ',' or ']' in data");
  return absl::OkStatus();
}

// Tolerant, like the other translators: counts that are not numbers are left at 0.
absl::Status ReadUsage(JsonReader& reader, v1::CreateEmbeddingsResponse& response) {
  if (reader.Peek() != '{') {
    if (!reader.SkipValue()) return Malformed(reader, "invalid JSON value");
    return absl::OkStatus();
  }
  reader.Consume('{');
  v1::EmbeddingsUsage& usage = *response.mutable_usage();
  if (reader.Consume('}')) return absl::OkStatus();
  do {
    std::string_view key;
    if (!reader.ReadString(key) || !reader.Consume(':')) {
      return Malformed(reader, "expected a member name and ':'");
    }
    const bool known = key == "prompt_tokens" || key == "total_tokens";
    const bool is_prompt = key == "prompt_tokens";
    const char next = reader.Peek();
    if (known && (next == '-' || IsDigit(next))) {
      double count = 0;
      if (!reader.ReadNumber(count)) return Malformed(reader, "invalid number");
      // Compat servers sometimes send counts as floats (`12.0`).
      const auto clamped = static_cast<std::int32_t>(
          std::clamp(count, 0.0, static_cast<double>(std::numeric_limits<std::int32_t>::max())));
      if (is_prompt) {
        usage.set_prompt_tokens(clamped);
      } else {
        usage.set_total_tokens(clamped);
      }
    } else if (!reader.SkipValue()) {
      return Malformed(reader, "invalid JSON value");
    }
  } while (reader.Consume(','));
  if (!reader.Consume('}')) return Malformed(reader, "expected ',' or '}' in usage");
  return absl::OkStatus();
}

// Puts the vectors in index order and checks the indexes are exactly 0..n-1: a gap or a
// repeat means the answer does not match the inputs.
absl::Status OrderByIndex(v1::CreateEmbeddingsResponse& response) {
  auto& data = *response.mutable_data();
  auto by_index = [](const v1::Embedding* a, const v1::Embedding* b) {
    return a->index() < b->index();
  };
  if (!std::is_sorted(data.pointer_begin(), data.pointer_end(), by_index)) {
    // Swaps pointers only; the vectors stay where they are.
    std::sort(data.pointer_begin(), data.pointer_end(), by_index);
  }
  for (int i = 0; i < data.size(); ++i) {
    if (data[i].index() < i) {
      return Malformed(absl::StrCat("index ", data[i].index(), " appears twice"));
    }
    if (data[i].index() > i) return Malformed(absl::StrCat("index ", i, " is missing"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateEmbeddingsRequest(const v1::CreateEmbeddingsRequest& request) {
  if (request.model().empty()) return FieldError("model", "must be set");
  RETURN_IF_ERROR(CheckFiniteNumbers(request.extra_body(), "extra_body"));
  if (request.input_size() > 0 && request.input_token_ids_size() > 0) {
    return FieldError("input", "input and input_token_ids are both set; set one of them");
  }
  const int inputs = std::max(request.input_size(), request.input_token_ids_size());
  if (inputs == 0) return FieldError("input", "at least one input is required");
  if (inputs > kMaxInputs) {
    return FieldError("input", absl::StrCat(inputs, " inputs; at most ", kMaxInputs,
                                            " are allowed per call"));
  }
  for (int i = 0; i < request.input_token_ids_size(); ++i) {
    if (request.input_token_ids(i).token_ids_size() == 0) {
      return FieldError(absl::StrCat("input_token_ids[", i, "]"), "must not be empty");
    }
  }
  if (request.has_dimensions() && request.dimensions() < 1) {
    return FieldError("dimensions", "must be at least 1");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EmbeddingsRequestToUpstreamJson(
    const v1::CreateEmbeddingsRequest& request) {
  RETURN_IF_ERROR(ValidateEmbeddingsRequest(request));

  json body = json::object();
  body["model"] = request.model();
  // Always an array, even for one input, so the answer's shape never depends on the count.
  json input = json::array();
  if (request.input_size() > 0) {
    for (const std::string& text : request.input()) input.push_back(text);
  } else {
    for (const v1::EmbeddingTokenIds& tokens : request.input_token_ids()) {
      input.push_back(
          json(std::vector<std::int32_t>(tokens.token_ids().begin(), tokens.token_ids().end())));
    }
  }
  body["input"] = std::move(input);
  body["encoding_format"] = "base64";
  if (request.has_dimensions()) body["dimensions"] = request.dimensions();
  if (request.has_user()) body["user"] = request.user();
  MergeExtraBody(request.extra_body(), body);
  return body.dump();
}

absl::StatusOr<v1::CreateEmbeddingsResponse> EmbeddingsResponseFromUpstreamJson(
    std::string_view body) {
  JsonReader reader(body);
  if (!reader.Consume('{')) return Malformed(reader, "not a JSON object");

  v1::CreateEmbeddingsResponse response;
  bool has_data = false;
  bool in_order = true;
  if (!reader.Consume('}')) {
    do {
      std::string_view key;
      if (!reader.ReadString(key) || !reader.Consume(':')) {
        return Malformed(reader, "expected a member name and ':'");
      }
      if (key == "data") {
        if (has_data) return Malformed(reader, "two data members");
        RETURN_IF_ERROR(ReadData(reader, response, in_order));
        has_data = true;
      } else if (key == "model" && reader.Peek() == '"') {
        std::string_view model;
        if (!reader.ReadString(model)) return Malformed(reader, "invalid string");
        if (!IsValidUtf8(model)) return Malformed(reader, "model is not valid UTF-8");
        response.set_model(std::string(model));
      } else if (key == "usage") {
        RETURN_IF_ERROR(ReadUsage(reader, response));
      } else if (!reader.SkipValue()) {
        return Malformed(reader, "invalid JSON value");
      }
    } while (reader.Consume(','));
    if (!reader.Consume('}')) return Malformed(reader, "expected ',' or '}'");
  }
  if (!reader.AtEnd()) return Malformed(reader, "content after the JSON object");
  if (!has_data) return Malformed("no data array");
  if (!in_order) RETURN_IF_ERROR(OrderByIndex(response));
  return response;
}

}  // namespace gengate::translate
