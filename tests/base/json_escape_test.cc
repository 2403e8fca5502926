// The JSON string escaper checks eight bytes at a time: every byte value at every position of
// a word, and the tails shorter than a word, must come out as a byte-at-a-time escaper writes
// them, and as JSON that reads back to the input.
#include "base/json_escape.h"

#include <cstdint>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gengate::base {
namespace {

// The rule, one byte at a time, written independently of the escaper under test.
std::string Reference(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\b') {
      out += "\\b";
    } else if (c == '\f') {
      out += "\\f";
    } else if (byte < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

std::string Escaped(const std::string& text) {
  std::string out = "prefix";  // appends, never replaces
  AppendJsonEscaped(out, text);
  return out.substr(6);
}

TEST(JsonEscapeTest, EveryByteAtEveryPositionOfAWord) {
  for (int byte = 0; byte < 256; ++byte) {
    for (std::size_t length : {1u, 7u, 8u, 9u, 16u, 17u}) {
      for (std::size_t at = 0; at < length; ++at) {
        std::string text(length, 'a');
        text[at] = static_cast<char>(byte);
        ASSERT_EQ(Escaped(text), Reference(text)) << "byte " << byte << " at " << at << " of "
                                                  << length;
      }
    }
  }
}

// The word test must not see an escape that is not there: bytes just above the limits, and
// UTF-8 (top bit set) beside bytes that need escaping, in every mix.
TEST(JsonEscapeTest, RandomTextMatchesTheReferenceAndReadsBack) {
  std::mt19937 random(11);
  const std::string alphabet = std::string("\x00\x1f\x20\x21\"#[\\]\x7f\x80\xc3\xa9\xff", 14) +
                               "plain text 0123456789";
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<std::size_t> length(0, 64);
  for (int i = 0; i < 20'000; ++i) {
    std::string text(length(random), ' ');
    for (char& c : text) c = alphabet[pick(random)];
    const std::string escaped = Escaped(text);
    ASSERT_EQ(escaped, Reference(text)) << testing::PrintToString(text);
  }
  // Valid UTF-8 reads back exactly.
  const std::string text = "caf\xc3\xa9 \"quoted\" \\ back\nline\x01 and a long tail of text";
  std::string quoted;
  AppendJsonString(quoted, text);
  EXPECT_EQ(nlohmann::json::parse(quoted).get<std::string>(), text);
}

TEST(JsonEscapeTest, StringIsQuoted) {
  std::string out;
  AppendJsonString(out, "a\"b");
  EXPECT_EQ(out, R"("a\"b")");
}

}  // namespace
}  // namespace gengate::base
