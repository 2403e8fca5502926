#include "translate/base64.h"

#include <cstddef>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace gengate::translate {
namespace {

constexpr char kGuard = static_cast<char>(0xAA);

// Decodes into a buffer with guard bytes after the room DecodeBase64 may use, and checks that
// nothing after the decoded bytes was written.
std::optional<std::string> Decode(const std::string& text) {
  const std::size_t room = Base64MaxDecodedSize(text.size());
  std::string buffer(room + 64, kGuard);
  const std::optional<std::size_t> size = DecodeBase64(text, buffer.data());
  if (!size.has_value()) return std::nullopt;
  EXPECT_LE(*size, room);
  for (std::size_t i = *size; i < buffer.size(); ++i) {
    if (buffer[i] != kGuard) {
      ADD_FAILURE() << "byte " << i << " written past the decoded " << *size << " bytes";
      break;
    }
  }
  return buffer.substr(0, *size);
}

std::string RandomBytes(std::mt19937& random, std::size_t size) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(byte(random));
  return bytes;
}

std::string WithoutPadding(std::string text) {
  while (!text.empty() && text.back() == '=') text.pop_back();
  return text;
}

// Every length from 0 to 300 bytes crosses the 32-character SIMD blocks, the scalar groups
// and the three kinds of ending; absl's encoder is the reference.
TEST(Base64Test, RoundTripsEveryLengthPaddedAndUnpadded) {
  std::mt19937 random(1);
  for (std::size_t size = 0; size <= 300; ++size) {
    const std::string bytes = RandomBytes(random, size);
    const std::string padded = absl::Base64Escape(bytes);
    EXPECT_EQ(Decode(padded), bytes) << "size " << size;
    EXPECT_EQ(Decode(WithoutPadding(padded)), bytes) << "unpadded, size " << size;
  }
}

TEST(Base64Test, RoundTripsLargeInput) {
  std::mt19937 random(2);
  const std::string bytes = RandomBytes(random, 1 << 20);
  EXPECT_EQ(Decode(absl::Base64Escape(bytes)), bytes);
}

TEST(Base64Test, DecodesEveryAlphabetCharacterAtEveryBlockPosition) {
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  // Shifting the alphabet puts each character in each lane of a 32-character block.
  for (std::size_t shift = 0; shift < 32; ++shift) {
    std::string text;
    for (int i = 0; i < 4; ++i) text += alphabet.substr(shift) + alphabet.substr(0, shift);
    std::string expected;
    ASSERT_TRUE(absl::Base64Unescape(text, &expected));
    EXPECT_EQ(Decode(text), expected) << "shift " << shift;
  }
}

TEST(Base64Test, RejectsCharactersOutsideTheAlphabetAnywhere) {
  std::mt19937 random(3);
  const std::string valid = absl::Base64Escape(RandomBytes(random, 150));  // 200 characters
  const std::vector<char> bad_characters = {'-',  '_',  '"', '\\', ' ',  '\n', '\0', '=',
                                            '.',  ':',  '@', '[',  '`',  '{',  '*',  ',',
                                            '\x7F', static_cast<char>(0x80),
                                            static_cast<char>(0xC3), static_cast<char>(0xFF)};
  for (char bad : bad_characters) {
    // The last two characters are padding, where '=' is allowed.
    for (std::size_t position = 0; position + 2 < valid.size(); ++position) {
      std::string text = valid;
      text[position] = bad;
      EXPECT_EQ(Decode(text), std::nullopt)
          << "character " << static_cast<int>(static_cast<unsigned char>(bad)) << " at "
          << position;
    }
  }
}

TEST(Base64Test, HandlesPaddingAndLengths) {
  struct Case {
    std::string text;
    std::optional<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"", std::string()},
      {"QQ==", std::string("A")},
      {"QUI=", std::string("AB")},
      {"QUJD", std::string("ABC")},
      {"QQ", std::string("A")},
      {"QUI", std::string("AB")},
      {"Q", std::nullopt},         // one character carries no whole byte
      {"QUJDR", std::nullopt},     // same, after a full group
      {"Q===", std::nullopt},      // three padding characters
      {"====", std::nullopt},
      {"QQ=A", std::nullopt},      // padding in the middle of the last group
      {"QQ==QUJD", std::nullopt},  // padding before the end
      {"QQ=", std::nullopt},       // padding without a full group
  };
  for (const Case& c : cases) EXPECT_EQ(Decode(c.text), c.expected) << "\"" << c.text << "\"";
}

TEST(Base64Test, MaxDecodedSizeCoversEveryLength) {
  EXPECT_EQ(Base64MaxDecodedSize(0), 0u);
  EXPECT_EQ(Base64MaxDecodedSize(2), 3u);
  EXPECT_EQ(Base64MaxDecodedSize(4), 3u);
  EXPECT_EQ(Base64MaxDecodedSize(8192), 6144u);
}

}  // namespace
}  // namespace gengate::translate
