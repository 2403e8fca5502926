// Which failures a gRPC client's retry policy may resend: only an UNAVAILABLE whose request
// cannot have reached the upstream comes back Trailers-Only (x-request-id in the trailers);
// an upstream's own answer, even a 503, is final.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gengate/v1/chat.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/integration_test_base.h"

namespace gengate::integration {
namespace {

using gengate::testing::EnvironmentList;
using gengate::testing::GengateProcess;
using ::testing::Optional;

constexpr int kAttempts = 3;

// A channel whose service config retries UNAVAILABLE up to kAttempts times, quickly.
std::shared_ptr<grpc::Channel> RetryingChannel(const std::string& address) {
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_ENABLE_RETRIES, 1);
  arguments.SetServiceConfigJSON(absl::StrCat(
      R"({"methodConfig":[{"name":[{"service":"gengate.v1.ChatService"}],)",
      R"("retryPolicy":{"maxAttempts":)", kAttempts,
      R"(,"initialBackoff":"0.01s","maxBackoff":"0.05s","backoffMultiplier":2,)",
      R"("retryableStatusCodes":["UNAVAILABLE"]}}]})"));
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments);
}

v1::CreateChatCompletionRequest Hello() {
  v1::CreateChatCompletionRequest request;
  request.set_model("gpt-test");
  v1::ChatMessage* message = request.add_messages();
  message->set_role(v1::ROLE_USER);
  message->set_content("Hi");
  return request;
}

// Waits until gengate has logged `expected` call lines for this request id (each line is
// looked at once); returns how many it saw, fewer when the wait timed out.
int WaitForCallLines(const GengateProcess& gengate, const std::string& request_id,
                     int expected) {
  int seen = 0;
  gengate.WaitForJsonLine(
      [&](const json& line) {
        if (JsonString(line, "msg") == "call" && JsonString(line, "request_id") == request_id) {
          ++seen;
        }
        return seen == expected;
      },
      absl::Seconds(10));
  return seen;
}

TEST(RetryIntegrationTest, AnUnreachableUpstreamIsTrailersOnlySoTheClientRetries) {
  GengateProcess gengate(GENGATE_BINARY,
                         BaseFlags(absl::StrCat("http://127.0.0.1:", ClosedPort(), "/openai")),
                         EnvironmentList{{"GENGATE_UPSTREAM_API_KEY", kApiKey}});
  ASSERT_TRUE(gengate.Start().ok());
  auto stub = v1::ChatService::NewStub(RetryingChannel(gengate.listen_address()));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  context.AddMetadata("x-request-id", "retry-unreachable");
  v1::ChatCompletion completion;

  const grpc::Status status = stub->CreateChatCompletion(&context, Hello(), &completion);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(status);
  std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason(), "upstream_unreachable");
  EXPECT_EQ(MetadataValue(context.GetServerInitialMetadata(), "x-request-id"), std::nullopt);
  EXPECT_THAT(MetadataValue(context.GetServerTrailingMetadata(), "x-request-id"),
              Optional(std::string("retry-unreachable")));
  // Every attempt is a call of its own in the log.
  EXPECT_EQ(WaitForCallLines(gengate, "retry-unreachable", kAttempts), kAttempts);
}

class UpstreamAnswerIsFinalTest : public GatewayTestBase {
 protected:
  static void SetUpTestSuite() { StartGengate({}, {{"GENGATE_UPSTREAM_API_KEY", kApiKey}}); }
};

TEST_F(UpstreamAnswerIsFinalTest, AnUpstream503IsNotRetried) {
  upstream_->Handle("/openai/chat/completions",
                    [](const gengate::testing::RecordedRequest&, gengate::testing::Responder& out) {
                      out.Reply(503, {{"Content-Type", "application/json"}},
                                R"({"error":{"message":"overloaded","type":"server_error"}})");
                    });
  auto stub = v1::ChatService::NewStub(RetryingChannel(gengate_->listen_address()));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  context.AddMetadata("x-request-id", "retry-503");
  v1::ChatCompletion completion;

  const grpc::Status status = stub->CreateChatCompletion(&context, Hello(), &completion);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(status);
  EXPECT_EQ(upstream_->requests().size(), 1u) << "the upstream was asked again";
  EXPECT_THAT(MetadataValue(context.GetServerInitialMetadata(), "x-request-id"),
              Optional(std::string("retry-503")));
  EXPECT_EQ(WaitForCallLines(*gengate_, "retry-503", 1), 1) << gengate_->OutputText();
}

}  // namespace
}  // namespace gengate::integration
