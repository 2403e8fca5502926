#include "sse/parser.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

namespace gengate::sse {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// Finds successive occurrences of one byte in a buffer with memchr, remembering the last hit
// so that looking for CR and LF separately stays linear even when only one of them occurs.
class ByteScanner {
 public:
  ByteScanner(std::string_view text, char byte) : text_(text), byte_(byte) {}

  // Offset of the first `byte` at or after `from`, or text.size() if there is none.
  std::size_t NextFrom(std::size_t from) {
    if (!searched_ || next_ < from) {
      searched_ = true;
      const void* hit = std::memchr(text_.data() + from, byte_, text_.size() - from);
      next_ = hit == nullptr ? text_.size()
                             : static_cast<std::size_t>(static_cast<const char*>(hit) -
                                                        text_.data());
    }
    return next_;
  }

 private:
  std::string_view text_;
  char byte_;
  std::size_t next_ = 0;
  bool searched_ = false;
};

// `retry:` takes ASCII digits only; anything else (or an overflowing number) is ignored.
std::optional<std::int64_t> ParseRetry(std::string_view value) {
  if (value.empty()) return std::nullopt;
  std::int64_t ms = 0;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    if (ms > (kMax - digit) / 10) return std::nullopt;
    ms = ms * 10 + digit;
  }
  return ms;
}

}  // namespace

Parser::Parser(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

bool Parser::Feed(std::string_view bytes, std::vector<Event>& out) {
  if (failed_) return false;
  if (at_start_) {
    // The BOM itself may arrive split over several Feeds, so match it byte by byte.
    while (!bytes.empty() && bom_bytes_seen_ < kBom.size() &&
           bytes.front() == kBom[bom_bytes_seen_]) {
      ++bom_bytes_seen_;
      bytes.remove_prefix(1);
    }
    if (bom_bytes_seen_ == kBom.size()) {
      at_start_ = false;
    } else if (bytes.empty()) {
      return true;  // everything so far may still be a BOM
    } else {
      // Not a BOM after all: the bytes matched so far are ordinary stream bytes.
      at_start_ = false;
      if (!FeedLines(kBom.substr(0, bom_bytes_seen_), out)) return false;
    }
  }
  return FeedLines(bytes, out);
}

bool Parser::FeedLines(std::string_view bytes, std::vector<Event>& out) {
  std::size_t cursor = 0;
  if (skip_lf_ && !bytes.empty()) {
    // The previous Feed ended in a CR; an LF now is the second half of that CRLF.
    skip_lf_ = false;
    if (bytes.front() == '\n') cursor = 1;
  }
  ByteScanner lf_scanner(bytes, '\n');
  ByteScanner cr_scanner(bytes, '\r');
  while (cursor < bytes.size()) {
    const std::size_t line_end =
        std::min(lf_scanner.NextFrom(cursor), cr_scanner.NextFrom(cursor));
    if (line_end == bytes.size()) {
      // An unfinished line: keep it for the next Feed, within the limit.
      const std::string_view rest = bytes.substr(cursor);
      if (line_.size() + rest.size() > max_event_bytes_) {
        failed_ = true;
        return false;
      }
      line_.append(rest);
      return true;
    }
    const std::string_view piece = bytes.substr(cursor, line_end - cursor);
    cursor = line_end + 1;
    if (bytes[line_end] == '\r') {
      if (cursor == bytes.size()) {
        skip_lf_ = true;
      } else if (bytes[cursor] == '\n') {
        ++cursor;
      }
    }

    bool ok;
    if (line_.empty()) {
      // The common case: the whole line is in this buffer, so parse it in place.
      ok = piece.size() <= max_event_bytes_ && ProcessLine(piece, out);
    } else {
      ok = line_.size() + piece.size() <= max_event_bytes_;
      if (ok) {
        line_.append(piece);
        ok = ProcessLine(line_, out);
        line_.clear();
      }
    }
    if (!ok) {
      failed_ = true;
      return false;
    }
  }
  return true;
}

bool Parser::ProcessLine(std::string_view line, std::vector<Event>& out) {
  if (line.empty()) {
    Dispatch(out);
    return true;
  }
  if (line.front() == ':') return true;  // a comment, typically a keep-alive
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return ProcessField(line, {});
  std::string_view value = line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return ProcessField(line.substr(0, colon), value);
}

bool Parser::ProcessField(std::string_view name, std::string_view value) {
  has_fields_ = true;
  if (name == "data") {
    const std::size_t separator = has_data_ ? 1 : 0;
    if (data_.size() + separator + value.size() > max_event_bytes_) return false;
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (name == "event") {
    type_.assign(value);
  } else if (name == "id") {
    if (value.size() <= kMaxIdBytes && value.find('\0') == std::string_view::npos) {
      last_id_.assign(value);
    }
  } else if (name == "retry") {
    if (std::optional<std::int64_t> ms = ParseRetry(value)) retry_ms_ = ms;
  }
  // Other field names are ignored, as the spec says.
  return true;
}

void Parser::Dispatch(std::vector<Event>& out) {
  if (has_data_) {
    out.push_back(Event{std::move(type_), std::move(data_), last_id_});
  }
  type_.clear();
  data_.clear();
  has_data_ = false;
  has_fields_ = false;
}

bool Parser::HasPendingEvent() const {
  return !line_.empty() || has_fields_ || (at_start_ && bom_bytes_seen_ > 0);
}

}  // namespace gengate::sse
