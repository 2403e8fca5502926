// bench_mock_upstream: an OpenAI-compatible upstream fast enough not to be what a benchmark
// measures. One epoll loop per thread (SO_REUSEPORT), HTTP/1.1 keep-alive, answers built once
// and shared between connections:
//   POST .../chat/completions            a chat.completion JSON answer
//   POST .../chat/completions "stream":true
//                                        SSE: `chunks` chat.completion.chunk events, one every
//                                        `interval_ms` (all at once for 0), then [DONE]
//   POST .../embeddings                  one vector per input, `dimensions` floats (1,536 by
//                                        default), as JSON floats or base64 float32 as asked
//   GET /stats                           request counters as JSON
// Per-call parameters travel in the model name ("bench:chunks=20:interval_ms=5"), so a request
// means the same thing sent directly, through nginx or through gengate. Prints
// "listening <port>" on stdout once it accepts connections.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "canned.h"
#include "request_scan.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, 0, "port to listen on; 0 picks a free one (printed on stdout)");
ABSL_FLAG(int, threads, 1, "event-loop threads, each with its own SO_REUSEPORT listener");
ABSL_FLAG(std::string, capture_dir, "",
          "if set, writes the first body of each kind (chat, chat_stream, embeddings) there, so "
          "the HTTP baselines can send exactly what gengate sent");
ABSL_FLAG(int, default_chunks, 8, "SSE events per stream when the model names no chunks=");

namespace gengate::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr int64_t kMaxEmbeddingInputs = 4096;
constexpr int64_t kMaxDimensions = 8192;

// Counters shared by all loops, reported by GET /stats.
struct Stats {
  std::atomic<int64_t> chat{0};
  std::atomic<int64_t> streams{0};
  std::atomic<int64_t> embeddings{0};
  std::atomic<int64_t> bad_requests{0};
  std::atomic<int64_t> open_connections{0};
  std::atomic<int64_t> accepted_connections{0};
  std::atomic<int64_t> open_streams{0};
  std::atomic<int64_t> events_sent{0};
};
Stats g_stats;

// Writes the first body of each kind to --capture_dir.
class BodyCapture {
 public:
  explicit BodyCapture(std::string dir) : dir_(std::move(dir)) {}
  void Offer(const std::string& kind, std::string_view body) {
    if (dir_.empty()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (!captured_.emplace(kind, true).second) return;
    std::ofstream(absl::StrCat(dir_, "/", kind, ".json"), std::ios::binary)
        .write(body.data(), static_cast<std::streamsize>(body.size()));
  }

 private:
  std::string dir_;
  std::mutex mutex_;
  std::map<std::string, bool> captured_;
};

using SharedBytes = std::shared_ptr<const std::string>;

// Debian's abseil has its own string_view type; absl::StrCat does not take std::string_view.
absl::string_view Abs(std::string_view text) { return absl::string_view(text.data(), text.size()); }

std::string HttpChunk(std::string_view payload) {
  return absl::StrCat(absl::Hex(payload.size()), "\r\n", Abs(payload), "\r\n");
}

SharedBytes JsonResponse(int status, std::string_view reason, std::string_view body) {
  return std::make_shared<const std::string>(
      absl::StrCat("HTTP/1.1 ", status, " ", Abs(reason),
                   "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
                   "\r\n\r\n", Abs(body)));
}

SharedBytes ChatAnswer() { return JsonResponse(200, "OK", ChatAnswerJson()); }

const std::string& SseHead() {
  static const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n\r\n";
  return head;
}

// SSE event `index` of `total` as one HTTP chunk.
std::string SseEventChunk(int64_t index, int64_t total) {
  return HttpChunk(absl::StrCat("data: ", ChatChunkJson(index, total), "\n\n"));
}

const std::string& SseEnd() {
  static const std::string end = absl::StrCat(HttpChunk("data: [DONE]\n\n"), "0\r\n\r\n");
  return end;
}

// Answers built once per shape and shared: the whole burst of a stream sent at once, and
// embeddings bodies (several MB for 2,048 x 1,536).
class AnswerCache {
 public:
  SharedBytes Burst(int64_t chunks) {
    std::lock_guard<std::mutex> lock(mutex_);
    SharedBytes& slot = bursts_[chunks];
    if (slot == nullptr) {
      std::string bytes = SseHead();
      for (int64_t i = 0; i < chunks; ++i) bytes += SseEventChunk(i, chunks);
      bytes += SseEnd();
      slot = std::make_shared<const std::string>(std::move(bytes));
    }
    return slot;
  }

  SharedBytes Embeddings(int64_t inputs, int64_t dimensions, bool base64) {
    std::lock_guard<std::mutex> lock(mutex_);
    SharedBytes& slot = embeddings_[{inputs, dimensions, base64}];
    if (slot == nullptr) slot = BuildEmbeddings(inputs, dimensions, base64);
    return slot;
  }

 private:
  static SharedBytes BuildEmbeddings(int64_t inputs, int64_t dimensions, bool base64) {
    std::string body = R"({"object":"list","data":[)";
    std::vector<float> vector(static_cast<size_t>(dimensions));
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (int64_t index = 0; index < inputs; ++index) {
      for (float& value : vector) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        value = static_cast<float>(static_cast<int64_t>(state >> 41) - (1 << 22)) / (1 << 27);
      }
      absl::StrAppend(&body, index == 0 ? "" : ",", R"({"object":"embedding","index":)", index,
                      R"(,"embedding":)");
      if (base64) {
        std::string raw(vector.size() * sizeof(float), '\0');
        // The wire format is little-endian float32, which is what x86 keeps in memory.
        static_assert(std::endian::native == std::endian::little);
        std::memcpy(raw.data(), vector.data(), raw.size());
        absl::StrAppend(&body, "\"", absl::Base64Escape(raw), "\"}");
      } else {
        body += '[';
        char number[32];
        for (size_t i = 0; i < vector.size(); ++i) {
          const int length = std::snprintf(number, sizeof(number), "%s%.9g", i == 0 ? "" : ",",
                                            static_cast<double>(vector[i]));
          body.append(number, static_cast<size_t>(length));
        }
        body += "]}";
      }
    }
    absl::StrAppend(&body, R"(],"model":"bench-embed","usage":{"prompt_tokens":)", inputs * 8,
                    R"(,"total_tokens":)", inputs * 8, "}}");
    return JsonResponse(200, "OK", body);
  }

  std::mutex mutex_;
  std::map<int64_t, SharedBytes> bursts_;
  std::map<std::tuple<int64_t, int64_t, bool>, SharedBytes> embeddings_;
};

struct Segment {
  SharedBytes bytes;
  size_t offset = 0;
};

struct Connection {
  int fd = -1;
  uint64_t id = 0;  // unique per connection, so a timer for a closed one is recognised
  std::string input;
  std::deque<Segment> output;
  bool watching_writes = false;
  bool close_when_written = false;
  // A paced stream in progress: the next event to send and when.
  bool streaming = false;
  int64_t next_event = 0;
  int64_t total_events = 0;
  Clock::duration interval{};
};

struct Timer {
  Clock::time_point due;
  int fd;
  uint64_t connection_id;
  bool operator>(const Timer& other) const { return due > other.due; }
};

class EventLoop {
 public:
  EventLoop(int listen_fd, AnswerCache& cache, BodyCapture& capture, int default_chunks)
      : listen_fd_(listen_fd),
        cache_(cache),
        capture_(capture),
        default_chunks_(default_chunks),
        chat_answer_(ChatAnswer()) {}

  void Run() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    Watch(listen_fd_, EPOLLIN, EPOLL_CTL_ADD);
    std::vector<epoll_event> events(1024);
    for (;;) {
      const int ready = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                                   MillisUntilNextTimer());
      if (ready < 0 && errno != EINTR) {
        std::perror("epoll_wait");
        std::abort();
      }
      for (int i = 0; i < ready; ++i) {
        const int fd = events[static_cast<size_t>(i)].data.fd;
        const uint32_t what = events[static_cast<size_t>(i)].events;
        if (fd == listen_fd_) {
          AcceptAll();
          continue;
        }
        auto found = connections_.find(fd);
        if (found == connections_.end()) continue;
        Connection& connection = *found->second;
        if ((what & (EPOLLERR | EPOLLHUP)) != 0) {
          Close(connection);
          continue;
        }
        if ((what & EPOLLIN) != 0 && !ReadAndServe(connection)) continue;
        if ((what & EPOLLOUT) != 0) Flush(connection);
      }
      RunDueTimers();
    }
  }

 private:
  void Watch(int fd, uint32_t events, int op) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    epoll_ctl(epoll_fd_, op, fd, &event);
  }

  void AcceptAll() {
    for (;;) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or another loop took it
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      auto connection = std::make_unique<Connection>();
      connection->fd = fd;
      connection->id = ++next_connection_id_;
      connections_[fd] = std::move(connection);
      Watch(fd, EPOLLIN, EPOLL_CTL_ADD);
      g_stats.open_connections.fetch_add(1, std::memory_order_relaxed);
      g_stats.accepted_connections.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void Close(Connection& connection) {
    if (connection.streaming) g_stats.open_streams.fetch_sub(1, std::memory_order_relaxed);
    g_stats.open_connections.fetch_sub(1, std::memory_order_relaxed);
    const int fd = connection.fd;
    close(fd);
    connections_.erase(fd);  // destroys `connection`
  }

  // Reads what is there and answers every complete request. False if the connection closed.
  bool ReadAndServe(Connection& connection) {
    char buffer[64 * 1024];
    for (;;) {
      const ssize_t got = read(connection.fd, buffer, sizeof(buffer));
      if (got > 0) {
        connection.input.append(buffer, static_cast<size_t>(got));
        if (static_cast<size_t>(got) < sizeof(buffer)) break;
        continue;
      }
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) break;
      Close(connection);
      return false;
    }
    return ServeBuffered(connection);
  }

  // Answers the complete requests in the input buffer; a paced stream holds the rest back
  // until it ends. False if the connection closed.
  bool ServeBuffered(Connection& connection) {
    size_t consumed = 0;
    while (!connection.streaming && !connection.close_when_written) {
      std::string_view rest = std::string_view(connection.input).substr(consumed);
      const size_t header_end = rest.find("\r\n\r\n");
      if (header_end == std::string_view::npos) {
        if (rest.size() > kMaxHeaderBytes) return Reject(connection, "headers too large");
        break;
      }
      const std::string_view head = rest.substr(0, header_end);
      int64_t content_length = 0;
      bool close_after = false;
      if (!ReadHeaders(head, content_length, close_after)) {
        return Reject(connection, "unsupported request framing");
      }
      const size_t total = header_end + 4 + static_cast<size_t>(content_length);
      if (rest.size() < total) break;
      const size_t line_end = head.find("\r\n");
      const std::string_view line = head.substr(0, line_end);
      const std::string_view body = rest.substr(header_end + 4, static_cast<size_t>(content_length));
      Answer(connection, line, body);
      connection.close_when_written = close_after;
      consumed += total;
    }
    connection.input.erase(0, consumed);
    return Flush(connection);
  }

  // Content-Length framing only (what curl, nginx, h2load and wrk send for these bodies).
  static bool ReadHeaders(std::string_view head, int64_t& content_length, bool& close_after) {
    size_t at = head.find("\r\n");
    while (at != std::string_view::npos && at < head.size()) {
      at += 2;
      size_t end = head.find("\r\n", at);
      if (end == std::string_view::npos) end = head.size();
      const std::string_view header = head.substr(at, end - at);
      const size_t colon = header.find(':');
      if (colon != std::string_view::npos) {
        const std::string name = absl::AsciiStrToLower(Abs(header.substr(0, colon)));
        std::string_view value = header.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (name == "content-length") {
          if (!absl::SimpleAtoi(std::string(value), &content_length) || content_length < 0) {
            return false;
          }
        } else if (name == "transfer-encoding") {
          return false;
        } else if (name == "connection") {
          close_after = absl::AsciiStrToLower(Abs(value)) == "close";
        }
      }
      at = end;
    }
    return true;
  }

  bool Reject(Connection& connection, std::string_view why) {
    g_stats.bad_requests.fetch_add(1, std::memory_order_relaxed);
    Send(connection, JsonResponse(400, "Bad Request",
                                  absl::StrCat(R"({"error":{"message":")", Abs(why),
                                               R"(","type":"invalid_request_error"}})")));
    connection.close_when_written = true;
    connection.input.clear();
    return Flush(connection);
  }

  void Answer(Connection& connection, std::string_view line, std::string_view body) {
    const size_t method_end = line.find(' ');
    const std::string_view method = line.substr(0, method_end);
    std::string_view path = line.substr(method_end + 1);
    path = path.substr(0, path.find(' '));
    if (method == "GET" && path == "/stats") {
      Send(connection, JsonResponse(200, "OK", StatsJson()));
      return;
    }
    const auto ends_with = [&path](std::string_view suffix) {
      return path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix;
    };
    if (method == "POST" && ends_with("/chat/completions")) {
      const std::string_view model = ScalarField(body, "model").value_or("");
      if (ScalarField(body, "stream").value_or("false") == "true") {
        capture_.Offer("chat_stream", body);
        StartStream(connection, model);
      } else {
        capture_.Offer("chat", body);
        g_stats.chat.fetch_add(1, std::memory_order_relaxed);
        Send(connection, chat_answer_);
      }
      return;
    }
    if (method == "POST" && ends_with("/embeddings")) {
      capture_.Offer("embeddings", body);
      const int64_t inputs = ElementCount(body, "input").value_or(0);
      int64_t dimensions = 1536;
      if (std::optional<std::string_view> asked = ScalarField(body, "dimensions")) {
        if (!absl::SimpleAtoi(std::string(*asked), &dimensions)) dimensions = 0;
      }
      if (inputs < 1 || inputs > kMaxEmbeddingInputs || dimensions < 1 ||
          dimensions > kMaxDimensions) {
        g_stats.bad_requests.fetch_add(1, std::memory_order_relaxed);
        Send(connection,
             JsonResponse(400, "Bad Request",
                          R"({"error":{"message":"bad input or dimensions","type":"invalid_request_error"}})"));
        return;
      }
      const bool base64 = ScalarField(body, "encoding_format").value_or("") == "base64";
      g_stats.embeddings.fetch_add(1, std::memory_order_relaxed);
      Send(connection, cache_.Embeddings(inputs, dimensions, base64));
      return;
    }
    g_stats.bad_requests.fetch_add(1, std::memory_order_relaxed);
    Send(connection, JsonResponse(404, "Not Found",
                                  R"({"error":{"message":"no such path","type":"not_found"}})"));
  }

  void StartStream(Connection& connection, std::string_view model) {
    g_stats.streams.fetch_add(1, std::memory_order_relaxed);
    int64_t chunks = IntParam(model, "chunks").value_or(default_chunks_);
    if (chunks < 1) chunks = 1;
    if (chunks > kMaxChunks) chunks = kMaxChunks;
    const int64_t interval_ms = IntParam(model, "interval_ms").value_or(0);
    if (interval_ms <= 0) {
      g_stats.events_sent.fetch_add(chunks, std::memory_order_relaxed);
      Send(connection, cache_.Burst(chunks));
      return;
    }
    // Paced: the head and the first event now, the rest from timers.
    connection.streaming = true;
    connection.next_event = 1;
    connection.total_events = chunks;
    connection.interval = std::chrono::milliseconds(interval_ms);
    g_stats.open_streams.fetch_add(1, std::memory_order_relaxed);
    g_stats.events_sent.fetch_add(1, std::memory_order_relaxed);
    Send(connection, std::make_shared<const std::string>(
                         absl::StrCat(SseHead(), SseEventChunk(0, chunks),
                                      chunks == 1 ? SseEnd() : std::string())));
    if (chunks == 1) {
      EndStream(connection);
      return;
    }
    timers_.push({Clock::now() + connection.interval, connection.fd, connection.id});
  }

  void EndStream(Connection& connection) {
    connection.streaming = false;
    g_stats.open_streams.fetch_sub(1, std::memory_order_relaxed);
  }

  int MillisUntilNextTimer() const {
    if (timers_.empty()) return -1;
    const auto wait = timers_.top().due - Clock::now();
    if (wait <= Clock::duration::zero()) return 0;
    return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
  }

  void RunDueTimers() {
    const Clock::time_point now = Clock::now();
    while (!timers_.empty() && timers_.top().due <= now) {
      const Timer timer = timers_.top();
      timers_.pop();
      auto found = connections_.find(timer.fd);
      if (found == connections_.end() || found->second->id != timer.connection_id) continue;
      Connection& connection = *found->second;
      const int64_t index = connection.next_event++;
      std::string bytes = SseEventChunk(index, connection.total_events);
      g_stats.events_sent.fetch_add(1, std::memory_order_relaxed);
      const bool last = connection.next_event == connection.total_events;
      if (last) bytes += SseEnd();
      Send(connection, std::make_shared<const std::string>(std::move(bytes)));
      if (last) {
        EndStream(connection);
        // Requests that arrived behind the stream are answered now.
        ServeBuffered(connection);
        continue;
      }
      timers_.push({timer.due + connection.interval, connection.fd, connection.id});
      Flush(connection);
    }
  }

  void Send(Connection& connection, SharedBytes bytes) {
    connection.output.push_back({std::move(bytes), 0});
  }

  // Writes as much as the socket takes; watches for writability while output remains.
  // False if the connection closed.
  bool Flush(Connection& connection) {
    while (!connection.output.empty()) {
      iovec pieces[16];
      int count = 0;
      for (const Segment& segment : connection.output) {
        if (count == 16) break;
        pieces[count].iov_base = const_cast<char*>(segment.bytes->data()) + segment.offset;
        pieces[count].iov_len = segment.bytes->size() - segment.offset;
        ++count;
      }
      const ssize_t wrote = writev(connection.fd, pieces, count);
      if (wrote < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        Close(connection);
        return false;
      }
      size_t left = static_cast<size_t>(wrote);
      while (left > 0) {
        Segment& front = connection.output.front();
        const size_t remaining = front.bytes->size() - front.offset;
        if (left >= remaining) {
          left -= remaining;
          connection.output.pop_front();
        } else {
          front.offset += left;
          left = 0;
        }
      }
    }
    const bool pending = !connection.output.empty();
    if (!pending && connection.close_when_written) {
      Close(connection);
      return false;
    }
    if (pending != connection.watching_writes) {
      connection.watching_writes = pending;
      Watch(connection.fd, pending ? (EPOLLIN | EPOLLOUT) : EPOLLIN, EPOLL_CTL_MOD);
    }
    return true;
  }

  static std::string StatsJson() {
    return absl::StrCat(
        R"({"chat":)", g_stats.chat.load(), R"(,"streams":)", g_stats.streams.load(),
        R"(,"embeddings":)", g_stats.embeddings.load(), R"(,"bad_requests":)",
        g_stats.bad_requests.load(), R"(,"open_connections":)",
        g_stats.open_connections.load(), R"(,"accepted_connections":)",
        g_stats.accepted_connections.load(), R"(,"open_streams":)", g_stats.open_streams.load(),
        R"(,"events_sent":)", g_stats.events_sent.load(), "}");
  }

  const int listen_fd_;
  AnswerCache& cache_;
  BodyCapture& capture_;
  const int64_t default_chunks_;
  const SharedBytes chat_answer_;
  int epoll_fd_ = -1;
  uint64_t next_connection_id_ = 0;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
};

// A non-blocking listener on host:port with SO_REUSEPORT, so every loop can have its own.
int Listen(const std::string& host, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1 ||
      bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(fd, 65535) != 0) {
    std::fprintf(stderr, "bench_mock_upstream: cannot listen on %s:%d: %s\n", host.c_str(), port,
                 std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

int BoundPort(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

int Run(int argc, char** argv) {
  absl::SetProgramUsageMessage("A fast mock of the upstream chat/embeddings API for benchmarks.");
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  const std::string host = absl::GetFlag(FLAGS_host);
  const int threads = std::max(1, absl::GetFlag(FLAGS_threads));
  AnswerCache cache;
  BodyCapture capture(absl::GetFlag(FLAGS_capture_dir));
  const int first = Listen(host, absl::GetFlag(FLAGS_port));
  const int port = BoundPort(first);
  std::vector<int> listeners = {first};
  for (int i = 1; i < threads; ++i) listeners.push_back(Listen(host, port));
  std::vector<std::unique_ptr<EventLoop>> loops;
  std::vector<std::thread> running;
  for (int listener : listeners) {
    loops.push_back(std::make_unique<EventLoop>(listener, cache, capture,
                                                absl::GetFlag(FLAGS_default_chunks)));
    running.emplace_back([loop = loops.back().get()] { loop->Run(); });
  }
  std::printf("listening %d\n", port);
  std::fflush(stdout);
  for (std::thread& thread : running) thread.join();  // the loops run until the process is killed
  return 0;
}

}  // namespace
}  // namespace gengate::bench

int main(int argc, char** argv) { return gengate::bench::Run(argc, argv); }
