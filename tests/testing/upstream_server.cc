#include "testing/upstream_server.h"

#include "testing/sockets.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gengate::testing {

// A socket shared by the connection's thread (which reads, writes and finally closes it) and
// by Reset/stop (which only shut it down, to wake the thread). `mu` keeps the fd from being
// closed and reused while another thread shuts it down.
namespace upstream_internal {
struct Connection {
  Connection(int fd_in, int id_in) : fd(fd_in), id(id_in) {}
  const int fd;
  const int id;
  absl::Mutex mu;
  bool closed ABSL_GUARDED_BY(mu) = false;
  // Set when the harness shut the socket down; what happens next is not the peer's doing.
  std::atomic<bool> shut_down_by_harness{false};
  bool peer_close_counted ABSL_GUARDED_BY(mu) = false;
};
}  // namespace upstream_internal

namespace {

constexpr size_t kMaxHeaderBytes = 1 << 20;

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

std::string StatusLineAndHeaders(int status, const HeaderList& headers) {
  std::string head = absl::StrCat("HTTP/1.1 ", status, " ", ReasonPhrase(status), "\r\n");
  for (const auto& [name, value] : headers) absl::StrAppend(&head, name, ": ", value, "\r\n");
  head += "\r\n";
  return head;
}

enum class ReadOutcome { kRequest, kPeerClosed, kShutDown, kProtocolError };

// Reads from the socket into `buffer` until `done(buffer)` holds.
template <typename Done>
ReadOutcome ReadUntil(const upstream_internal::Connection& connection, std::string& buffer, Done done) {
  char chunk[16384];
  while (!done(buffer)) {
    ssize_t got = recv(connection.fd, chunk, sizeof(chunk), 0);
    if (got < 0 && errno == EINTR) continue;
    if (connection.shut_down_by_harness.load()) return ReadOutcome::kShutDown;
    if (got <= 0) return ReadOutcome::kPeerClosed;
    buffer.append(chunk, static_cast<size_t>(got));
    if (buffer.size() > kMaxHeaderBytes * 64) return ReadOutcome::kProtocolError;
  }
  return ReadOutcome::kRequest;
}

// Reads and parses one request. On kProtocolError `error` says what was wrong.
ReadOutcome ReadRequest(const upstream_internal::Connection& connection, std::string& buffer,
                        RecordedRequest& request, std::string& error) {
  ReadOutcome outcome = ReadUntil(connection, buffer, [](const std::string& b) {
    return b.find("\r\n\r\n") != std::string::npos || b.size() > kMaxHeaderBytes;
  });
  if (outcome != ReadOutcome::kRequest) {
    // A close between requests is the normal end of a keep-alive connection.
    if (outcome == ReadOutcome::kPeerClosed && !buffer.empty()) {
      error = "connection closed in the middle of a request head";
    }
    return outcome;
  }
  size_t head_end = buffer.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    error = "request head larger than 1 MiB";
    return ReadOutcome::kProtocolError;
  }
  std::string head = buffer.substr(0, head_end);
  buffer.erase(0, head_end + 4);

  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  std::vector<absl::string_view> request_line = absl::StrSplit(lines[0], ' ');
  if (request_line.size() != 3 || request_line[0].empty() || request_line[1].empty() ||
      (request_line[2] != "HTTP/1.1" && request_line[2] != "HTTP/1.0")) {
    error = absl::StrCat("bad request line: ", lines[0]);
    return ReadOutcome::kProtocolError;
  }
  request.method = std::string(request_line[0]);
  request.target = std::string(request_line[1]);
  request.path = request.target.substr(0, request.target.find('?'));
  for (size_t i = 1; i < lines.size(); ++i) {
    size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos || colon == 0 ||
        lines[i].substr(0, colon).find_first_of(" \t") != absl::string_view::npos) {
      error = absl::StrCat("bad header line: ", lines[i]);
      return ReadOutcome::kProtocolError;
    }
    std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
    std::string value(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    auto [it, inserted] = request.headers.emplace(name, value);
    if (!inserted) absl::StrAppend(&it->second, ", ", value);
  }

  // curl asks before sending a larger body; answering keeps it from waiting a second.
  if (absl::EqualsIgnoreCase(request.Header("expect"), "100-continue") && buffer.empty()) {
    if (!SendAll(connection.fd, "HTTP/1.1 100 Continue\r\n\r\n")) return ReadOutcome::kPeerClosed;
  }

  if (absl::StrContains(absl::AsciiStrToLower(request.Header("transfer-encoding")), "chunked")) {
    // Decodes chunked framing: size line, data, CRLF, ..., a zero size, trailers, CRLF.
    while (true) {
      outcome = ReadUntil(connection, buffer, [](const std::string& b) {
        return b.find("\r\n") != std::string::npos;
      });
      if (outcome != ReadOutcome::kRequest) return outcome;
      size_t line_end = buffer.find("\r\n");
      absl::string_view size_text = absl::StripAsciiWhitespace(
          absl::string_view(buffer).substr(0, std::min(line_end, buffer.find(';'))));
      uint64_t size = 0;
      auto [end, parse_error] =
          std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
      if (size_text.empty() || parse_error != std::errc() ||
          end != size_text.data() + size_text.size()) {
        error = absl::StrCat("bad chunk size: ", size_text);
        return ReadOutcome::kProtocolError;
      }
      buffer.erase(0, line_end + 2);
      if (size == 0) {
        outcome = ReadUntil(connection, buffer, [](const std::string& b) {
          return absl::StartsWith(b, "\r\n") || b.find("\r\n\r\n") != std::string::npos;
        });
        if (outcome != ReadOutcome::kRequest) return outcome;
        buffer.erase(0, absl::StartsWith(buffer, "\r\n") ? 2 : buffer.find("\r\n\r\n") + 4);
        break;
      }
      outcome = ReadUntil(connection, buffer,
                          [size](const std::string& b) { return b.size() >= size + 2; });
      if (outcome != ReadOutcome::kRequest) return outcome;
      if (buffer.compare(size, 2, "\r\n") != 0) {
        error = "chunk not followed by CRLF";
        return ReadOutcome::kProtocolError;
      }
      request.body.append(buffer, 0, size);
      buffer.erase(0, size + 2);
    }
  } else if (request.HasHeader("content-length")) {
    uint64_t length = 0;
    if (!absl::SimpleAtoi(request.Header("content-length"), &length)) {
      error = absl::StrCat("bad content-length: ", request.Header("content-length"));
      return ReadOutcome::kProtocolError;
    }
    outcome = ReadUntil(connection, buffer,
                        [length](const std::string& b) { return b.size() >= length; });
    if (outcome != ReadOutcome::kRequest) {
      if (outcome == ReadOutcome::kPeerClosed) error = "connection closed inside a request body";
      return outcome;
    }
    request.body = buffer.substr(0, length);
    buffer.erase(0, length);
  }
  request.connection_id = connection.id;
  request.received_at = absl::Now();
  return ReadOutcome::kRequest;
}

}  // namespace

std::string RecordedRequest::Header(absl::string_view name) const {
  auto it = headers.find(absl::AsciiStrToLower(name));
  return it == headers.end() ? "" : it->second;
}

bool RecordedRequest::HasHeader(absl::string_view name) const {
  return headers.contains(absl::AsciiStrToLower(name));
}

void Gate::Open() {
  absl::MutexLock lock(&mu_);
  open_ = true;
}

bool Gate::IsOpen() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

bool Gate::Wait(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&open_), timeout);
}

bool Responder::WriteHead(int status, const HeaderList& headers) {
  if (closed_) return false;
  head_written_ = true;
  streaming_ = true;
  for (const auto& [name, value] : headers) {
    if (absl::EqualsIgnoreCase(name, "content-length")) streaming_ = false;
  }
  return Write(StatusLineAndHeaders(status, headers));
}

bool Responder::Write(absl::string_view bytes) {
  if (closed_) return false;
  if (SendAll(connection_->fd, bytes)) return true;
  if (!connection_->shut_down_by_harness.load()) NotePeerClosed();
  closed_ = true;
  return false;
}

bool Responder::Reply(int status, const HeaderList& headers, absl::string_view body) {
  if (closed_) return false;
  HeaderList all = headers;
  all.emplace_back("Content-Length", absl::StrCat(body.size()));
  head_written_ = true;
  streaming_ = false;
  return Write(absl::StrCat(StatusLineAndHeaders(status, all), body));
}

void Responder::Reset() {
  server_.CloseConnection(*connection_, /*reset=*/true);
  closed_ = true;
}

bool Responder::WaitForPeerClose(absl::Duration timeout) {
  if (peer_closed_at_.has_value()) return true;
  if (closed_) return false;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd poll_fd{connection_->fd, POLLIN | POLLRDHUP, 0};
    int ready = poll(&poll_fd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (connection_->shut_down_by_harness.load()) return false;
    if (ready <= 0) continue;  // timeout: the loop's deadline check ends it
    const absl::Time seen = absl::Now();
    bool peer_closed = (poll_fd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
    if (!peer_closed) {
      char discard[4096];
      ssize_t got = recv(connection_->fd, discard, sizeof(discard), MSG_DONTWAIT);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) peer_closed = true;
      // Bytes the gateway sent after its request are read and ignored.
    }
    if (peer_closed) {
      peer_closed_at_ = seen;
      NotePeerClosed();
      closed_ = true;
      return true;
    }
  }
}

void Responder::NotePeerClosed() {
  if (!peer_closed_at_.has_value()) peer_closed_at_ = absl::Now();
  server_.CountPeerClose(*connection_);
}

UpstreamServer::UpstreamServer() = default;

UpstreamServer::~UpstreamServer() {
  stopping_ = true;
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  ShutDownConnections();
}

absl::Status UpstreamServer::Start() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address = LoopbackAddress(0);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(listen_fd_, 1024) != 0) {
    return absl::InternalError(absl::StrCat("bind/listen: ", strerror(errno)));
  }
  socklen_t length = sizeof(address);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

std::string UpstreamServer::base_url() const { return absl::StrCat("http://127.0.0.1:", port_); }

void UpstreamServer::Handle(std::string path, Handler handler) {
  absl::MutexLock lock(&mu_);
  handlers_[std::move(path)] = std::move(handler);
}

std::shared_ptr<Gate> UpstreamServer::NewGate() {
  auto gate = std::make_shared<Gate>();
  absl::MutexLock lock(&mu_);
  gates_.push_back(gate);
  return gate;
}

void UpstreamServer::Reset() {
  ShutDownConnections();
  absl::MutexLock lock(&mu_);
  handlers_.clear();
  requests_.clear();
  unexpected_.clear();
  protocol_errors_.clear();
  gates_.clear();
  peer_closes_ = 0;
  connections_accepted_ = 0;
}

std::vector<RecordedRequest> UpstreamServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

std::vector<RecordedRequest> UpstreamServer::unexpected_requests() const {
  absl::MutexLock lock(&mu_);
  return unexpected_;
}

std::vector<std::string> UpstreamServer::protocol_errors() const {
  absl::MutexLock lock(&mu_);
  return protocol_errors_;
}

bool UpstreamServer::WaitForRequests(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(requests_.size()) >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

int UpstreamServer::peer_closes() const {
  absl::MutexLock lock(&mu_);
  return peer_closes_;
}

bool UpstreamServer::WaitForPeerCloses(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return peer_closes_ >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

int UpstreamServer::connections_accepted() const {
  absl::MutexLock lock(&mu_);
  return connections_accepted_;
}

void UpstreamServer::AcceptLoop() {
  while (!stopping_.load()) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // the listening socket was shut down
    }
    if (stopping_.load()) {
      close(fd);
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    absl::MutexLock lock(&mu_);
    auto connection = std::make_shared<Connection>(fd, next_connection_id_++);
    ++connections_accepted_;
    connections_.push_back(connection);
    connection_threads_.emplace_back([this, connection] { ServeConnection(connection); });
  }
}

void UpstreamServer::ServeConnection(std::shared_ptr<Connection> connection) {
  std::string buffer;
  while (true) {
    RecordedRequest request;
    std::string error;
    ReadOutcome outcome = ReadRequest(*connection, buffer, request, error);
    if (outcome == ReadOutcome::kPeerClosed) CountPeerClose(*connection);
    if (!error.empty()) {
      absl::MutexLock lock(&mu_);
      protocol_errors_.push_back(error);
    }
    if (outcome == ReadOutcome::kProtocolError) {
      SendAll(connection->fd, StatusLineAndHeaders(400, {{"Content-Length", "0"},
                                                         {"Connection", "close"}}));
    }
    if (outcome != ReadOutcome::kRequest) break;

    Handler handler;
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(request);
      auto it = handlers_.find(request.path);
      if (it == handlers_.end()) {
        unexpected_.push_back(request);
      } else {
        handler = it->second;
      }
    }
    const bool close_after = absl::EqualsIgnoreCase(request.Header("connection"), "close");
    Responder responder(*this, connection, std::move(request));
    if (handler) {
      handler(responder.request(), responder);
    } else {
      responder.Reply(404, {{"Content-Type", "application/json"}},
                      R"({"error":{"message":"no handler for this path","code":"not_found"}})");
    }
    // A streamed body ends with the connection; a handler that never answered (an upstream
    // that hangs) leaves nothing else to do with it either.
    if (responder.closed_ || responder.streaming_ || !responder.head_written_ || close_after) {
      break;
    }
  }
  CloseConnection(*connection, /*reset=*/false);
  absl::MutexLock lock(&mu_);
  std::erase(connections_, connection);
}

void UpstreamServer::CloseConnection(Connection& connection, bool reset) {
  absl::MutexLock lock(&connection.mu);
  if (connection.closed) return;
  if (reset) {
    linger no_linger{1, 0};
    setsockopt(connection.fd, SOL_SOCKET, SO_LINGER, &no_linger, sizeof(no_linger));
  }
  close(connection.fd);
  connection.closed = true;
}

void UpstreamServer::CountPeerClose(Connection& connection) {
  if (connection.shut_down_by_harness.load()) return;
  {
    absl::MutexLock lock(&connection.mu);
    if (connection.peer_close_counted) return;
    connection.peer_close_counted = true;
  }
  absl::MutexLock lock(&mu_);
  ++peer_closes_;
}

void UpstreamServer::ShutDownConnections() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& gate : gates_) gate->Open();
    for (const auto& connection : connections_) {
      absl::MutexLock connection_lock(&connection->mu);
      connection->shut_down_by_harness = true;
      if (!connection->closed) shutdown(connection->fd, SHUT_RDWR);
    }
    threads.swap(connection_threads_);
  }
  for (std::thread& thread : threads) thread.join();
}

absl::StatusOr<Fixture> LoadFixture(absl::string_view dir, absl::string_view name) {
  std::string path = absl::StrCat(dir, "/", name);
  if (!absl::EndsWith(path, ".json")) path += ".json";
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open fixture ", path));
  std::stringstream text;
  text << file.rdbuf();
  nlohmann::json json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("fixture ", path, " is not a JSON object"));
  }
  Fixture fixture;
  fixture.raw = json;
  fixture.id = json.value("id", "");
  fixture.endpoint = json.value("endpoint", "");
  fixture.sse = json.value("mode", "") == "sse";
  fixture.request = json.contains("request") ? json["request"] : nlohmann::json();
  fixture.status = json.value("status", 0);
  if (json.contains("response_headers") && json["response_headers"].is_object()) {
    for (const auto& [name, value] : json["response_headers"].items()) {
      if (value.is_string()) fixture.response_headers.emplace_back(name, value.get<std::string>());
    }
  }
  if (fixture.sse) {
    if (!json.contains("sse_chunks") || !json["sse_chunks"].is_array()) {
      return absl::InvalidArgumentError(absl::StrCat("fixture ", path, " has no sse_chunks"));
    }
    for (const nlohmann::json& chunk : json["sse_chunks"]) {
      if (chunk.is_string()) {
        fixture.sse_chunks.push_back(chunk.get<std::string>());
      } else if (chunk.is_object() && chunk.contains("b64") && chunk["b64"].is_string()) {
        std::string bytes;
        if (!absl::Base64Unescape(chunk["b64"].get<std::string>(), &bytes)) {
          return absl::InvalidArgumentError(absl::StrCat("fixture ", path, ": bad b64 chunk"));
        }
        fixture.sse_chunks.push_back(std::move(bytes));
      } else {
        return absl::InvalidArgumentError(absl::StrCat("fixture ", path, ": bad sse chunk"));
      }
    }
  } else if (json.contains("body")) {
    const nlohmann::json& body = json["body"];
    fixture.body = body.is_string() ? body.get<std::string>() : body.dump();
  }
  return fixture;
}

Handler ReplayFixture(Fixture fixture, HeaderList extra_headers) {
  auto shared = std::make_shared<const Fixture>(std::move(fixture));
  return [shared, extra_headers = std::move(extra_headers)](const RecordedRequest&,
                                                            Responder& responder) {
    HeaderList headers;
    for (const auto& header : shared->response_headers) {
      // Framing is the server's business, not the recording's.
      if (absl::EqualsIgnoreCase(header.first, "content-length") ||
          absl::EqualsIgnoreCase(header.first, "transfer-encoding") ||
          absl::EqualsIgnoreCase(header.first, "connection")) {
        continue;
      }
      headers.push_back(header);
    }
    headers.insert(headers.end(), extra_headers.begin(), extra_headers.end());
    if (!shared->sse) {
      responder.Reply(shared->status, headers, shared->body);
      return;
    }
    headers.emplace_back("Connection", "close");
    if (!responder.WriteHead(shared->status, headers)) return;
    for (const std::string& chunk : shared->sse_chunks) {
      if (!responder.Write(chunk)) return;
    }
  };
}

}  // namespace gengate::testing
