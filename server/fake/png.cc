#include "fake/png.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <string_view>

namespace gengate::fake {
namespace {

constexpr std::string_view kPngSignature = "\x89PNG\r\n\x1a\n";
constexpr size_t kMaxStoredBlockBytes = 65535;  // LEN of a stored deflate block is 16 bits

constexpr std::array<uint32_t, 256> MakeCrc32Table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t n = 0; n < table.size(); ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kCrc32Table = MakeCrc32Table();

// CRC-32 as PNG (and zlib) define it: reflected polynomial 0xEDB88320, inverted in and out.
uint32_t Crc32(std::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) crc = kCrc32Table[(crc ^ byte) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

// Adler-32, the checksum that ends a zlib stream.
uint32_t Adler32(std::string_view bytes) {
  constexpr uint32_t kModulus = 65521;
  uint32_t a = 1;
  uint32_t b = 0;
  for (unsigned char byte : bytes) {
    a = (a + byte) % kModulus;
    b = (b + a) % kModulus;
  }
  return (b << 16) | a;
}

void AppendBigEndian32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

void AppendLittleEndian16(std::string& out, uint16_t value) {
  out.push_back(static_cast<char>(value & 0xFF));
  out.push_back(static_cast<char>(value >> 8));
}

// A zlib stream (RFC 1950) holding `raw` in stored deflate blocks (RFC 1951 section 3.2.4).
std::string ZlibStored(std::string_view raw) {
  std::string out = {'\x78', '\x01'};  // deflate, 32 KiB window; (0x78 * 256 + 0x01) % 31 == 0
  size_t offset = 0;
  do {
    const size_t length = std::min(kMaxStoredBlockBytes, raw.size() - offset);
    const bool final_block = offset + length == raw.size();
    // BFINAL and BTYPE=00 fill the first three bits; a stored block then skips to the next byte.
    out.push_back(final_block ? '\x01' : '\x00');
    AppendLittleEndian16(out, static_cast<uint16_t>(length));
    AppendLittleEndian16(out, static_cast<uint16_t>(~length));
    out.append(raw.substr(offset, length));
    offset += length;
  } while (offset < raw.size());
  AppendBigEndian32(out, Adler32(raw));
  return out;
}

void AppendChunk(std::string& png, std::string_view type, std::string_view data) {
  AppendBigEndian32(png, static_cast<uint32_t>(data.size()));
  std::string type_and_data(type);
  type_and_data.append(data);
  png.append(type_and_data);
  AppendBigEndian32(png, Crc32(type_and_data));
}

}  // namespace

std::string EncodeSolidPng(uint32_t width, uint32_t height, Rgba color) {
  width = std::max<uint32_t>(width, 1);
  height = std::max<uint32_t>(height, 1);

  std::string header;
  AppendBigEndian32(header, width);
  AppendBigEndian32(header, height);
  // Bit depth 8, colour type 6 (RGBA), compression 0, filter method 0, no interlace.
  header.append({'\x08', '\x06', '\x00', '\x00', '\x00'});

  // Each scanline is a filter-type byte (0: none) followed by the row's pixels.
  std::string row(1, '\0');
  for (uint32_t x = 0; x < width; ++x) {
    row.append({static_cast<char>(color.r), static_cast<char>(color.g), static_cast<char>(color.b),
                static_cast<char>(color.a)});
  }
  std::string scanlines;
  scanlines.reserve(row.size() * height);
  for (uint32_t y = 0; y < height; ++y) scanlines.append(row);

  std::string png(kPngSignature);
  AppendChunk(png, "IHDR", header);
  AppendChunk(png, "IDAT", ZlibStored(scanlines));
  AppendChunk(png, "IEND", "");
  return png;
}

}  // namespace gengate::fake
