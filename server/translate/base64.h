// Standard base64 (RFC 4648 section 4) decoding at memory speed, for image bytes and base64
// embeddings. Header-only so images.cc and embeddings.cc share it without another library.
//
// On x86-64 CPUs with AVX2 the bulk is decoded 32 characters at a time (the lookup-by-nibble
// scheme of Muła and Lemire, "Faster Base64 Encoding and Decoding using AVX2 Instructions",
// 2018); everything else, and the last few characters, go through a table-driven scalar loop.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define GENGATE_BASE64_AVX2 1
#endif

namespace gengate::translate {

// The most bytes `encoded_size` characters of base64 decode to (padding makes it fewer).
constexpr std::size_t Base64MaxDecodedSize(std::size_t encoded_size) {
  return (encoded_size + 3) / 4 * 3;
}

// Decodes `encoded`, padded (`...==`) or not, into `out`, which must have room for
// Base64MaxDecodedSize(encoded.size()) bytes, and returns the number of bytes written. nullopt
// when a character is outside the alphabet, '=' is anywhere but the end, or no base64 text has
// this length; `out` then holds garbage. No whitespace or URL-safe alphabet: upstream JSON
// carries neither. The text is read front to back once (its end is not looked at first, which
// would cost a cache miss per string on large answers).
std::optional<std::size_t> DecodeBase64(std::string_view encoded, char* out);

// ---------------------------------------------------------------------------------------------
// Implementation.

namespace base64_internal {

inline constexpr std::uint8_t kInvalid = 0xFF;

// Character → 6-bit value, kInvalid for everything outside the alphabet.
inline constexpr std::array<std::uint8_t, 256> kDecodeTable = [] {
  std::array<std::uint8_t, 256> table{};
  for (std::uint8_t& entry : table) entry = kInvalid;
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return table;
}();

// Decodes `quads` groups of 4 characters into 3 bytes each.
inline bool DecodeQuadsScalar(const unsigned char* in, std::size_t quads, unsigned char* out) {
  for (std::size_t i = 0; i < quads; ++i, in += 4, out += 3) {
    const std::uint32_t a = kDecodeTable[in[0]];
    const std::uint32_t b = kDecodeTable[in[1]];
    const std::uint32_t c = kDecodeTable[in[2]];
    const std::uint32_t d = kDecodeTable[in[3]];
    // Valid values are below 64, so one test of bit 7 checks all four.
    if (((a | b | c | d) & 0x80) != 0) return false;
    const std::uint32_t bits = (a << 18) | (b << 12) | (c << 6) | d;
    out[0] = static_cast<unsigned char>(bits >> 16);
    out[1] = static_cast<unsigned char>(bits >> 8);
    out[2] = static_cast<unsigned char>(bits);
  }
  return true;
}

#ifdef GENGATE_BASE64_AVX2

// Decodes 32 characters into 24 bytes: 12 at the start of each 128-bit lane of `packed`.
// False when a character is outside the alphabet.
__attribute__((target("avx2"))) inline bool DecodeBlockAvx2(const unsigned char* in,
                                                            __m256i& packed) {
  // A character is valid when (kInvalidForLow[low nibble] & kHighBit[high nibble]) == 0:
  // each high nibble has a bit, and each low-nibble entry holds the bits of the high nibbles
  // for which that low nibble is not in the alphabet. Bit 0 marks high nibbles with no valid
  // character at all (0x0_, 0x1_, 0x8_-0xF_) and is set in every entry.
  const __m256i invalid_for_low = _mm256_setr_epi8(
      0x0B, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x07, 0x15, 0x17, 0x17, 0x17,
      0x15,  //
      0x0B, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x07, 0x15, 0x17, 0x17, 0x17,
      0x15);
  const __m256i high_bit = _mm256_setr_epi8(
      0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x08, 0x10, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
      0x01,  //
      0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x08, 0x10, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
      0x01);
  // What to add to a valid character to get its value, by high nibble; '/' (0x2F) is moved to
  // slot 1 so it is told apart from '+' (0x2B), the other 0x2_ character.
  const __m256i offset_by_high = _mm256_setr_epi8(
      0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,  //
      0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i nibble_mask = _mm256_set1_epi8(0x0F);
  const __m256i slash = _mm256_set1_epi8('/');
  // Per 32-bit lane, bytes [a b c d] of 6 bits each: first a*64+b and c*64+d (16 bits each),
  // then (a*64+b)*4096 + (c*64+d), the 24 bits of output in a little-endian dword.
  const __m256i merge_pairs = _mm256_set1_epi32(0x01400140);
  const __m256i merge_halves = _mm256_set1_epi32(0x00011000);
  // Each dword's three bytes in big-endian order, 12 bytes per 128-bit lane.
  const __m256i pack_bytes = _mm256_setr_epi8(
      2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,  //
      2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);

  const __m256i chars = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in));
  const __m256i high = _mm256_and_si256(_mm256_srli_epi32(chars, 4), nibble_mask);
  const __m256i low = _mm256_and_si256(chars, nibble_mask);
  const __m256i invalid = _mm256_and_si256(_mm256_shuffle_epi8(invalid_for_low, low),
                                           _mm256_shuffle_epi8(high_bit, high));
  // cmpeq gives -1 for '/', which moves its high nibble 2 to slot 1.
  const __m256i slot = _mm256_add_epi8(high, _mm256_cmpeq_epi8(chars, slash));
  const __m256i values = _mm256_add_epi8(chars, _mm256_shuffle_epi8(offset_by_high, slot));
  const __m256i pairs = _mm256_maddubs_epi16(values, merge_pairs);
  const __m256i dwords = _mm256_madd_epi16(pairs, merge_halves);
  packed = _mm256_shuffle_epi8(dwords, pack_bytes);
  return _mm256_testz_si256(invalid, invalid);
}

// Decodes `blocks` groups of 32 characters into exactly 24 bytes each.
__attribute__((target("avx2"))) inline bool DecodeBlocksAvx2(const unsigned char* in,
                                                             std::size_t blocks,
                                                             unsigned char* out) {
  if (blocks == 0) return true;
  __m256i packed;
  for (std::size_t i = 0; i + 1 < blocks; ++i, in += 32, out += 24) {
    if (!DecodeBlockAvx2(in, packed)) return false;
    // 12 bytes from each lane: two 16-byte stores, each overlapping the next one's start.
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(packed));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 12), _mm256_extracti128_si256(packed, 1));
  }
  // The last block goes through a buffer: its second store would run 4 bytes past `out`.
  if (!DecodeBlockAvx2(in, packed)) return false;
  alignas(32) unsigned char last[32];
  _mm_store_si128(reinterpret_cast<__m128i*>(last), _mm256_castsi256_si128(packed));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(last + 12), _mm256_extracti128_si256(packed, 1));
  std::memcpy(out, last, 24);
  return true;
}

inline bool CpuHasAvx2() {
  static const bool has_avx2 = __builtin_cpu_supports("avx2");
  return has_avx2;
}

#endif  // GENGATE_BASE64_AVX2

}  // namespace base64_internal

inline std::optional<std::size_t> DecodeBase64(std::string_view encoded, char* out) {
  // One character left over carries only 6 bits: no byte ends there.
  if (encoded.size() % 4 == 1) return std::nullopt;
  if (encoded.empty()) return 0;
  const auto* in = reinterpret_cast<const unsigned char*>(encoded.data());
  auto* dst = reinterpret_cast<unsigned char*>(out);
  // Only the last group of 4 (or the 2-3 characters of an unpadded end) may hold padding.
  const std::size_t tail = encoded.size() % 4 == 0 ? 4 : encoded.size() % 4;
  std::size_t quads = (encoded.size() - tail) / 4;

#ifdef GENGATE_BASE64_AVX2
  if (base64_internal::CpuHasAvx2()) {
    const std::size_t blocks = quads / 8;
    if (!base64_internal::DecodeBlocksAvx2(in, blocks, dst)) return std::nullopt;
    in += blocks * 32;
    dst += blocks * 24;
    quads -= blocks * 8;
  }
#endif

  if (!base64_internal::DecodeQuadsScalar(in, quads, dst)) return std::nullopt;
  in += quads * 4;
  dst += quads * 3;

  // The end: "xy==" and "xy" give 1 byte, "xyz=" and "xyz" 2, "wxyz" 3. The unused low bits of
  // the last character are ignored.
  std::size_t data_chars = tail;
  if (tail == 4 && in[3] == '=') data_chars = in[2] == '=' ? 2 : 3;
  unsigned char last[4] = {'A', 'A', 'A', 'A'};
  for (std::size_t i = 0; i < data_chars; ++i) last[i] = in[i];
  unsigned char bytes[3];
  if (!base64_internal::DecodeQuadsScalar(last, 1, bytes)) return std::nullopt;
  for (std::size_t i = 0; i + 1 < data_chars; ++i) dst[i] = bytes[i];
  dst += data_chars - 1;
  return static_cast<std::size_t>(dst - reinterpret_cast<unsigned char*>(out));
}

}  // namespace gengate::translate
