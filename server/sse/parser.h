// An incremental Server-Sent Events parser (pure: bytes in, events out, no I/O).
//
// Follows the WHATWG event-stream rules: lines end in CRLF, LF or CR (a CR at the end of one
// Feed may be followed by the LF in the next), `:` lines are comments, `event:`, `data:`,
// `id:` and `retry:` fields, one optional space after the colon, several data lines joined
// with "\n", a blank line dispatches, an event with no data is not dispatched, a leading BOM
// is skipped. Bytes may be split anywhere, even inside a UTF-8 character.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gengate::sse {

// One dispatched event.
struct Event {
  std::string type;  // the `event:` field; empty means the default type "message"
  std::string data;  // data lines joined with "\n"
  // The last event id seen so far (sticky, as the spec says). An `id:` longer than
  // Parser::kMaxIdBytes is ignored, as one with a NUL is: each event carries a copy, so a huge
  // id would multiply memory by the number of events.
  std::string id;

  bool operator==(const Event&) const = default;
};

class Parser {
 public:
  // An event's data (or a single line) that grows past `max_event_bytes` is an error, so
  // memory stays bounded whatever the upstream sends.
  explicit Parser(std::size_t max_event_bytes = 32u << 20);

  static constexpr std::size_t kMaxIdBytes = 1024;

  // Parses `bytes` and appends every event completed by them to `out`. Returns false if an
  // event grew past the limit; the parser must not be fed again after that.
  bool Feed(std::string_view bytes, std::vector<Event>& out);

  // True when bytes of an unfinished event (or line) are pending: at EOF they are dropped, as
  // the spec says, and the stream was truncated.
  bool HasPendingEvent() const;

  // The last `retry:` value in milliseconds, if any.
  std::optional<std::int64_t> retry_ms() const { return retry_ms_; }

 private:
  // Feeds bytes that come after the optional BOM.
  bool FeedLines(std::string_view bytes, std::vector<Event>& out);
  // Interprets one complete line (without its terminator). False if the event grew too big.
  bool ProcessLine(std::string_view line, std::vector<Event>& out);
  bool ProcessField(std::string_view name, std::string_view value);
  void Dispatch(std::vector<Event>& out);

  std::size_t max_event_bytes_;
  std::string line_;         // the current, unfinished line
  std::string data_;         // data of the current event
  std::string type_;         // type of the current event
  std::string last_id_;      // sticky last event id
  bool has_data_ = false;    // a data field was seen in the current event
  bool has_fields_ = false;  // any field was seen in the current event
  bool skip_lf_ = false;     // the previous byte was a CR ending a line
  bool at_start_ = true;     // still inside a possible leading BOM
  std::size_t bom_bytes_seen_ = 0;  // how much of the BOM matched so far (it may be split)
  bool failed_ = false;      // a limit was exceeded; every later Feed fails
  std::optional<std::int64_t> retry_ms_;
};

}  // namespace gengate::sse
