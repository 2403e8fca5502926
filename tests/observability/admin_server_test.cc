// The admin HTTP listener on 127.0.0.1:0: /metrics, /healthz and /readyz through a real HTTP
// client.
#include "observability/admin_server.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
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

// The listener thread is named gengate-admin; cpp-httplib's workers, which it starts, inherit
// the name.
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
