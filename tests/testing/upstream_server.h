// A strict, scriptable HTTP/1.1 server standing in for the upstream in integration tests.
//
// It is written on raw POSIX sockets rather than an HTTP library because the tests need
// byte-level control: streams written in exact pieces, connections that hang, resets, and the
// moment the gateway closed its side. It listens on 127.0.0.1 with a kernel-chosen port, runs
// one thread per connection, records every request, and answers paths nobody registered with
// 404 while recording them as unexpected calls, so a test can fail on them (Envoy's fakes are
// strict the same way). Everything that waits, waits on a condition with a timeout.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace gengate::testing {

// Response headers in the order they are written; names are sent as given.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// One request as the server parsed it.
struct RecordedRequest {
  std::string method;
  std::string target;  // as sent on the request line, query included
  std::string path;    // `target` without the query
  // Header names lower-cased; repeated headers joined with ", ".
  std::map<std::string, std::string> headers;
  std::string body;
  int connection_id = 0;  // requests on one keep-alive connection share it
  absl::Time received_at;

  // The header's value, or "" when absent.
  std::string Header(absl::string_view name) const;
  bool HasHeader(absl::string_view name) const;
};

// A latch a test opens to release handlers it made wait (e.g. an upstream that stalls).
// Made by UpstreamServer::NewGate so that shutting the server down opens it too and no
// handler thread is left blocked.
class Gate {
 public:
  void Open();
  bool IsOpen() const;
  // Blocks until the gate is open or `timeout` passes; returns whether it is open.
  bool Wait(absl::Duration timeout) const;

 private:
  mutable absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
};

class UpstreamServer;

namespace upstream_internal {
// One accepted socket; defined in upstream_server.cc.
struct Connection;
}  // namespace upstream_internal

// The handler's side of one exchange. Not thread-safe: used by the connection's thread only.
class Responder {
 public:
  const RecordedRequest& request() const { return request_; }

  // Writes the status line and headers. For a stream, give `Connection: close` and no
  // Content-Length: the body then runs until the connection closes after the handler returns.
  bool WriteHead(int status, const HeaderList& headers);
  // Writes raw bytes at once (TCP_NODELAY is set). Returns false when the peer is gone.
  bool Write(absl::string_view bytes);
  // A whole response with Content-Length; the connection stays open for the next request.
  bool Reply(int status, const HeaderList& headers, absl::string_view body);
  // Aborts the connection with a TCP RST (SO_LINGER 0, then close).
  void Reset();
  // Waits until the peer closes its side (FIN or RST) or `timeout` passes; returns true when
  // the peer closed. The moment the close was seen is kept in peer_closed_at().
  bool WaitForPeerClose(absl::Duration timeout);
  std::optional<absl::Time> peer_closed_at() const { return peer_closed_at_; }

  // Whether WriteHead/Reply was called.
  bool responded() const { return head_written_; }

 private:
  friend class UpstreamServer;
  using Connection = upstream_internal::Connection;
  Responder(UpstreamServer& server, std::shared_ptr<Connection> connection,
            RecordedRequest request)
      : server_(server), connection_(std::move(connection)), request_(std::move(request)) {}

  void NotePeerClosed();

  UpstreamServer& server_;
  std::shared_ptr<Connection> connection_;
  RecordedRequest request_;
  bool head_written_ = false;
  bool streaming_ = false;  // head written without Content-Length: close after the handler
  bool closed_ = false;     // the socket is gone (reset, peer closed, write failed)
  std::optional<absl::Time> peer_closed_at_;
};

// Runs on the connection's thread; the server copies it before the call, so a test that
// captures shared state should capture it by shared_ptr or by value.
using Handler = std::function<void(const RecordedRequest&, Responder&)>;

class UpstreamServer {
 public:
  UpstreamServer();
  ~UpstreamServer();
  UpstreamServer(const UpstreamServer&) = delete;
  UpstreamServer& operator=(const UpstreamServer&) = delete;

  // Binds 127.0.0.1:0 and starts accepting.
  absl::Status Start();
  int port() const { return port_; }
  // "http://127.0.0.1:PORT".
  std::string base_url() const;

  // Registers the handler for an exact path (query ignored); replaces an earlier one.
  void Handle(std::string path, Handler handler);

  // A gate owned by the server: opened at the latest when the server resets or stops.
  std::shared_ptr<Gate> NewGate();

  // Between tests that share one server: closes every connection (not counted as a peer
  // close), opens all gates, joins the connection threads, then forgets handlers, requests,
  // unexpected calls and counters.
  void Reset();

  std::vector<RecordedRequest> requests() const;
  // Requests to paths with no handler (they were answered 404).
  std::vector<RecordedRequest> unexpected_requests() const;
  // Requests that could not be parsed (a description each); they were answered 400.
  std::vector<std::string> protocol_errors() const;

  // Blocks until at least `count` requests were received; false on timeout.
  bool WaitForRequests(int count, absl::Duration timeout) const;
  // Connections whose peer (the gateway) closed them while the server still held them open.
  int peer_closes() const;
  bool WaitForPeerCloses(int count, absl::Duration timeout) const;
  // Connections accepted so far.
  int connections_accepted() const;

 private:
  friend class Responder;
  using Connection = upstream_internal::Connection;

  void AcceptLoop();
  void ServeConnection(std::shared_ptr<Connection> connection);
  // Closes the socket once; the connection thread and Reset/stop may race to do it.
  void CloseConnection(Connection& connection, bool reset);
  void CountPeerClose(Connection& connection);
  // Opens all gates, shuts every connection down and joins the connection threads.
  void ShutDownConnections();

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};

  mutable absl::Mutex mu_;
  std::map<std::string, Handler> handlers_ ABSL_GUARDED_BY(mu_);
  std::vector<RecordedRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<RecordedRequest> unexpected_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> protocol_errors_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Gate>> gates_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> connection_threads_ ABSL_GUARDED_BY(mu_);
  int peer_closes_ ABSL_GUARDED_BY(mu_) = 0;
  int connections_accepted_ ABSL_GUARDED_BY(mu_) = 0;
  int next_connection_id_ ABSL_GUARDED_BY(mu_) = 1;
};

// One recorded exchange from the shared fixture set (see fixtures/INDEX.md).
struct Fixture {
  std::string id;
  std::string endpoint;  // e.g. "/openai/chat/completions"
  bool sse = false;
  nlohmann::json request;
  int status = 0;
  HeaderList response_headers;
  std::string body;                     // unary: exact response bytes
  std::vector<std::string> sse_chunks;  // sse: exact bytes of each write
  nlohmann::json raw;                   // the whole fixture file
};

// Loads `<dir>/<name>` (name with or without ".json").
absl::StatusOr<Fixture> LoadFixture(absl::string_view dir, absl::string_view name);

// A handler that replays `fixture`: unary with Content-Length, SSE as one write per chunk and
// then a close. `extra_headers` are added to the fixture's response headers.
Handler ReplayFixture(Fixture fixture, HeaderList extra_headers = {});

}  // namespace gengate::testing
