// Text that may go into an HTTP or gRPC header as it is.
#pragma once

#include <algorithm>
#include <string_view>

namespace gengate::base {

// Whether every byte of `text` is visible ASCII (0x21-0x7E): no space, no control character
// (a line break would end a header and start another) and nothing past ASCII, which gRPC
// refuses in a text header. True for an empty text.
inline bool IsVisibleAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

}  // namespace gengate::base
