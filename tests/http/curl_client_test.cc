// The curl client against a real local HTTP server: bodies, streams, failures, deadlines, idle
// timeouts, cancel (the server must see the connection close), multipart, connection reuse.
#include "http/curl_client.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/sockets.h"
#include "testing/threads.h"
#include "testing/upstream_server.h"

namespace gengate::http {
namespace {

using status::TransportFailure;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

constexpr absl::Duration kWait = absl::Seconds(10);

// Records everything a transfer reports.
class RecordingHandler : public ResponseHandler {
 public:
  void OnResponseHead(ResponseHead head) override {
    absl::MutexLock lock(&mu_);
    head_ = std::move(head);
    ++heads_;
  }
  void OnBody(std::string_view bytes) override {
    absl::MutexLock lock(&mu_);
    body_.append(bytes);
    pieces_.emplace_back(bytes);
  }
  void OnComplete(const TransferResult& result) override {
    {
      absl::MutexLock lock(&mu_);
      result_ = result;
      ++completions_;
    }
    done_.Notify();
  }

  bool WaitDone() { return done_.WaitForNotificationWithTimeout(kWait); }
  // Blocks until the body has at least `size` bytes.
  bool WaitForBody(std::size_t size) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return body_.size() >= size; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }

  ResponseHead head() { absl::MutexLock lock(&mu_); return head_; }
  std::string body() { absl::MutexLock lock(&mu_); return body_; }
  TransferResult result() { absl::MutexLock lock(&mu_); return result_; }
  int completions() { absl::MutexLock lock(&mu_); return completions_; }
  int heads() { absl::MutexLock lock(&mu_); return heads_; }

 private:
  absl::Mutex mu_;
  ResponseHead head_ ABSL_GUARDED_BY(mu_);
  std::string body_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> pieces_ ABSL_GUARDED_BY(mu_);
  TransferResult result_ ABSL_GUARDED_BY(mu_);
  int completions_ ABSL_GUARDED_BY(mu_) = 0;
  int heads_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Notification done_;
};

// The sockets watched by the epoll instances of this process (the client's event loop is the
// only one), as /proc/self/fdinfo lists them.
std::vector<int> SocketsInEpoll() {
  std::vector<int> sockets;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    if (std::filesystem::read_symlink(entry.path(), error).string() != "anon_inode:[eventpoll]") {
      continue;
    }
    std::ifstream info("/proc/self/fdinfo/" + entry.path().filename().string());
    for (std::string word; info >> word;) {
      if (word != "tfd:") continue;
      int fd = -1;
      info >> fd;
      const std::string target =
          std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd), error).string();
      if (target.starts_with("socket:")) sockets.push_back(fd);
    }
  }
  return sockets;
}

// Polls SocketsInEpoll() until it has `count` entries or kWait passes.
bool WaitForSocketsInEpoll(std::size_t count) {
  const absl::Time deadline = absl::Now() + kWait;
  while (SocketsInEpoll().size() != count) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

class CurlClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    CurlClientOptions options;
    options.max_host_connections = 8;
    auto client = NewCurlClient(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  Request Post(std::string path, std::string body) {
    Request request;
    request.url = server_.base_url() + path;
    request.body = std::move(body);
    request.headers.push_back({"Content-Type", "application/json"});
    return request;
  }

  testing::UpstreamServer server_;
  std::unique_ptr<Client> client_;
  std::deque<TransferId> ids_;  // stable addresses: Start writes the id into them
};

TEST_F(CurlClientTest, PostsBodyAndHeadersAndReadsAnswer) {
  server_.Handle("/echo", [](const testing::RecordedRequest& request, testing::Responder& out) {
    out.Reply(201, {{"Content-Type", "application/json"}, {"X-Request-Id", "up-1"}},
              "{\"got\":" + std::to_string(request.body.size()) + "}");
  });
  RecordingHandler handler;
  Request request = Post("/echo", R"({"model":"m"})");
  request.headers.push_back({"Authorization", "Bearer k"});
  client_->Start(std::move(request), handler, ids_.emplace_back());
  ASSERT_TRUE(handler.WaitDone());

  EXPECT_FALSE(handler.result().failure.has_value()) << handler.result().detail;
  EXPECT_EQ(handler.head().status, 201);
  EXPECT_EQ(handler.head().Find("x-request-id"), "up-1");
  EXPECT_EQ(handler.body(), "{\"got\":13}");
  EXPECT_EQ(handler.heads(), 1);
  EXPECT_EQ(handler.completions(), 1);
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].body, R"({"model":"m"})");
  EXPECT_EQ(requests[0].Header("authorization"), "Bearer k");
  EXPECT_EQ(requests[0].Header("content-type"), "application/json");
  EXPECT_FALSE(requests[0].HasHeader("expect"));
  // Exactly once: repeated headers would be joined with ", ".
  EXPECT_EQ(requests[0].Header("user-agent"), "gengate/0.1");
}

TEST_F(CurlClientTest, DeliversStreamedPiecesInOrder) {
  auto gate = server_.NewGate();
  server_.Handle("/stream", [gate](const testing::RecordedRequest&, testing::Responder& out) {
    out.WriteHead(200, {{"Content-Type", "text/event-stream"}, {"Connection", "close"}});
    out.Write("data: one\n\n");
    gate->Wait(kWait);  // the client must see the first piece before the rest exists
    out.Write("data: two\n\n");
  });
  RecordingHandler handler;
  client_->Start(Post("/stream", "{}"), handler, ids_.emplace_back());
  ASSERT_TRUE(handler.WaitForBody(11));
  EXPECT_EQ(handler.body(), "data: one\n\n");
  gate->Open();
  ASSERT_TRUE(handler.WaitDone());
  EXPECT_FALSE(handler.result().failure.has_value()) << handler.result().detail;
  EXPECT_EQ(handler.body(), "data: one\n\ndata: two\n\n");
}

// Each client's event loop is a thread named gengate-http, so that top -H and perf tell it
// from gRPC's threads. At least, not exactly: a loop an earlier test joined can linger in
// /proc/self/task for a moment after its join returned.
TEST_F(CurlClientTest, ItsEventLoopThreadIsNamed) {
  EXPECT_GE(testing::CountThreadsNamed("gengate-http"), 1);
  auto second = NewCurlClient(CurlClientOptions{});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_GE(testing::CountThreadsNamed("gengate-http"), 2);
}

TEST_F(CurlClientTest, ReusesTheConnection) {
  server_.Handle("/ok", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.Reply(200, {{"Content-Type", "application/json"}}, "{}");
  });
  for (int i = 0; i < 3; ++i) {
    RecordingHandler handler;
    client_->Start(Post("/ok", "{}"), handler, ids_.emplace_back());
    ASSERT_TRUE(handler.WaitDone());
    ASSERT_FALSE(handler.result().failure.has_value());
  }
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].connection_id, requests[2].connection_id);
  EXPECT_EQ(server_.connections_accepted(), 1);
}

TEST_F(CurlClientTest, CountsItsConnections) {
  EXPECT_EQ(client_->Connections().open, 0);
  EXPECT_EQ(client_->Connections().opened, 0u);
  server_.Handle("/ok", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.Reply(200, {}, "ok");
  });
  server_.Handle("/long", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.WriteHead(200, {{"Content-Type", "text/event-stream"}, {"Connection", "close"}});
    out.Write("data: x\n\n");
    out.WaitForPeerClose(kWait);
  });
  for (int i = 0; i < 2; ++i) {
    RecordingHandler handler;
    client_->Start(Post("/ok", "{}"), handler, ids_.emplace_back());
    ASSERT_TRUE(handler.WaitDone());
  }
  // Two calls in turn on one pooled connection, still open once they are done.
  EXPECT_EQ(client_->Connections().open, 1);
  EXPECT_EQ(client_->Connections().opened, 1u);

  RecordingHandler stream;
  TransferId id = 0;
  client_->Start(Post("/long", "{}"), stream, id);
  ASSERT_TRUE(stream.WaitForBody(1));
  // The stream took the pooled connection: one transfer per connection.
  EXPECT_EQ(client_->Connections().open, 1);
  RecordingHandler meanwhile;
  client_->Start(Post("/ok", "{}"), meanwhile, ids_.emplace_back());
  ASSERT_TRUE(meanwhile.WaitDone());
  EXPECT_EQ(client_->Connections().open, 2);  // it needed a second one
  EXPECT_EQ(client_->Connections().opened, 2u);

  client_->Cancel(id, TransportFailure::kCancelled);
  ASSERT_TRUE(stream.WaitDone());
  // The cancelled stream's connection was closed before its completion was reported.
  EXPECT_EQ(client_->Connections().open, 1);
  EXPECT_EQ(client_->Connections().opened, 2u);
}

// A connection back in the pool stays in epoll (reusing it then costs no epoll_ctl), until the
// upstream closes it: then it leaves at once, rather than waking the loop on every turn, and
// the next transfer opens a new one.
TEST_F(CurlClientTest, APooledConnectionIsWatchedUntilTheUpstreamClosesIt) {
  auto ok = [](const testing::RecordedRequest&, testing::Responder& out) {
    out.Reply(200, {{"Content-Type", "application/json"}}, "{}");
  };
  server_.Handle("/ok", ok);
  RecordingHandler first;
  client_->Start(Post("/ok", "{}"), first, ids_.emplace_back());
  ASSERT_TRUE(first.WaitDone());
  ASSERT_FALSE(first.result().failure.has_value()) << first.result().detail;
  EXPECT_EQ(SocketsInEpoll().size(), 1u);

  server_.Reset();  // closes the idle connection (FIN)
  EXPECT_TRUE(WaitForSocketsInEpoll(0)) << "the closed connection is still watched";

  server_.Handle("/ok", ok);
  RecordingHandler second;
  client_->Start(Post("/ok", "{}"), second, ids_.emplace_back());
  ASSERT_TRUE(second.WaitDone());
  EXPECT_FALSE(second.result().failure.has_value()) << second.result().detail;
  EXPECT_EQ(server_.connections_accepted(), 1);
  EXPECT_EQ(SocketsInEpoll().size(), 1u);
}

// Every answer closes its connection, so each transfer connects anew and the kernel hands out
// the socket numbers just freed: each new socket must be watched again.
TEST_F(CurlClientTest, ConnectionsTheUpstreamClosesAfterEachAnswerAreReplaced) {
  server_.Handle("/once", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.Reply(200, {{"Connection", "close"}}, "{}");
  });
  for (int i = 0; i < 5; ++i) {
    RecordingHandler handler;
    Request request = Post("/once", "{}");
    request.headers.push_back({"Connection", "close"});  // the server closes after answering
    client_->Start(std::move(request), handler, ids_.emplace_back());
    ASSERT_TRUE(handler.WaitDone()) << "transfer " << i;
    ASSERT_FALSE(handler.result().failure.has_value()) << handler.result().detail;
    EXPECT_EQ(handler.body(), "{}");
  }
  EXPECT_EQ(server_.connections_accepted(), 5);
  EXPECT_TRUE(WaitForSocketsInEpoll(0)) << "closed connections are still watched";
}

TEST_F(CurlClientTest, RefusedConnectionIsConnectFailure) {
  // A port that was just free: bind, read the port, close.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);

  RecordingHandler handler;
  Request request;
  request.url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/x";
  client_->Start(std::move(request), handler, ids_.emplace_back());
  ASSERT_TRUE(handler.WaitDone());
  EXPECT_THAT(handler.result().failure, Optional(TransportFailure::kConnect));
  EXPECT_EQ(handler.heads(), 0);
}

// A listening socket whose accept queue is full, so that the kernel drops every further SYN
// and a connect to it hangs: an upstream that is down behind a silent firewall.
class UnansweredPort {
 public:
  UnansweredPort() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address = testing::LoopbackAddress(0);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(listener_, 0) != 0) {
      ADD_FAILURE() << "cannot listen: " << strerror(errno);
      return;
    }
    socklen_t length = sizeof(address);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    // A backlog of 0 still queues one connection: fill it, never accept.
    filler_ = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(filler_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      ADD_FAILURE() << "cannot fill the accept queue: " << strerror(errno);
    }
  }
  ~UnansweredPort() {
    close(filler_);
    close(listener_);
  }
  int port() const { return port_; }

 private:
  int listener_ = -1;
  int filler_ = -1;
  int port_ = 0;
};

// curl's connect timeout ends a transfer before its deadline: the upstream is unreachable
// (UNAVAILABLE for the caller, who may retry elsewhere), not slow (DEADLINE_EXCEEDED).
TEST_F(CurlClientTest, AConnectTimeoutIsAConnectFailure) {
  UnansweredPort port;
  CurlClientOptions options;
  options.connect_timeout = absl::Milliseconds(200);
  auto client = NewCurlClient(options);
  ASSERT_TRUE(client.ok()) << client.status();
  RecordingHandler handler;
  Request request;
  request.url = absl::StrCat("http://127.0.0.1:", port.port(), "/x");
  request.deadline = absl::Now() + kWait;
  (*client)->Start(std::move(request), handler, ids_.emplace_back());
  ASSERT_TRUE(handler.WaitDone());
  EXPECT_THAT(handler.result().failure, Optional(TransportFailure::kConnect))
      << handler.result().detail;
  // Timed out, not refused: the accept queue really dropped the SYN.
  EXPECT_THAT(handler.result().detail, HasSubstr("Timeout was reached"));
  EXPECT_EQ(handler.heads(), 0);
}

// The same hanging connect, with a request deadline shorter than the connect timeout: now the
// deadline ended it.
TEST_F(CurlClientTest, ADeadlineDuringConnectIsATimeout) {
  UnansweredPort port;
  RecordingHandler handler;
  Request request;
  request.url = absl::StrCat("http://127.0.0.1:", port.port(), "/x");
  request.deadline = absl::Now() + absl::Milliseconds(200);
  client_->Start(std::move(request), handler, ids_.emplace_back());
  ASSERT_TRUE(handler.WaitDone());
  EXPECT_THAT(handler.result().failure, Optional(TransportFailure::kTimeout))
      << handler.result().detail;
}

TEST_F(CurlClientTest, DeadlineEndsAStalledTransferAndClosesTheConnection) {
  auto gate = server_.NewGate();
  server_.Handle("/stall", [gate](const testing::RecordedRequest&, testing::Responder& out) {
    out.WaitForPeerClose(kWait);
    gate->Open();
  });
  RecordingHandler handler;
  Request request = Post("/stall", "{}");
  request.deadline = absl::Now() + absl::Milliseconds(200);
  client_->Start(std::move(request), handler, ids_.emplace_back());
  ASSERT_TRUE(handler.WaitDone());
  EXPECT_THAT(handler.result().failure, Optional(TransportFailure::kTimeout));
  // The client's own deadline timer ended it, not curl's CURLOPT_TIMEOUT (a second later), so
  // that the connection could be closed (see deadline_queue_).
  EXPECT_THAT(handler.result().detail, HasSubstr("no complete answer within the request's"));
  EXPECT_TRUE(server_.WaitForPeerCloses(1, kWait));
}

TEST_F(CurlClientTest, IdleTimeoutEndsASilentStream) {
  server_.Handle("/silent", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.WriteHead(200, {{"Content-Type", "text/event-stream"}, {"Connection", "close"}});
    out.Write("data: first\n\n");
    out.WaitForPeerClose(kWait);
  });
  RecordingHandler handler;
  Request request = Post("/silent", "{}");
  request.idle_timeout = absl::Milliseconds(200);
  client_->Start(std::move(request), handler, ids_.emplace_back());
  ASSERT_TRUE(handler.WaitDone());
  EXPECT_THAT(handler.result().failure, Optional(TransportFailure::kIdleTimeout));
  EXPECT_THAT(handler.result().detail, HasSubstr("200ms"));
  EXPECT_EQ(handler.body(), "data: first\n\n");
  EXPECT_TRUE(server_.WaitForPeerCloses(1, kWait));
}

TEST_F(CurlClientTest, IdleTimerRestartsOnEveryByte) {
  // Pieces arrive more often than the idle timeout, for longer than it in total.
  server_.Handle("/drip", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.WriteHead(200, {{"Content-Type", "text/event-stream"}, {"Connection", "close"}});
    for (int i = 0; i < 6; ++i) {
      out.Write(": keep-alive\n");
      out.WaitForPeerClose(absl::Milliseconds(60));  // paces the writes; a close ends early
    }
  });
  RecordingHandler handler;
  Request request = Post("/drip", "{}");
  request.idle_timeout = absl::Milliseconds(250);
  client_->Start(std::move(request), handler, ids_.emplace_back());
  ASSERT_TRUE(handler.WaitDone());
  EXPECT_FALSE(handler.result().failure.has_value()) << handler.result().detail;
  EXPECT_EQ(handler.body().size(), 6u * 13u);
}

TEST_F(CurlClientTest, CancelAbortsAtOnceAndClosesTheConnection) {
  server_.Handle("/long", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.WriteHead(200, {{"Content-Type", "text/event-stream"}, {"Connection", "close"}});
    out.Write("data: x\n\n");
    out.WaitForPeerClose(kWait);
  });
  RecordingHandler handler;
  TransferId id = 0;
  client_->Start(Post("/long", "{}"), handler, id);
  ASSERT_TRUE(handler.WaitForBody(1));
  client_->Cancel(id, TransportFailure::kCancelled);
  ASSERT_TRUE(handler.WaitDone());
  EXPECT_THAT(handler.result().failure, Optional(TransportFailure::kCancelled));
  EXPECT_TRUE(server_.WaitForPeerCloses(1, kWait));
  // A second cancel of a finished transfer is ignored, and nothing is reported twice.
  client_->Cancel(id, TransportFailure::kCancelled);
  RecordingHandler later;
  server_.Handle("/ok", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.Reply(200, {}, "ok");
  });
  client_->Start(Post("/ok", "{}"), later, ids_.emplace_back());
  ASSERT_TRUE(later.WaitDone());
  EXPECT_EQ(handler.completions(), 1);
}

TEST_F(CurlClientTest, ResetMidBodyIsResetFailure) {
  server_.Handle("/reset", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.WriteHead(200, {{"Content-Type", "application/json"}, {"Content-Length", "100"}});
    out.Write("{\"partial\":");
    out.Reset();
  });
  RecordingHandler handler;
  client_->Start(Post("/reset", "{}"), handler, ids_.emplace_back());
  ASSERT_TRUE(handler.WaitDone());
  EXPECT_THAT(handler.result().failure, Optional(TransportFailure::kReset));
}

TEST_F(CurlClientTest, SendsMultipartFormWithFiles) {
  server_.Handle("/upload", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.Reply(200, {}, "{}");
  });
  RecordingHandler handler;
  Request request;
  request.url = server_.base_url() + "/upload";
  const std::string png("\x89PNG\r\n\x1a\n\0binary", 15);
  request.form = {{"prompt", "a cat", "", ""},
                  {"image[]", png, "a.png", "image/png"},
                  {"image[]", "second", "b.webp", "image/webp"}};
  client_->Start(std::move(request), handler, ids_.emplace_back());
  ASSERT_TRUE(handler.WaitDone());
  ASSERT_FALSE(handler.result().failure.has_value()) << handler.result().detail;
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  const std::string& body = requests[0].body;
  EXPECT_THAT(requests[0].Header("content-type"), HasSubstr("multipart/form-data; boundary="));
  EXPECT_THAT(body, HasSubstr("name=\"prompt\"\r\n\r\na cat\r\n"));
  EXPECT_THAT(body, HasSubstr("name=\"image[]\"; filename=\"a.png\"\r\nContent-Type: image/png"));
  EXPECT_THAT(body, HasSubstr(png));
  EXPECT_THAT(body, HasSubstr("filename=\"b.webp\"\r\nContent-Type: image/webp\r\n\r\nsecond"));
}

TEST_F(CurlClientTest, RunsManyTransfersConcurrently) {
  constexpr int kTransfers = 100;
  auto gate = server_.NewGate();
  server_.Handle("/slow", [gate](const testing::RecordedRequest& request,
                                 testing::Responder& out) {
    gate->Wait(kWait);
    out.Reply(200, {}, request.body);
  });
  std::vector<std::unique_ptr<RecordingHandler>> handlers;
  for (int i = 0; i < kTransfers; ++i) {
    handlers.push_back(std::make_unique<RecordingHandler>());
    client_->Start(Post("/slow", std::to_string(i)), *handlers.back(), ids_.emplace_back());
  }
  // Only max_host_connections (8) run at once; the rest wait for a connection.
  ASSERT_TRUE(server_.WaitForRequests(8, kWait));
  gate->Open();
  for (int i = 0; i < kTransfers; ++i) {
    ASSERT_TRUE(handlers[i]->WaitDone());
    EXPECT_FALSE(handlers[i]->result().failure.has_value());
    EXPECT_EQ(handlers[i]->body(), std::to_string(i));
  }
  EXPECT_LE(server_.connections_accepted(), 8);
}

// The client keeps the parsed form of the URLs it sends to, up to a cap; past the cap curl
// parses them itself. Every transfer, before and after the cap, must reach its own URL, and a
// URL seen again must not get an earlier one's parse.
TEST_F(CurlClientTest, EveryTransferGoesToItsOwnUrlPastTheParsedUrlCap) {
  constexpr int kPaths = 70;  // more than the client keeps parsed
  for (int i = 0; i < kPaths; ++i) {
    server_.Handle(absl::StrCat("/p", i),
                   [](const testing::RecordedRequest& request, testing::Responder& out) {
                     out.Reply(200, {}, request.target);
                   });
  }
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kPaths; ++i) {
      RecordingHandler handler;
      const std::string target = absl::StrCat("/p", i, "?round=", round);
      client_->Start(Post(target, "{}"), handler, ids_.emplace_back());
      ASSERT_TRUE(handler.WaitDone());
      ASSERT_FALSE(handler.result().failure.has_value()) << handler.result().detail;
      EXPECT_EQ(handler.head().status, 200) << target;
      EXPECT_EQ(handler.body(), target);
    }
  }
}

// A URL curl cannot parse fails its transfer, whether or not the client keeps it parsed.
TEST_F(CurlClientTest, AnUnparsableUrlFailsItsTransferOnly) {
  server_.Handle("/ok", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.Reply(200, {}, "ok");
  });
  for (int i = 0; i < 2; ++i) {
    RecordingHandler bad;
    Request request = Post("", "{}");
    request.url = "http://[::1";  // an unterminated IPv6 literal
    client_->Start(std::move(request), bad, ids_.emplace_back());
    ASSERT_TRUE(bad.WaitDone());
    EXPECT_TRUE(bad.result().failure.has_value());
    EXPECT_EQ(bad.heads(), 0);

    RecordingHandler good;
    client_->Start(Post("/ok", "{}"), good, ids_.emplace_back());
    ASSERT_TRUE(good.WaitDone());
    EXPECT_FALSE(good.result().failure.has_value()) << good.result().detail;
    EXPECT_EQ(good.body(), "ok");
  }
}

TEST_F(CurlClientTest, CancelAllAbortsEveryRunningTransfer) {
  server_.Handle("/long", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.WriteHead(200, {{"Content-Type", "text/event-stream"}});
    out.Write("data: x\n\n");
    out.WaitForPeerClose(kWait);
  });
  constexpr int kTransfers = 3;
  std::vector<std::unique_ptr<RecordingHandler>> handlers;
  for (int i = 0; i < kTransfers; ++i) {
    handlers.push_back(std::make_unique<RecordingHandler>());
    client_->Start(Post("/long", "{}"), *handlers.back(), ids_.emplace_back());
  }
  for (auto& handler : handlers) ASSERT_TRUE(handler->WaitForBody(1));
  client_->CancelAll(TransportFailure::kShuttingDown);
  for (auto& handler : handlers) {
    ASSERT_TRUE(handler->WaitDone());
    EXPECT_THAT(handler->result().failure, Optional(TransportFailure::kShuttingDown));
  }
  EXPECT_TRUE(server_.WaitForPeerCloses(kTransfers, kWait));
}

// Easy handles are reset and reused: nothing of one transfer's options may reach the next.
TEST_F(CurlClientTest, AReusedHandleCarriesNothingOverFromTheLastTransfer) {
  server_.Handle("/upload", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.Reply(200, {}, "{}");
  });
  server_.Handle("/json", [](const testing::RecordedRequest& request, testing::Responder& out) {
    out.Reply(200, {}, request.body);
  });
  RecordingHandler upload;
  Request form;
  form.url = server_.base_url() + "/upload";
  form.headers = {{"X-Only-Once", "1"}};
  form.form = {{"image[]", "bytes", "a.png", "image/png"}};
  client_->Start(std::move(form), upload, ids_.emplace_back());
  ASSERT_TRUE(upload.WaitDone());
  for (int i = 0; i < 3; ++i) {
    RecordingHandler plain;
    client_->Start(Post("/json", absl::StrCat("{\"n\":", i, "}")), plain, ids_.emplace_back());
    ASSERT_TRUE(plain.WaitDone());
    ASSERT_FALSE(plain.result().failure.has_value()) << plain.result().detail;
    EXPECT_EQ(plain.body(), absl::StrCat("{\"n\":", i, "}"));
  }
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 4u);
  for (std::size_t i = 1; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].method, "POST");
    EXPECT_EQ(requests[i].path, "/json");
    EXPECT_THAT(requests[i].Header("content-type"), Not(HasSubstr("multipart")));
    EXPECT_FALSE(requests[i].HasHeader("x-only-once"));
  }
}

// Handles go back to the pool without curl_easy_reset after a clean transfer, so every option
// a transfer may set is set again by the next: here the timeout.
TEST_F(CurlClientTest, ADeadlineDoesNotCarryOverToTheNextTransferOnTheHandle) {
  server_.Handle("/fast", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.Reply(200, {}, "fast");
  });
  server_.Handle("/slow", [](const testing::RecordedRequest&, testing::Responder& out) {
    absl::SleepFor(absl::Seconds(1));  // pacing: an answer slower than the first deadline
    out.Reply(200, {}, "slow");
  });
  RecordingHandler fast;
  Request with_deadline = Post("/fast", "{}");
  with_deadline.deadline = absl::Now() + absl::Milliseconds(500);
  client_->Start(std::move(with_deadline), fast, ids_.emplace_back());
  ASSERT_TRUE(fast.WaitDone());
  ASSERT_FALSE(fast.result().failure.has_value()) << fast.result().detail;

  RecordingHandler slow;
  client_->Start(Post("/slow", "{}"), slow, ids_.emplace_back());
  ASSERT_TRUE(slow.WaitDone());
  EXPECT_FALSE(slow.result().failure.has_value()) << slow.result().detail;
  EXPECT_EQ(slow.body(), "slow");
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 2u);
  // The pool held one handle and one connection, and the second transfer took both.
  EXPECT_EQ(requests[0].connection_id, requests[1].connection_id);
}

// A form after plain JSON bodies (and JSON after a form) on pooled handles.
TEST_F(CurlClientTest, FormsAndJsonBodiesAlternateOnPooledHandles) {
  server_.Handle("/echo", [](const testing::RecordedRequest& request, testing::Responder& out) {
    out.Reply(200, {}, request.Header("content-type"));
  });
  for (int i = 0; i < 4; ++i) {
    RecordingHandler handler;
    Request request;
    if (i % 2 == 1) {
      request.url = server_.base_url() + "/echo";
      request.form = {{"prompt", "a cat", "", ""}, {"image", "bytes", "a.png", "image/png"}};
    } else {
      request = Post("/echo", "{}");
    }
    client_->Start(std::move(request), handler, ids_.emplace_back());
    ASSERT_TRUE(handler.WaitDone());
    ASSERT_FALSE(handler.result().failure.has_value()) << handler.result().detail;
    if (i % 2 == 1) {
      EXPECT_THAT(handler.body(), HasSubstr("multipart/form-data")) << "transfer " << i;
    } else {
      EXPECT_EQ(handler.body(), "application/json") << "transfer " << i;
    }
  }
  const auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_THAT(requests[1].body, HasSubstr("a cat"));
  EXPECT_EQ(requests[2].body, "{}");
}

TEST_F(CurlClientTest, SaysWhetherOtherTransfersStillRunAtCompletion) {
  auto gate = server_.NewGate();
  server_.Handle("/slow", [gate](const testing::RecordedRequest&, testing::Responder& out) {
    gate->Wait(kWait);
    out.Reply(200, {}, "slow");
  });
  server_.Handle("/fast", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.Reply(200, {}, "fast");
  });
  RecordingHandler slow, fast;
  client_->Start(Post("/slow", "{}"), slow, ids_.emplace_back());
  ASSERT_TRUE(server_.WaitForRequests(1, kWait));
  client_->Start(Post("/fast", "{}"), fast, ids_.emplace_back());
  ASSERT_TRUE(fast.WaitDone());
  EXPECT_TRUE(fast.result().client_busy) << "the slow transfer was still running";
  gate->Open();
  ASSERT_TRUE(slow.WaitDone());
  EXPECT_FALSE(slow.result().client_busy) << "nothing else was running";
}

TEST_F(CurlClientTest, DestructorCompletesRunningTransfers) {
  server_.Handle("/hang", [](const testing::RecordedRequest&, testing::Responder& out) {
    out.WaitForPeerClose(kWait);
  });
  RecordingHandler handler;
  client_->Start(Post("/hang", "{}"), handler, ids_.emplace_back());
  ASSERT_TRUE(server_.WaitForRequests(1, kWait));
  client_.reset();
  ASSERT_TRUE(handler.WaitDone());
  EXPECT_THAT(handler.result().failure, Optional(TransportFailure::kShuttingDown));
}

}  // namespace
}  // namespace gengate::http
