// An incremental HTTP/1.1 response reader for the load generator: status, Content-Length or
// chunked framing, and a count of the SSE events in a text/event-stream body (the `[DONE]`
// event is not a message, so it is not counted). Bytes may arrive split anywhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gengate::bench {

class HttpResponseParser {
 public:
  enum class Progress { kNeedMore, kDone, kBad };

  // Takes the next bytes of the response. After kDone or kBad, call Reset before the next.
  Progress Feed(std::string_view bytes);
  void Reset() { *this = HttpResponseParser(); }

  int status() const { return status_; }
  int64_t events() const { return events_; }
  int64_t body_bytes() const { return body_bytes_; }
  bool close_after() const { return close_after_; }
  const std::string& problem() const { return problem_; }

 private:
  enum class State { kHead, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailers, kDone, kBad };

  Progress Bad(std::string why);
  bool ParseHead();
  void OnBody(std::string_view bytes);

  State state_ = State::kHead;
  std::string line_;  // the head, or the current chunk-size / trailer line
  int status_ = 0;
  bool chunked_ = false;
  bool event_stream_ = false;
  bool close_after_ = false;
  int64_t remaining_ = 0;  // of the body (Content-Length) or of the current chunk
  int64_t body_bytes_ = 0;
  int64_t events_ = 0;
  std::string event_start_;  // the first bytes of the current SSE event
  char previous_ = 0;
  std::string problem_;
};

}  // namespace gengate::bench
