// The admin HTTP listener on 127.0.0.1:0: /metrics, /healthz and /readyz through a real HTTP
// client.
#include "observability/admin_server.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "testing/sockets.h"
#include "testing/threads.h"

namespace gengate::observability {
namespace {

using ::testing::HasSubstr;

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.AddCounter("test_scrapes_total", "Scrapes.").WithLabels({}).Increment(5);
    absl::StatusOr<std::unique_ptr<AdminServer>> started =
        AdminServer::Start("127.0.0.1:0", registry_, state_);
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }

  MetricsRegistry registry_;
  ServingState state_;
  std::unique_ptr<AdminServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(AdminServerTest, ReportsTheBoundPort) {
  EXPECT_GT(server_->port(), 0);
  EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(server_->port()));
}

// The server's one thread is named gengate-admin.
TEST_F(AdminServerTest, ItsThreadsAreNamed) {
  EXPECT_GE(testing::CountThreadsNamed("gengate-admin"), 1);
}

TEST_F(AdminServerTest, ServesMetricsInPrometheusTextFormat) {
  httplib::Result result = client_->Get("/metrics");

  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Type"), kPrometheusContentType);
  EXPECT_EQ(result->body, registry_.Render());
  EXPECT_THAT(result->body, HasSubstr("test_scrapes_total 5\n"));
}

TEST_F(AdminServerTest, HealthzAnswersInEveryPhase) {
  for (ServingPhase phase :
       {ServingPhase::kStarting, ServingPhase::kServing, ServingPhase::kDraining}) {
    state_.Set(phase);
    httplib::Result result = client_->Get("/healthz");
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 200) << PhaseName(phase);
  }
}

struct ReadyCase {
  ServingPhase phase;
  int status;
  std::string body;
};

class AdminServerReadyzTest : public AdminServerTest,
                              public ::testing::WithParamInterface<ReadyCase> {};

TEST_P(AdminServerReadyzTest, FollowsTheServingPhase) {
  state_.Set(GetParam().phase);

  httplib::Result result = client_->Get("/readyz");

  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, GetParam().status);
  EXPECT_EQ(result->body, GetParam().body);
}

INSTANTIATE_TEST_SUITE_P(Phases, AdminServerReadyzTest,
                         ::testing::Values(ReadyCase{ServingPhase::kStarting, 503, "starting\n"},
                                           ReadyCase{ServingPhase::kServing, 200, "serving\n"},
                                           ReadyCase{ServingPhase::kDraining, 503, "draining\n"}));

TEST_F(AdminServerTest, UnknownPathIsNotFound) {
  httplib::Result result = client_->Get("/debug");

  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 404);
}

TEST_F(AdminServerTest, HeadHasTheHeadersAndNoBody) {
  httplib::Result result = client_->Head("/healthz");

  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Length"), "3");
  EXPECT_EQ(result->body, "");
}

// A connected socket to the admin port, for requests a well-behaved client would not send.
class RawConnection {
 public:
  explicit RawConnection(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address = gengate::testing::LoopbackAddress(port);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    timeval wait{30, 0};  // a safety net for a server that never answers
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  }
  ~RawConnection() { close(fd_); }

  bool connected() const { return connected_; }
  bool Send(std::string_view bytes) {
    return gengate::testing::SendAll(fd_, absl::string_view(bytes.data(), bytes.size()));
  }
  // Everything the server sends until it closes the connection; nullopt if it never does.
  std::optional<std::string> ReadToClose() {
    std::string out;
    char buffer[4096];
    while (true) {
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n == 0) return out;
      if (n < 0) return errno == ECONNRESET ? std::optional<std::string>(out) : std::nullopt;
      out.append(buffer, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  bool connected_ = false;
};

// Idle connections, more of them than the server keeps, must not keep a probe waiting: the
// kubelet's probe timeout is a second. (A pool of four blocking workers answered after 19 s.)
TEST_F(AdminServerTest, IdleConnectionsDoNotHoldUpAProbe) {
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 100; ++i) {
    idle.push_back(std::make_unique<RawConnection>(server_->port()));
    ASSERT_TRUE(idle.back()->connected());
  }
  client_->set_read_timeout(2, 0);  // a safety net, far above the answer's time

  httplib::Result result = client_->Get("/healthz");

  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
  // The oldest of them were closed to make room.
  std::optional<std::string> first = idle.front()->ReadToClose();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, "");
}

// A request that never finishes is closed at its deadline, not kept for ever.
TEST_F(AdminServerTest, AHalfSentRequestIsClosed) {
  RawConnection slow(server_->port());
  ASSERT_TRUE(slow.connected());
  ASSERT_TRUE(slow.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));

  std::optional<std::string> answer = slow.ReadToClose();

  ASSERT_TRUE(answer.has_value()) << "the server never closed the connection";
  EXPECT_EQ(*answer, "");
}

// Nothing but GET and HEAD, and a body is never read: a POST of a declared 600 MB is refused at
// once. A Range header is ignored (the answers are small and whole).
TEST_F(AdminServerTest, RefusesOtherMethodsWithoutReadingTheBody) {
  RawConnection post(server_->port());
  ASSERT_TRUE(post.Send("POST /metrics HTTP/1.1\r\nContent-Length: 600000000\r\n\r\nxx"));
  std::optional<std::string> answer = post.ReadToClose();
  ASSERT_TRUE(answer.has_value());
  EXPECT_THAT(*answer, ::testing::StartsWith("HTTP/1.1 405 "));
  EXPECT_THAT(*answer, HasSubstr("Allow: GET, HEAD\r\n"));

  httplib::Result ranged = client_->Get("/healthz", {{"Range", "bytes=0-0,0-0,0-0"}});
  ASSERT_TRUE(ranged);
  EXPECT_EQ(ranged->status, 200);
  EXPECT_EQ(ranged->body, "ok\n");
}

TEST_F(AdminServerTest, MalformedAndOversizedRequests) {
  RawConnection garbage(server_->port());
  ASSERT_TRUE(garbage.Send("hello\r\n\r\n"));
  EXPECT_THAT(garbage.ReadToClose().value_or(""), ::testing::StartsWith("HTTP/1.1 400 "));

  RawConnection huge(server_->port());
  ASSERT_TRUE(huge.Send("GET /healthz HTTP/1.1\r\nX: " + std::string(16 << 10, 'x')));
  EXPECT_THAT(huge.ReadToClose().value_or(""), ::testing::StartsWith("HTTP/1.1 431 "));
}

TEST(AdminServerStartTest, RefusesAnAddressWithoutAPort) {
  MetricsRegistry registry;
  ServingState state;

  absl::StatusOr<std::unique_ptr<AdminServer>> started =
      AdminServer::Start("127.0.0.1", registry, state);

  ASSERT_FALSE(started.ok());
  EXPECT_THAT(started.status().message(), HasSubstr("host:port"));
}

TEST(AdminServerStartTest, FailsWhenThePortIsTaken) {
  MetricsRegistry registry;
  ServingState state;
  absl::StatusOr<std::unique_ptr<AdminServer>> first =
      AdminServer::Start("127.0.0.1:0", registry, state);
  ASSERT_TRUE(first.ok()) << first.status();

  absl::StatusOr<std::unique_ptr<AdminServer>> second =
      AdminServer::Start("127.0.0.1:" + std::to_string((*first)->port()), registry, state);

  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("cannot listen"));
}

}  // namespace
}  // namespace gengate::observability
