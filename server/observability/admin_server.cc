#include "observability/admin_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gengate::observability {
namespace {

// One thread and one epoll loop serve every connection, so no number of slow, idle or
// half-sent connections can hold up a probe the way they held up a pool of blocking workers:
// - at most kMaxConnections are open; one more takes the place of the oldest, so a probe,
//   which sends its request as soon as it connects, is answered before it could be pushed out;
// - a connection has kRequestTimeout from its accept to send its request and take the answer;
// - a request head may be kMaxRequestHead bytes; a body is never read;
// - every answer closes its connection (probes and scrapes open one per request anyway).
constexpr std::size_t kMaxConnections = 64;
constexpr absl::Duration kRequestTimeout = absl::Seconds(5);
constexpr std::size_t kMaxRequestHead = 8 << 10;

struct HostPort {
  std::string host;
  int port = 0;
};

absl::StatusOr<HostPort> SplitAddress(std::string_view address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin address \"", std::string(address), "\" is not host:port"));
  }
  HostPort result;
  result.host = std::string(address.substr(0, colon));
  if (result.host.size() >= 2 && result.host.front() == '[' && result.host.back() == ']') {
    result.host = result.host.substr(1, result.host.size() - 2);
  }
  const std::string port(address.substr(colon + 1));
  if (!absl::SimpleAtoi(port, &result.port) || result.port < 0 || result.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin address \"", std::string(address), "\" has no valid port"));
  }
  return result;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

class EpollAdminServer final : public AdminServer {
 public:
  EpollAdminServer(const MetricsRegistry& registry, const ServingState& state)
      : registry_(registry), state_(state) {}

  ~EpollAdminServer() override {
    if (thread_.joinable()) {
      const std::uint64_t one = 1;
      [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
      thread_.join();
    }
    for (const auto& [fd, connection] : connections_) close(fd);
    for (int fd : {listen_fd_, wake_fd_, epoll_fd_}) {
      if (fd >= 0) close(fd);
    }
  }

  absl::Status Listen(const HostPort& where) {
    const std::string cannot_listen =
        absl::StrCat("cannot listen on admin address ", where.host, ":", where.port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(where.port);
    if (getaddrinfo(where.host.empty() ? nullptr : where.host.c_str(), port.c_str(), &hints,
                    &found) != 0) {
      return absl::UnavailableError(absl::StrCat(cannot_listen, ": unknown host"));
    }
    listen_fd_ = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int yes = 1;
    // SO_REUSEADDR only: SO_REUSEPORT would let a second process share the port silently.
    const bool bound = listen_fd_ >= 0 &&
                       setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes)) == 0 &&
                       bind(listen_fd_, found->ai_addr, found->ai_addrlen) == 0 &&
                       listen(listen_fd_, SOMAXCONN) == 0;
    freeaddrinfo(found);
    if (!bound) return absl::UnavailableError(absl::StrCat(cannot_listen, ": ", strerror(errno)));
    sockaddr_storage bound_address{};
    socklen_t length = sizeof(bound_address);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound_address), &length);
    port_ = ntohs(bound_address.ss_family == AF_INET6
                      ? reinterpret_cast<sockaddr_in6*>(&bound_address)->sin6_port
                      : reinterpret_cast<sockaddr_in*>(&bound_address)->sin_port);
    host_ = where.host;

    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0 || !Watch(listen_fd_, EPOLLIN, EPOLL_CTL_ADD) ||
        !Watch(wake_fd_, EPOLLIN, EPOLL_CTL_ADD)) {
      return absl::InternalError(absl::StrCat("admin server: ", strerror(errno)));
    }
    thread_ = std::thread([this] { Loop(); });
    pthread_setname_np(thread_.native_handle(), "gengate-admin");
    return absl::OkStatus();
  }

  int port() const override { return port_; }
  std::string address() const override {
    const bool v6 = host_.find(':') != std::string::npos;
    return absl::StrCat(v6 ? "[" : "", host_, v6 ? "]" : "", ":", port_);
  }

 private:
  struct Connection {
    absl::Time deadline;
    std::string request;  // the head read so far
    std::string answer;   // set once the request is complete
    std::size_t sent = 0;
  };

  bool Watch(int fd, std::uint32_t events, int op) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    return epoll_ctl(epoll_fd_, op, fd, &event) == 0;
  }

  void Loop() {
    epoll_event events[32];
    while (true) {
      const int n = epoll_wait(epoll_fd_, events, 32, NextTimeoutMs());
      if (n < 0 && errno != EINTR) return;
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == wake_fd_) return;
        if (fd == listen_fd_) {
          Accept();
        } else {
          Serve(fd, events[i].events);
        }
      }
      CloseExpired();
    }
  }

  int NextTimeoutMs() const {
    if (connections_.empty()) return -1;
    absl::Time first = absl::InfiniteFuture();
    for (const auto& [fd, connection] : connections_) first = std::min(first, connection.deadline);
    const std::int64_t ms = absl::ToInt64Milliseconds(first - absl::Now()) + 1;
    return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 60'000));
  }

  void Accept() {
    while (true) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN: all taken; anything else: try again on the next event
      if (!Watch(fd, EPOLLIN, EPOLL_CTL_ADD)) {
        close(fd);
        continue;
      }
      if (connections_.size() >= kMaxConnections) CloseOldest();
      connections_[fd].deadline = absl::Now() + kRequestTimeout;
    }
  }

  void CloseConnection(int fd) {
    connections_.erase(fd);
    close(fd);  // also leaves epoll
  }

  // Every connection gets the same time from its accept, so the oldest has the first deadline.
  void CloseOldest() {
    auto oldest = std::min_element(
        connections_.begin(), connections_.end(),
        [](const auto& a, const auto& b) { return a.second.deadline < b.second.deadline; });
    if (oldest != connections_.end()) CloseConnection(oldest->first);
  }

  void CloseExpired() {
    const absl::Time now = absl::Now();
    std::vector<int> expired;
    for (const auto& [fd, connection] : connections_) {
      if (connection.deadline <= now) expired.push_back(fd);
    }
    for (int fd : expired) CloseConnection(fd);
  }

  void Serve(int fd, std::uint32_t events) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    Connection& connection = it->second;
    if (connection.answer.empty()) {
      if (!ReadRequest(fd, connection)) {
        CloseConnection(fd);
        return;
      }
      if (connection.answer.empty()) return;  // more of the head to come
    } else if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) {
      return;
    }
    WriteAnswer(fd, connection);
  }

  // False when the connection is to be closed without an answer (the peer left).
  bool ReadRequest(int fd, Connection& connection) {
    char buffer[4096];
    while (connection.answer.empty()) {
      const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n == 0) return false;
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      connection.request.append(buffer, static_cast<std::size_t>(n));
      if (connection.request.find("\r\n\r\n") != std::string::npos ||
          connection.request.find("\n\n") != std::string::npos) {
        connection.answer = Answer(connection.request);
      } else if (connection.request.size() > kMaxRequestHead) {
        connection.answer = Response(431, "text/plain; charset=utf-8", "request too large\n",
                                     /*head_only=*/false);
      }
    }
    return true;
  }

  void WriteAnswer(int fd, Connection& connection) {
    while (connection.sent < connection.answer.size()) {
      const ssize_t n = send(fd, connection.answer.data() + connection.sent,
                             connection.answer.size() - connection.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          Watch(fd, EPOLLOUT, EPOLL_CTL_MOD);
          return;
        }
        if (errno == EINTR) continue;
        break;
      }
      connection.sent += static_cast<std::size_t>(n);
    }
    CloseConnection(fd);
  }

  // The answer to a whole request head.
  std::string Answer(std::string_view head) const {
    const std::string_view line = head.substr(0, head.find_first_of("\r\n"));
    const std::size_t first_space = line.find(' ');
    const std::size_t second_space =
        first_space == std::string_view::npos ? first_space : line.find(' ', first_space + 1);
    if (second_space == std::string_view::npos ||
        !line.substr(second_space + 1).starts_with("HTTP/1.")) {
      return Response(400, "text/plain; charset=utf-8", "bad request\n", false);
    }
    const std::string_view method = line.substr(0, first_space);
    std::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
    target = target.substr(0, target.find('?'));
    const bool head_only = method == "HEAD";
    if (method != "GET" && !head_only) {
      return Response(405, "text/plain; charset=utf-8", "only GET and HEAD\n", false);
    }
    if (target == "/metrics") {
      return Response(200, kPrometheusContentType, registry_.Render(), head_only);
    }
    if (target == "/healthz") return Response(200, "text/plain; charset=utf-8", "ok\n", head_only);
    if (target == "/readyz") {
      const ServingPhase phase = state_.phase();
      return Response(phase == ServingPhase::kServing ? 200 : 503, "text/plain; charset=utf-8",
                      absl::StrCat(std::string(PhaseName(phase)), "\n"), head_only);
    }
    return Response(404, "text/plain; charset=utf-8", "not found\n", head_only);
  }

  static std::string Response(int status, std::string_view content_type, std::string_view body,
                              bool head_only) {
    std::string out = absl::StrCat("HTTP/1.1 ", status, " ");
    out.append(ReasonPhrase(status)).append("\r\nContent-Type: ").append(content_type);
    absl::StrAppend(&out, "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n");
    if (status == 405) out.append("Allow: GET, HEAD\r\n");
    out.append("\r\n");
    if (!head_only) out.append(body);
    return out;
  }

  const MetricsRegistry& registry_;
  const ServingState& state_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::string host_;
  int port_ = -1;
  std::thread thread_;
  // Owned by the loop thread.
  absl::flat_hash_map<int, Connection> connections_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(std::string_view address,
                                                                const MetricsRegistry& registry,
                                                                const ServingState& state) {
  absl::StatusOr<HostPort> where = SplitAddress(address);
  if (!where.ok()) return where.status();
  auto server = std::make_unique<EpollAdminServer>(registry, state);
  if (absl::Status listening = server->Listen(*where); !listening.ok()) return listening;
  return std::unique_ptr<AdminServer>(std::move(server));
}

}  // namespace gengate::observability
