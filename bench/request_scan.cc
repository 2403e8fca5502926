#include "request_scan.h"

#include <charconv>
#include <cstddef>
#include <string>

namespace gengate::bench {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t SkipSpace(std::string_view text, size_t at) {
  while (at < text.size() && IsSpace(text[at])) ++at;
  return at;
}

// The index just past the string starting at the quote `text[at]`, or npos if unterminated.
size_t SkipString(std::string_view text, size_t at) {
  for (size_t i = at + 1; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// Where the value of the first `"key":` starts, or npos. A quoted key inside a string value
// has its quotes escaped, so a plain search does not mistake it for a key.
size_t ValueStart(std::string_view json, std::string_view key) {
  std::string needle;
  needle.reserve(key.size() + 2);
  needle.append("\"").append(key).append("\"");
  for (size_t found = json.find(needle); found != std::string_view::npos;
       found = json.find(needle, found + 1)) {
    size_t at = SkipSpace(json, found + needle.size());
    if (at < json.size() && json[at] == ':') return SkipSpace(json, at + 1);
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<std::string_view> ScalarField(std::string_view json, std::string_view key) {
  const size_t start = ValueStart(json, key);
  if (start == std::string_view::npos || start >= json.size()) return std::nullopt;
  if (json[start] == '"') {
    const size_t end = SkipString(json, start);
    if (end == std::string_view::npos) return std::nullopt;
    return json.substr(start + 1, end - start - 2);
  }
  if (json[start] == '{' || json[start] == '[') return std::nullopt;
  size_t end = start;
  while (end < json.size() && json[end] != ',' && json[end] != '}' && json[end] != ']' &&
         !IsSpace(json[end])) {
    ++end;
  }
  return json.substr(start, end - start);
}

std::optional<int64_t> ElementCount(std::string_view json, std::string_view key) {
  const size_t start = ValueStart(json, key);
  if (start == std::string_view::npos || start >= json.size()) return std::nullopt;
  if (json[start] != '[') return 1;
  int depth = 0;
  int64_t commas = 0;
  bool any = false;
  for (size_t i = start; i < json.size(); ++i) {
    const char c = json[i];
    if (c == '"') {
      const size_t end = SkipString(json, i);
      if (end == std::string_view::npos) return std::nullopt;
      i = end - 1;
      any = true;
    } else if (c == '[' || c == '{') {
      if (depth >= 1) any = true;
      ++depth;
    } else if (c == ']' || c == '}') {
      if (--depth == 0) return any ? commas + 1 : 0;
    } else if (c == ',' && depth == 1) {
      ++commas;
    } else if (!IsSpace(c)) {
      any = true;
    }
  }
  return std::nullopt;
}

std::optional<int64_t> IntParam(std::string_view model, std::string_view name) {
  std::string needle;
  needle.reserve(name.size() + 2);
  needle.append(":").append(name).append("=");
  const size_t found = model.find(needle);
  if (found == std::string_view::npos) return std::nullopt;
  const char* begin = model.data() + found + needle.size();
  const char* end = model.data() + model.size();
  int64_t value = 0;
  const auto [stop, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || stop == begin) return std::nullopt;
  return value;
}

}  // namespace gengate::bench
