// A byte scan of JSON text that skips string literals, for the cheap checks made before a
// document is parsed (how deep it nests, how many members an object has).
#pragma once

#include <cstddef>
#include <string_view>

namespace gengate::base {

// Calls `visit(c)` for every byte of `text` outside string literals, in order; the quotes and
// everything between them, escaped quotes included, are skipped, so a bracket or colon inside
// a string is never seen. `visit` returns false to stop the scan. The text need not be valid
// JSON.
template <typename Visit>
void ForEachStructuralByte(std::string_view text, Visit&& visit) {
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character, a quote maybe
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (!visit(c)) {
      return;
    }
  }
}

}  // namespace gengate::base
