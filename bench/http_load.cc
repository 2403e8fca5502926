// The HTTP/1.1 side of the load generator, for the baselines: the same calls POSTed as JSON to
// the mock directly or through nginx, one keep-alive connection per concurrent call, driven by
// one epoll loop. It measures what the gRPC side measures (latency, time to the first SSE event,
// events per stream) so the rows of the table compare like with like.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "http_response_parser.h"
#include "load.h"

namespace gengate::bench {
namespace {

// `body` with the value of its first "model" replaced, so one captured body serves every
// parameter set of the mock.
std::string WithModel(std::string body, const std::string& model) {
  if (model.empty()) return body;
  const size_t key = body.find("\"model\"");
  if (key == std::string::npos) return body;
  const size_t open = body.find('"', body.find(':', key + 7));
  const size_t close = open == std::string::npos ? open : body.find('"', open + 1);
  if (close == std::string::npos) return body;
  return body.replace(open + 1, close - open - 1, model);
}

// The JSON gengate sends for the load generator's gRPC requests, for runs without a body
// captured from gengate.
std::string DefaultBody(const LoadSpec& spec) {
  if (spec.call == CallKind::kEmbeddings) {
    std::string body = absl::StrCat(R"({"model":")", spec.model, R"(","input":[)");
    for (int i = 0; i < spec.embedding_inputs; ++i) {
      absl::StrAppend(&body, i == 0 ? "" : ",", "\"benchmark input number ", i,
                      ", a short sentence to embed.\"");
    }
    absl::StrAppend(&body, R"(],"dimensions":)", spec.embedding_dimensions,
                    R"(,"encoding_format":"base64"})");
    return body;
  }
  return absl::StrCat(
      R"({"model":")", spec.model,
      R"(","messages":[{"role":"system","content":"You are a helpful assistant. Answer in one )"
      R"(short sentence."},{"role":"user","content":"Say hello to the benchmark, and tell it )"
      R"(how fast you are today."}],"max_completion_tokens":64)",
      spec.call == CallKind::kStream ? R"(,"stream":true,"stream_options":{"include_usage":true})"
                                     : "",
      "}");
}

class HttpLoad {
 public:
  explicit HttpLoad(const LoadSpec& spec) : spec_(spec) {
    const std::string body = WithModel(
        spec.http_body.empty() ? DefaultBody(spec) : spec.http_body, spec.model);
    request_ = absl::StrCat("POST ", spec.http_path, " HTTP/1.1\r\nHost: ", spec.address,
                            "\r\nUser-Agent: bench_loadgen\r\nAuthorization: Bearer bench\r\n"
                            "Content-Type: application/json\r\nContent-Length: ",
                            body.size(), "\r\n\r\n", body);
  }

  LoadResult Run() {
    if (spec_.mode == LoadMode::kHold) {
      result_.AddError("hold mode is gRPC only");
      return std::move(result_);
    }
    if (!ParseAddress()) return std::move(result_);
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < spec_.concurrency; ++i) {
      connections_.push_back(std::make_unique<Connection>());
      connections_.back()->index = i;
      if (!Reconnect(*connections_.back())) {
        result_.AddError(absl::StrCat("cannot connect to ", spec_.address));
        return std::move(result_);
      }
    }
    const Clock::time_point start = Clock::now();
    window_.begin = start + Seconds(spec_.warmup_seconds);
    window_.end = window_.begin + Seconds(spec_.duration_seconds);
    result_.window_seconds = spec_.duration_seconds;
    next_due_ = start;
    if (spec_.mode == LoadMode::kClosed) {
      for (auto& connection : connections_) StartCall(*connection, start);
    } else {
      period_ = Seconds(1.0 / spec_.rate);
      for (auto& connection : connections_) idle_.push_back(connection.get());
    }
    const Clock::time_point give_up = window_.end + Seconds(spec_.deadline_seconds);
    std::vector<epoll_event> events(256);
    for (;;) {
      StartDueCalls();
      const Clock::time_point now = Clock::now();
      if (outstanding_ == 0 && now >= window_.end) break;
      if (now >= give_up) {
        for (int64_t i = 0; i < outstanding_; ++i) result_.AddError("timeout");
        break;
      }
      Clock::time_point wake = now + std::chrono::milliseconds(100);
      if (spec_.mode == LoadMode::kOpen && now < window_.end) wake = std::min(wake, next_due_);
      const uint64_t wait = Nanos(wake - now);
      const timespec timeout{static_cast<time_t>(wait / 1000000000),
                             static_cast<long>(wait % 1000000000)};
      const int ready = epoll_pwait2(epoll_fd_, events.data(), static_cast<int>(events.size()),
                                     &timeout, nullptr);
      for (int i = 0; i < ready; ++i) {
        Connection& connection = *connections_[events[static_cast<size_t>(i)].data.u64];
        if ((events[static_cast<size_t>(i)].events & EPOLLOUT) != 0) WriteRequest(connection);
        if ((events[static_cast<size_t>(i)].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
          ReadResponse(connection);
        }
      }
    }
    for (auto& connection : connections_) {
      if (connection->fd >= 0) close(connection->fd);
    }
    close(epoll_fd_);
    return std::move(result_);
  }

 private:
  struct Connection {
    size_t index = 0;
    int fd = -1;
    bool busy = false;
    bool watching_writes = false;
    size_t sent = 0;
    Clock::time_point due;
    HttpResponseParser parser;
  };

  bool ParseAddress() {
    const size_t colon = spec_.address.rfind(':');
    int port = 0;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(spec_.address.substr(colon + 1), &port) ||
        inet_pton(AF_INET, spec_.address.substr(0, colon).c_str(), &peer_.sin_addr) != 1) {
      result_.AddError(absl::StrCat("bad address ", spec_.address));
      return false;
    }
    peer_.sin_family = AF_INET;
    peer_.sin_port = htons(static_cast<uint16_t>(port));
    return true;
  }

  // A fresh connection in place of the old one (connecting over loopback does not block long).
  bool Reconnect(Connection& connection) {
    if (connection.fd >= 0) close(connection.fd);
    connection.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(connection.fd, reinterpret_cast<const sockaddr*>(&peer_), sizeof(peer_)) != 0) {
      close(connection.fd);
      connection.fd = -1;
      return false;
    }
    const int one = 1;
    setsockopt(connection.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(connection.fd, F_SETFL, fcntl(connection.fd, F_GETFL) | O_NONBLOCK);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = connection.index;
    connection.watching_writes = false;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, connection.fd, &event);
    return true;
  }

  void StartDueCalls() {
    if (spec_.mode != LoadMode::kOpen) return;
    const Clock::time_point now = Clock::now();
    while (next_due_ <= now && next_due_ < window_.end) {
      if (static_cast<int64_t>(waiting_.size()) >= spec_.max_outstanding) {
        result_.AddError("dropped: too many calls outstanding");
      } else {
        waiting_.push_back(next_due_);
      }
      next_due_ += period_;
    }
    while (!waiting_.empty() && !idle_.empty()) {
      Connection& connection = *idle_.back();
      idle_.pop_back();
      StartCall(connection, waiting_.front());
      waiting_.pop_front();
    }
  }

  void StartCall(Connection& connection, Clock::time_point due) {
    ++outstanding_;
    connection.busy = true;
    connection.due = due;
    connection.sent = 0;
    connection.parser.Reset();
    WriteRequest(connection);
  }

  void WriteRequest(Connection& connection) {
    while (connection.busy && connection.sent < request_.size()) {
      const ssize_t wrote = write(connection.fd, request_.data() + connection.sent,
                                  request_.size() - connection.sent);
      if (wrote < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        Fail(connection, absl::StrCat("write: ", std::strerror(errno)));
        return;
      }
      connection.sent += static_cast<size_t>(wrote);
    }
    const bool pending = connection.busy && connection.sent < request_.size();
    if (pending != connection.watching_writes) {
      connection.watching_writes = pending;
      epoll_event event{};
      event.events = pending ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
      event.data.u64 = connection.index;
      epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, connection.fd, &event);
    }
  }

  void ReadResponse(Connection& connection) {
    char buffer[64 * 1024];
    for (;;) {
      const ssize_t got = read(connection.fd, buffer, sizeof(buffer));
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
        if (connection.busy) {
          Fail(connection, "connection closed by the server");
        } else if (!Reconnect(connection)) {
          result_.AddError("cannot reconnect");
        }
        return;
      }
      if (got < 0) return;
      if (!connection.busy) {
        Fail(connection, "bytes while idle");
        return;
      }
      const int64_t events_before = connection.parser.events();
      const HttpResponseParser::Progress progress =
          connection.parser.Feed(std::string_view(buffer, static_cast<size_t>(got)));
      const Clock::time_point now = Clock::now();
      if (events_before == 0 && connection.parser.events() > 0 && window_.Contains(now)) {
        result_.first_message.Record(Nanos(now - connection.due));
      }
      if (window_.Contains(now)) result_.messages += connection.parser.events() - events_before;
      result_.total_messages += connection.parser.events() - events_before;
      if (progress == HttpResponseParser::Progress::kBad) {
        Fail(connection, absl::StrCat("bad response: ", connection.parser.problem()));
        return;
      }
      if (progress == HttpResponseParser::Progress::kDone) {
        Done(connection, now);
        return;
      }
      if (static_cast<size_t>(got) < sizeof(buffer)) return;
    }
  }

  void Done(Connection& connection, Clock::time_point now) {
    const HttpResponseParser& parser = connection.parser;
    std::string problem;
    if (parser.status() != 200) {
      problem = absl::StrCat("HTTP ", parser.status());
    } else if (spec_.call == CallKind::kStream && spec_.expect_messages > 0 &&
               parser.events() != spec_.expect_messages) {
      problem = absl::StrCat("short stream: ", parser.events(), " of ", spec_.expect_messages,
                             " events");
    }
    if (!problem.empty()) {
      Fail(connection, problem);
      return;
    }
    ++result_.total_calls;
    if (window_.Contains(now)) {
      ++result_.calls;
      result_.latency.Record(Nanos(now - connection.due));
    }
    // A server that said "Connection: close" (nginx after keepalive_requests) gets a new
    // connection before the next call is written.
    if (parser.close_after() && !Reconnect(connection)) {
      result_.AddError("cannot reconnect");
      --outstanding_;
      connection.busy = false;
      return;
    }
    Finish(connection, now);
  }

  void Fail(Connection& connection, const std::string& problem) {
    result_.AddError(problem);
    if (!Reconnect(connection)) {
      result_.AddError("cannot reconnect");
      --outstanding_;
      connection.busy = false;
      return;
    }
    Finish(connection, Clock::now());
  }

  // The call on `connection` is over: start the next one (closed loop) or wait for one.
  void Finish(Connection& connection, Clock::time_point now) {
    --outstanding_;
    connection.busy = false;
    if (spec_.mode == LoadMode::kClosed) {
      if (now < window_.end) StartCall(connection, now);
      return;
    }
    idle_.push_back(&connection);
  }

  const LoadSpec& spec_;
  std::string request_;
  sockaddr_in peer_{};
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<Connection*> idle_;
  std::deque<Clock::time_point> waiting_;  // open loop: due calls with no free connection
  LoadResult result_;
  Window window_;
  Clock::time_point next_due_;
  Clock::duration period_{};
  int64_t outstanding_ = 0;
};

}  // namespace

LoadResult RunHttpLoad(const LoadSpec& spec) { return HttpLoad(spec).Run(); }

}  // namespace gengate::bench
