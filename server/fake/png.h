// A minimal PNG encoder for the fake upstream's images: real files that any decoder accepts,
// without a zlib dependency (the pixels go into stored, i.e. uncompressed, deflate blocks).
#pragma once

#include <cstdint>
#include <string>

namespace gengate::fake {

struct Rgba {
  uint8_t r = 0;
  uint8_t g = 0;
  uint8_t b = 0;
  uint8_t a = 255;
};

// The bytes of a `width` x `height` 8-bit RGBA PNG filled with `color`. Sides below 1 are
// taken as 1. Meant for small images: the size grows with the pixel count, uncompressed.
std::string EncodeSolidPng(uint32_t width, uint32_t height, Rgba color);

}  // namespace gengate::fake
