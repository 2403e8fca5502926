#include "http_response_parser.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <string>
#include <utility>

namespace gengate::bench {
namespace {

constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr std::string_view kDoneEvent = "data: [DONE]";

std::string Lower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

HttpResponseParser::Progress HttpResponseParser::Bad(std::string why) {
  state_ = State::kBad;
  problem_ = std::move(why);
  return Progress::kBad;
}

bool HttpResponseParser::ParseHead() {
  std::string_view head(line_);
  size_t end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, end);
  // "HTTP/1.1 200 OK"
  const size_t space = status_line.find(' ');
  if (status_line.substr(0, 5) != "HTTP/" || space == std::string_view::npos) return false;
  const std::string_view code = status_line.substr(space + 1, 3);
  if (std::from_chars(code.data(), code.data() + code.size(), status_).ec != std::errc()) {
    return false;
  }
  close_after_ = status_line.substr(0, space) == "HTTP/1.0";
  bool has_length = false;
  while (end != std::string_view::npos && end + 2 <= head.size()) {
    const size_t start = end + 2;
    end = head.find("\r\n", start);
    const std::string_view header =
        head.substr(start, (end == std::string_view::npos ? head.size() : end) - start);
    const size_t colon = header.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string name = Lower(Trim(header.substr(0, colon)));
    const std::string value = Lower(Trim(header.substr(colon + 1)));
    if (name == "content-length") {
      if (std::from_chars(value.data(), value.data() + value.size(), remaining_).ec !=
          std::errc()) {
        return false;
      }
      has_length = true;
    } else if (name == "transfer-encoding") {
      chunked_ = value.find("chunked") != std::string::npos;
    } else if (name == "content-type") {
      event_stream_ = value.find("text/event-stream") != std::string::npos;
    } else if (name == "connection") {
      if (value == "close") close_after_ = true;
      if (value == "keep-alive") close_after_ = false;
    }
  }
  if (chunked_) {
    state_ = State::kChunkSize;
  } else if (has_length) {
    state_ = remaining_ == 0 ? State::kDone : State::kBody;
  } else if (status_ == 204 || status_ == 304) {
    state_ = State::kDone;
  } else {
    return false;  // a body up to the close: not something these servers send
  }
  line_.clear();
  return true;
}

void HttpResponseParser::OnBody(std::string_view bytes) {
  body_bytes_ += static_cast<int64_t>(bytes.size());
  if (!event_stream_) return;
  for (const char c : bytes) {
    if (c == '\n' && (previous_ == '\n')) {
      if (!event_start_.empty() && event_start_ != kDoneEvent) ++events_;
      event_start_.clear();
    } else if (c != '\n' && c != '\r' && event_start_.size() < kDoneEvent.size()) {
      event_start_ += c;
    }
    if (c != '\r') previous_ = c;
  }
}

HttpResponseParser::Progress HttpResponseParser::Feed(std::string_view bytes) {
  while (!bytes.empty()) {
    switch (state_) {
      case State::kHead: {
        const size_t old_size = line_.size();
        line_.append(bytes);
        const size_t from = old_size >= 3 ? old_size - 3 : 0;
        const size_t end = line_.find("\r\n\r\n", from);
        if (end == std::string::npos) {
          if (line_.size() > kMaxHeadBytes) return Bad("head too large");
          return Progress::kNeedMore;
        }
        const size_t body_start = end + 4;
        bytes = bytes.substr(body_start - old_size);
        line_.resize(end + 2);
        if (!ParseHead()) return Bad("cannot read the head");
        break;
      }
      case State::kBody: {
        const size_t take = std::min(bytes.size(), static_cast<size_t>(remaining_));
        OnBody(bytes.substr(0, take));
        bytes.remove_prefix(take);
        remaining_ -= static_cast<int64_t>(take);
        if (remaining_ == 0) state_ = State::kDone;
        break;
      }
      case State::kChunkSize:
      case State::kTrailers: {
        const size_t newline = bytes.find('\n');
        line_.append(bytes.substr(0, newline));
        if (newline == std::string_view::npos) {
          if (line_.size() > kMaxHeadBytes) return Bad("chunk line too long");
          return Progress::kNeedMore;
        }
        bytes.remove_prefix(newline + 1);
        std::string_view line(line_);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (state_ == State::kTrailers) {
          if (line.empty()) state_ = State::kDone;
          line_.clear();
          break;
        }
        const std::string_view size = line.substr(0, line.find(';'));
        const auto [stop, error] =
            std::from_chars(size.data(), size.data() + size.size(), remaining_, 16);
        if (error != std::errc() || stop != size.data() + size.size() || remaining_ < 0) {
          return Bad("bad chunk size");
        }
        state_ = remaining_ == 0 ? State::kTrailers : State::kChunkData;
        line_.clear();
        break;
      }
      case State::kChunkData: {
        const size_t take = std::min(bytes.size(), static_cast<size_t>(remaining_));
        OnBody(bytes.substr(0, take));
        bytes.remove_prefix(take);
        remaining_ -= static_cast<int64_t>(take);
        if (remaining_ == 0) state_ = State::kChunkEnd;
        break;
      }
      case State::kChunkEnd: {
        // The CRLF after a chunk's data; arrives whole or split.
        const char c = bytes.front();
        bytes.remove_prefix(1);
        if (c == '\n') {
          state_ = State::kChunkSize;
        } else if (c != '\r') {
          return Bad("no CRLF after a chunk");
        }
        break;
      }
      case State::kDone:
        return Bad("bytes after the response");
      case State::kBad:
        return Progress::kBad;
    }
  }
  if (state_ == State::kDone) return Progress::kDone;
  return state_ == State::kBad ? Progress::kBad : Progress::kNeedMore;
}

}  // namespace gengate::bench
