// End-to-end tests of an https upstream: the real gengate binary and real libcurl (with its
// OpenSSL) against the scripted upstream behind a TLS front on 127.0.0.1
// (tests/testing/tls_relay.h), with the certificate of a throwaway CA that gengate is told to
// trust with --upstream_ca_file. The default upstream is https, so this is the path every
// production call takes: verification, connection reuse over TLS, streams and cancellation.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gengate/v1/chat.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/integration_test_base.h"
#include "testing/test_certificates.h"
#include "testing/tls_relay.h"
#include "testing/upstream_server.h"

namespace gengate::integration {
namespace {

using ::gengate::testing::Fixture;
using ::gengate::testing::RecordedRequest;
using ::gengate::testing::Responder;
using ::gengate::testing::TlsRelay;
using ::gengate::testing::UpstreamServer;
using ::testing::HasSubstr;

namespace v1 = ::gengate::v1;

constexpr char kChatPath[] = "/openai/chat/completions";

v1::CreateChatCompletionRequest UserRequest(std::string text) {
  v1::CreateChatCompletionRequest request;
  request.set_model("gpt-5-nano");
  v1::ChatMessage* message = request.add_messages();
  message->set_role(v1::ROLE_USER);
  message->set_content(std::move(text));
  return request;
}

// The directory of this process's throwaway certificates, made once.
const std::string& CertificateDir() {
  static const std::string* dir = [] {
    auto* path = new std::string(
        absl::StrCat(::testing::TempDir(), "/gengate_tls_upstream_", getpid()));
    const absl::Status made = gengate::testing::MakeTestCertificates(*path);
    EXPECT_TRUE(made.ok()) << made;
    return path;
  }();
  return *dir;
}

// gengate, trusting `trusted_ca` (a file of CertificateDir()), against the upstream behind a
// TLS front that presents the server certificate signed by "ca".
class TlsUpstreamTestBase : public GatewayTestBase {
 protected:
  static void StartBehindTls(const std::string& trusted_ca) {
    const std::string dir = CertificateDir();
    StartGengate({absl::StrCat("--upstream_api_key_file=", WriteKeyFile()),
                  absl::StrCat("--upstream_ca_file=", dir, "/", trusted_ca),
                  "--default_timeout=30s"},
                 {}, [dir](const UpstreamServer& upstream) -> absl::StatusOr<std::string> {
                   absl::StatusOr<std::unique_ptr<TlsRelay>> relay = TlsRelay::Start(
                       dir + "/server.pem", dir + "/server.key", upstream.port());
                   if (!relay.ok()) return relay.status();
                   relay_ = *std::move(relay);
                   return absl::StrCat("https://", kUpstreamHost, ":", relay_->port(), "/openai");
                 });
  }

  static void TearDownTestSuite() {
    GatewayTestBase::TearDownTestSuite();  // gengate first: it holds connections to the relay
    relay_.reset();
  }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(GatewayTestBase::SetUp());
    stub_ = v1::ChatService::NewStub(gengate_->channel());
  }

  static inline std::unique_ptr<TlsRelay> relay_;
  std::unique_ptr<v1::ChatService::Stub> stub_;
};

class TlsUpstreamTest : public TlsUpstreamTestBase {
 protected:
  static void SetUpTestSuite() { StartBehindTls("ca.pem"); }
};

// The front presents a certificate that the CA gengate trusts did not sign.
class UntrustedUpstreamTest : public TlsUpstreamTestBase {
 protected:
  static void SetUpTestSuite() { StartBehindTls("other_ca.pem"); }
};

grpc::Status CallUnary(v1::ChatService::Stub& stub, const std::string& text,
                       v1::ChatCompletion* completion) {
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  return stub.CreateChatCompletion(&context, UserRequest(text), completion);
}

TEST_F(TlsUpstreamTest, UnaryChatCrossesTheVerifiedTlsHop) {
  Fixture fixture = MustLoad("chat-unary-basic-gpt5-nano-ruby-llm");
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(fixture));
  const int handshakes_before = relay_->handshakes();
  v1::ChatCompletion completion;

  grpc::Status status = CallUnary(*stub_, "What's 2 + 2?", &completion);

  ASSERT_TRUE(status.ok()) << Describe(status) << "\n" << gengate_->OutputText();
  std::optional<json> sent = OnlyJsonPost(upstream_->requests(), kChatPath);
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ((*sent)["messages"][0]["content"], "What's 2 + 2?");
  const json answer = ParseJson(fixture.body);
  ASSERT_GT(completion.choices_size(), 0);
  EXPECT_EQ(completion.id(), JsonString(answer, "id"));
  EXPECT_EQ(completion.choices(0).message().content(),
            JsonString(answer["choices"][0]["message"], "content"));
  EXPECT_EQ(relay_->handshakes() - handshakes_before, 1);
}

TEST_F(TlsUpstreamTest, CallsInTurnReuseOneTlsConnection) {
  Fixture fixture = MustLoad("chat-unary-basic-gpt5-nano-ruby-llm");
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(fixture));
  const int handshakes_before = relay_->handshakes();

  for (int i = 0; i < 3; ++i) {
    v1::ChatCompletion completion;
    grpc::Status status = CallUnary(*stub_, absl::StrCat("call ", i), &completion);
    ASSERT_TRUE(status.ok()) << Describe(status);
  }

  // One handshake, and the relay's single backend connection carried all three requests.
  EXPECT_EQ(relay_->handshakes() - handshakes_before, 1);
  std::vector<RecordedRequest> received = upstream_->requests();
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(received[1].connection_id, received[0].connection_id);
  EXPECT_EQ(received[2].connection_id, received[0].connection_id);
}

TEST_F(TlsUpstreamTest, StreamArrivesWholeAndInOrder) {
  Fixture fixture = MustLoad("chat-stream-include-usage-gpt5-nano-ruby-llm");
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(fixture));
  std::vector<json> expected;
  for (const std::string& payload : SseDataPayloads(fixture.sse_chunks)) {
    if (payload != "[DONE]") expected.push_back(ParseJson(payload));
  }
  ASSERT_FALSE(expected.empty());
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  std::unique_ptr<grpc::ClientReader<v1::ChatCompletionChunk>> reader =
      stub_->StreamChatCompletion(&context, UserRequest("Count from 1 to 3"));
  std::vector<v1::ChatCompletionChunk> chunks;
  v1::ChatCompletionChunk chunk;
  while (reader->Read(&chunk)) chunks.push_back(chunk);
  grpc::Status status = reader->Finish();

  ASSERT_TRUE(status.ok()) << Describe(status);
  ASSERT_EQ(chunks.size(), expected.size());
  std::string text;
  std::string expected_text;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].id(), JsonString(expected[i], "id")) << "chunk " << i;
    for (const auto& choice : chunks[i].choices()) text += choice.delta().content();
    for (const json& choice : JsonObject(expected[i], "choices")) {
      expected_text += JsonString(JsonObject(choice, "delta"), "content");
    }
  }
  EXPECT_FALSE(expected_text.empty());
  EXPECT_EQ(text, expected_text);
}

TEST_F(TlsUpstreamTest, CancelMidStreamClosesTheUpstreamConnection) {
  auto probe = std::make_shared<CloseProbe>();
  upstream_->Handle(kChatPath, [probe](const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, SseHeaders());
    responder.Write(SseEvent(json{{"id", "chatcmpl-tls"},
                                  {"object", "chat.completion.chunk"},
                                  {"created", 1700000000},
                                  {"model", "gpt-test"},
                                  {"choices", json::array({json{{"index", 0},
                                                                {"delta", {{"content", "one"}}},
                                                                {"finish_reason", nullptr}}})}}));
    probe->Record(responder, absl::Seconds(30));
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  std::unique_ptr<grpc::ClientReader<v1::ChatCompletionChunk>> reader =
      stub_->StreamChatCompletion(&context, UserRequest("Hi"));
  v1::ChatCompletionChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  EXPECT_EQ(chunk.choices(0).delta().content(), "one");

  context.TryCancel();

  // gengate drops the TLS connection; the front then closes its plaintext one to the upstream.
  ASSERT_TRUE(probe->done.WaitForNotificationWithTimeout(absl::Seconds(5)))
      << "the upstream connection was still open 5 s after the cancel";
  EXPECT_TRUE(probe->closed);
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(UntrustedUpstreamTest, UnverifiableCertificateIsUnavailableAndSendsNothing) {
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(
                                   MustLoad("chat-unary-basic-gpt5-nano-ruby-llm")));
  const int refused_before = relay_->failed_handshakes();
  v1::ChatCompletion completion;

  grpc::Status status = CallUnary(*stub_, "Hi", &completion);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(status);
  EXPECT_THAT(status.error_message(), HasSubstr("TLS"));
  EXPECT_THAT(status.error_message(), HasSubstr("certificate"));  // curl's reason, for the operator
  std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status);
  ASSERT_TRUE(info.has_value()) << Describe(status);
  EXPECT_EQ(info->reason(), "upstream_tls_failed");
  EXPECT_EQ(info->domain(), kUpstreamHost);
  ExpectNoKeyInStatus(status);
  // gengate refused the certificate in the handshake, before a byte of the request left.
  EXPECT_GT(relay_->failed_handshakes(), refused_before);
  EXPECT_TRUE(upstream_->requests().empty());
}

}  // namespace
}  // namespace gengate::integration
