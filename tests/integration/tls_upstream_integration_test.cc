// End-to-end tests of an https upstream: the real gengate binary and real libcurl (with its
// OpenSSL) against the scripted upstream behind a TLS front on 127.0.0.1, with the certificate
// of a throwaway CA that gengate is told to trust with --upstream_ca_file. The default upstream
// is https, so this is the path every production call takes: verification, connection reuse,
// streams and cancellation, over HTTP/1.1 (tests/testing/tls_relay.h, which offers no ALPN)
// and over HTTP/2 (nghttpx, tests/testing/http2_front.h).
#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gengate/v1/chat.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/chat_builders.h"
#include "integration/integration_test_base.h"
#include "testing/http2_front.h"
#include "testing/test_certificates.h"
#include "testing/tls_relay.h"
#include "testing/upstream_server.h"

namespace gengate::integration {
namespace {

using ::gengate::testing::Fixture;
using ::gengate::testing::FrontRequest;
using ::gengate::testing::Http2Front;
using ::gengate::testing::RecordedRequest;
using ::gengate::testing::Responder;
using ::gengate::testing::TlsRelay;
using ::gengate::testing::UpstreamServer;
using ::testing::HasSubstr;

namespace v1 = ::gengate::v1;

constexpr char kChatPath[] = "/openai/chat/completions";

// Every call here asks this model; the fixtures answer for it.
constexpr char kModel[] = "gpt-5-nano";

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

enum class Front { kHttp1Relay, kHttp2 };

// gengate, trusting `trusted_ca` (a file of CertificateDir()), against the upstream behind a
// TLS front that presents the server certificate signed by "ca".
class TlsUpstreamTestBase : public GatewayTestBase {
 protected:
  static void StartBehindTls(Front front, const std::string& trusted_ca) {
    const std::string dir = CertificateDir();
    StartGengate(
        {absl::StrCat("--upstream_api_key_file=", WriteKeyFile()),
         absl::StrCat("--upstream_ca_file=", dir, "/", trusted_ca), "--default_timeout=30s"},
        {}, [dir, front](const UpstreamServer& upstream) -> absl::StatusOr<std::string> {
          const std::string cert = dir + "/server.pem";
          const std::string key = dir + "/server.key";
          int port = 0;
          if (front == Front::kHttp1Relay) {
            absl::StatusOr<std::unique_ptr<TlsRelay>> relay =
                TlsRelay::Start(cert, key, upstream.port());
            if (!relay.ok()) return relay.status();
            relay_ = *std::move(relay);
            port = relay_->port();
          } else {
            absl::StatusOr<std::unique_ptr<Http2Front>> h2 =
                Http2Front::Start(cert, key, upstream.port());
            if (!h2.ok()) return h2.status();
            h2_ = *std::move(h2);
            port = h2_->port();
          }
          return absl::StrCat("https://", kUpstreamHost, ":", port, "/openai");
        });
  }

  static void TearDownTestSuite() {
    GatewayTestBase::TearDownTestSuite();  // gengate first: it holds connections to the front
    relay_.reset();
    h2_.reset();
  }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(GatewayTestBase::SetUp());
    stub_ = v1::ChatService::NewStub(gengate_->channel());
  }

  static inline std::unique_ptr<TlsRelay> relay_;
  static inline std::unique_ptr<Http2Front> h2_;
  std::unique_ptr<v1::ChatService::Stub> stub_;
};

class TlsUpstreamTest : public TlsUpstreamTestBase {
 protected:
  static void SetUpTestSuite() { StartBehindTls(Front::kHttp1Relay, "ca.pem"); }
};

class Http2UpstreamTest : public TlsUpstreamTestBase {
 protected:
  static void SetUpTestSuite() { StartBehindTls(Front::kHttp2, "ca.pem"); }
};

// The front presents a certificate that the CA gengate trusts did not sign.
class UntrustedUpstreamTest : public TlsUpstreamTestBase {
 protected:
  static void SetUpTestSuite() { StartBehindTls(Front::kHttp1Relay, "other_ca.pem"); }
};

grpc::Status CallUnary(v1::ChatService::Stub& stub, const std::string& text,
                       v1::ChatCompletion* completion) {
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  return stub.CreateChatCompletion(&context, UserRequest(kModel, text), completion);
}

// Replays a unary fixture and checks the answer arrived whole.
void ExpectUnaryAnswer(v1::ChatService::Stub& stub, UpstreamServer& upstream) {
  Fixture fixture = MustLoad("chat-unary-basic-gpt5-nano-ruby-llm");
  upstream.Handle(kChatPath, gengate::testing::ReplayFixture(fixture));
  v1::ChatCompletion completion;

  grpc::Status status = CallUnary(stub, "What's 2 + 2?", &completion);

  ASSERT_TRUE(status.ok()) << Describe(status);
  std::optional<json> sent = OnlyJsonPost(upstream.requests(), kChatPath);
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ((*sent)["messages"][0]["content"], "What's 2 + 2?");
  const json answer = ParseJson(fixture.body);
  ASSERT_GT(completion.choices_size(), 0);
  EXPECT_EQ(completion.id(), JsonString(answer, "id"));
  EXPECT_EQ(completion.choices(0).message().content(),
            JsonString(answer["choices"][0]["message"], "content"));
}

// Replays a stream fixture and checks that every chunk arrived, in order.
void ExpectWholeStream(v1::ChatService::Stub& stub, UpstreamServer& upstream) {
  Fixture fixture = MustLoad("chat-stream-include-usage-gpt5-nano-ruby-llm");
  upstream.Handle(kChatPath, gengate::testing::ReplayFixture(fixture));
  std::vector<json> expected;
  for (const std::string& payload : SseDataPayloads(fixture.sse_chunks)) {
    if (payload != "[DONE]") expected.push_back(ParseJson(payload));
  }
  ASSERT_FALSE(expected.empty());
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  std::unique_ptr<grpc::ClientReader<v1::ChatCompletionChunk>> reader =
      stub.StreamChatCompletion(&context, UserRequest(kModel, "Count from 1 to 3"));
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

// Cancels the stream of `context` and `reader`: its upstream (recording into `probe`) must see
// its connection close, and the caller CANCELLED.
void CancelAndExpectTheUpstreamToSeeIt(grpc::ClientContext& context,
                                       grpc::ClientReader<v1::ChatCompletionChunk>& reader,
                                       CloseProbe& probe) {
  context.TryCancel();

  EXPECT_TRUE(probe.done.WaitForNotificationWithTimeout(absl::Seconds(5)))
      << "the upstream connection was still open 5 s after the cancel";
  EXPECT_TRUE(probe.closed);
  v1::ChatCompletionChunk chunk;
  while (reader.Read(&chunk)) {
  }
  EXPECT_EQ(reader.Finish().error_code(), grpc::StatusCode::CANCELLED);
}

// Cancels a stream after its first message; checks that the upstream saw its connection close
// (the front closes its plaintext side when gengate ends the TLS connection or the h2 stream).
void ExpectCancelReachesTheUpstream(v1::ChatService::Stub& stub, UpstreamServer& upstream) {
  auto probe = std::make_shared<CloseProbe>();
  upstream.Handle(kChatPath, [probe](const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, SseHeaders());
    responder.Write(SseEvent(ContentChunk("one")));
    probe->Record(responder, absl::Seconds(30));
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  std::unique_ptr<grpc::ClientReader<v1::ChatCompletionChunk>> reader =
      stub.StreamChatCompletion(&context, UserRequest(kModel, "Hi"));
  v1::ChatCompletionChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  EXPECT_EQ(chunk.choices(0).delta().content(), "one");

  CancelAndExpectTheUpstreamToSeeIt(context, *reader, *probe);
}

// ---------------------------------------------------------------------------------------
// HTTP/1.1 over TLS.

TEST_F(TlsUpstreamTest, UnaryChatCrossesTheVerifiedTlsHop) {
  const int handshakes_before = relay_->handshakes();
  ExpectUnaryAnswer(*stub_, *upstream_);
  EXPECT_EQ(relay_->handshakes() - handshakes_before, 1);
}

TEST_F(TlsUpstreamTest, ServingLineNamesTheCaItTrusts) {
  EXPECT_EQ(JsonString(gengate_->serving_line(), "upstream_ca"), CertificateDir() + "/ca.pem");
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

TEST_F(TlsUpstreamTest, StreamArrivesWholeAndInOrder) { ExpectWholeStream(*stub_, *upstream_); }

TEST_F(TlsUpstreamTest, CancelMidStreamClosesTheUpstreamConnection) {
  ExpectCancelReachesTheUpstream(*stub_, *upstream_);
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
  EXPECT_TRUE(relay_->WaitForFailedHandshakes(refused_before + 1, absl::Seconds(10)));
  EXPECT_TRUE(upstream_->requests().empty());
}

// ---------------------------------------------------------------------------------------
// HTTP/2 over TLS.

// The client ports of the requests the front logged after the first `skip`, once it logged
// `count` more, one per request in the order logged.
std::vector<int> ClientPortsOfNew(const Http2Front& front, std::size_t skip, int count) {
  EXPECT_TRUE(front.WaitForRequests(static_cast<int>(skip) + count, absl::Seconds(10)));
  std::vector<int> ports;
  const std::vector<FrontRequest> requests = front.Requests();
  for (std::size_t i = skip; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].alpn, "h2") << requests[i].method << " " << requests[i].path;
    ports.push_back(requests[i].client_port);
  }
  return ports;
}

TEST_F(Http2UpstreamTest, UnaryChatTravelsAsHttp2) {
  const std::size_t logged_before = h2_->Requests().size();
  ExpectUnaryAnswer(*stub_, *upstream_);
  ASSERT_TRUE(h2_->WaitForRequests(static_cast<int>(logged_before) + 1, absl::Seconds(10)));
  const FrontRequest request = h2_->Requests().back();
  EXPECT_EQ(request.alpn, "h2");
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, kChatPath);
  EXPECT_EQ(request.status, 200);
}

TEST_F(Http2UpstreamTest, StreamArrivesWholeAndInOrder) { ExpectWholeStream(*stub_, *upstream_); }

TEST_F(Http2UpstreamTest, ConcurrentStreamsTakeAConnectionEach) {
  constexpr int kStreams = 4;
  // Every answer waits until all requests are in, so the streams are open at the same time.
  UpstreamServer* upstream = upstream_.get();
  upstream_->Handle(kChatPath, [upstream](const RecordedRequest&, Responder& responder) {
    if (!upstream->WaitForRequests(kStreams, absl::Seconds(10))) return;
    responder.WriteHead(200, SseHeaders());
    responder.Write(SseEvent(ContentChunk("together")));
    responder.Write("data: [DONE]\n\n");
  });
  const std::size_t logged_before = h2_->Requests().size();

  std::vector<grpc::Status> statuses(kStreams);
  std::vector<int> messages(kStreams, 0);
  std::vector<std::thread> callers;
  for (int i = 0; i < kStreams; ++i) {
    callers.emplace_back([&, i] {
      grpc::ClientContext context;
      SetDeadline(context, absl::Seconds(30));
      auto reader =
          stub_->StreamChatCompletion(&context, UserRequest(kModel, absl::StrCat("n", i)));
      v1::ChatCompletionChunk chunk;
      while (reader->Read(&chunk)) ++messages[i];
      statuses[i] = reader->Finish();
    });
  }
  for (std::thread& caller : callers) caller.join();

  for (int i = 0; i < kStreams; ++i) {
    EXPECT_TRUE(statuses[i].ok()) << i << ": " << Describe(statuses[i]);
    EXPECT_EQ(messages[i], 1) << i;
  }
  // Not multiplexed (CURLMOPT_PIPELINING in curl_client.cc): a connection per open stream,
  // so that cancelling one can close its connection and no other.
  const std::vector<int> ports = ClientPortsOfNew(*h2_, logged_before, kStreams);
  EXPECT_EQ(std::set<int>(ports.begin(), ports.end()).size(), static_cast<std::size_t>(kStreams));
}

TEST_F(Http2UpstreamTest, ConnectionIsReusedCallAfterCall) {
  const std::size_t logged_before = h2_->Requests().size();
  ExpectUnaryAnswer(*stub_, *upstream_);
  upstream_->Reset();  // the front keeps its TLS connections from gengate
  ExpectUnaryAnswer(*stub_, *upstream_);

  // The second call took the connection the first gave back to the pool.
  const std::vector<int> ports = ClientPortsOfNew(*h2_, logged_before, 2);
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[0], ports[1]);
}

TEST_F(Http2UpstreamTest, CancelMidStreamClosesTheUpstreamConnection) {
  ExpectCancelReachesTheUpstream(*stub_, *upstream_);
}

TEST_F(Http2UpstreamTest, CancelOfOneOfTwoStreamsReachesTheUpstreamAndSparesTheOther) {
  auto probe = std::make_shared<CloseProbe>();
  std::shared_ptr<gengate::testing::Gate> release = upstream_->NewGate();
  upstream_->Handle(kChatPath, [probe, release](const RecordedRequest& request,
                                                Responder& responder) {
    const bool keep = JsonString(ParseJson(request.body)["messages"][0], "content") == "keep";
    responder.WriteHead(200, SseHeaders());
    responder.Write(SseEvent(ContentChunk(keep ? "kept" : "doomed")));
    if (!keep) {
      probe->Record(responder, absl::Seconds(30));
      return;
    }
    release->Wait(absl::Seconds(30));
    responder.Write(SseEvent(ContentChunk(" and done")));
    responder.Write("data: [DONE]\n\n");
  });
  grpc::ClientContext kept_context;
  SetDeadline(kept_context, absl::Seconds(30));
  auto kept = stub_->StreamChatCompletion(&kept_context, UserRequest(kModel, "keep"));
  v1::ChatCompletionChunk chunk;
  ASSERT_TRUE(kept->Read(&chunk));
  grpc::ClientContext doomed_context;
  SetDeadline(doomed_context, absl::Seconds(30));
  auto doomed = stub_->StreamChatCompletion(&doomed_context, UserRequest(kModel, "cancel"));
  ASSERT_TRUE(doomed->Read(&chunk));
  EXPECT_EQ(chunk.choices(0).delta().content(), "doomed");

  // Both upstreams are silent now: no other traffic could carry news of the cancel.
  CancelAndExpectTheUpstreamToSeeIt(doomed_context, *doomed, *probe);
  release->Open();
  std::string rest;
  while (kept->Read(&chunk)) rest += chunk.choices(0).delta().content();
  grpc::Status status = kept->Finish();
  EXPECT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(rest, " and done");
}

// The shared failure table over HTTP/2: statuses, HTML and broken answers, resets mid-answer
// and stalls, as they arrive through an h2 connection (nghttpx forwards the upstream's HTTP/1.1
// answer, and turns a reset mid-answer into an RST_STREAM).
RpcUnderTest CreateChatRpc() {
  return {"CreateChatCompletion", kChatPath, false,
          [](std::shared_ptr<grpc::Channel> channel, grpc::ClientContext& context) {
            v1::ChatCompletion completion;
            return RpcOutcome{v1::ChatService::NewStub(channel)->CreateChatCompletion(
                                  &context, UserRequest(kModel, "Hi"), &completion),
                              0};
          }};
}

RpcUnderTest StreamChatRpc() {
  return {"StreamChatCompletion", kChatPath, true,
          [](std::shared_ptr<grpc::Channel> channel, grpc::ClientContext& context) {
            auto stub = v1::ChatService::NewStub(channel);
            auto reader = stub->StreamChatCompletion(&context, UserRequest(kModel, "Hi"));
            int messages = 0;
            v1::ChatCompletionChunk chunk;
            while (reader->Read(&chunk)) ++messages;
            return RpcOutcome{reader->Finish(), messages};
          }};
}

class Http2UpstreamFailureTest
    : public Http2UpstreamTest,
      public ::testing::WithParamInterface<std::tuple<RpcUnderTest, UpstreamFailure>> {};

TEST_P(Http2UpstreamFailureTest, MapsToTheDocumentedStatus) {
  RunUpstreamFailure(*upstream_, *gengate_, std::get<0>(GetParam()), std::get<1>(GetParam()));
}

// All rows but one: an upstream that resets its connection before answering reaches gengate as
// nghttpx's own 502, not as a reset. An h2 upstream's way to drop one request is RST_STREAM,
// which the mid-answer rows exercise; the HTTP/1.1 suites keep the connection reset.
std::vector<UpstreamFailure> FailuresThroughTheFront() {
  std::vector<UpstreamFailure> failures = UpstreamFailures();
  std::erase_if(failures,
                [](const UpstreamFailure& failure) { return failure.name == "ResetBeforeAnswer"; });
  return failures;
}

INSTANTIATE_TEST_SUITE_P(AllFailures, Http2UpstreamFailureTest,
                         ::testing::Combine(::testing::Values(CreateChatRpc(), StreamChatRpc()),
                                            ::testing::ValuesIn(FailuresThroughTheFront())),
                         FailureCaseName);

}  // namespace
}  // namespace gengate::integration
