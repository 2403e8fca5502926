// The one JSON string escaper, for every library that writes JSON text by hand (the log line,
// the upstream request bodies).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace gengate::base {

namespace json_escape_internal {

// Whether any of the eight bytes of `word` needs escaping: below 0x20, a quote or a backslash.
// Bit tricks on the whole word (a byte is below n when subtracting n borrows into its top bit
// while the byte's own top bit is clear); exact, no false positives.
constexpr bool HasByteToEscape(std::uint64_t word) {
  constexpr std::uint64_t kOnes = 0x0101010101010101;
  constexpr std::uint64_t kHighBits = 0x8080808080808080;
  const auto has_zero = [](std::uint64_t x) { return (x - kOnes) & ~x & kHighBits; };
  const std::uint64_t below_space = (word - kOnes * 0x20) & ~word & kHighBits;
  return (below_space | has_zero(word ^ (kOnes * '"')) | has_zero(word ^ (kOnes * '\\'))) != 0;
}

}  // namespace json_escape_internal

// Appends `text` escaped for the inside of a JSON string, without the quotes: the quote, the
// backslash and the controls below 0x20 are escaped; everything else, UTF-8 included, is copied
// in runs (nearly every value is one run). Eight bytes are checked at a time, so a prompt of
// plain text costs about a comparison per word.
inline void AppendJsonEscaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t run = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.size() - i >= 8) {
      std::uint64_t word;
      std::memcpy(&word, text.data() + i, sizeof(word));
      if (!json_escape_internal::HasByteToEscape(word)) {
        i += 8;
        continue;
      }
    }
    const auto c = static_cast<unsigned char>(text[i++]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run, i - 1 - run);
    run = i;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
  }
  out.append(text.data() + run, text.size() - run);
}

// Appends `text` as a JSON string: quoted and escaped.
inline void AppendJsonString(std::string& out, std::string_view text) {
  out.push_back('"');
  AppendJsonEscaped(out, text);
  out.push_back('"');
}

}  // namespace gengate::base
