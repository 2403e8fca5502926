// End-to-end tests of the Embeddings RPC: the real gengate binary, real sockets and real
// libcurl, against a scripted upstream on 127.0.0.1 (tests/testing/upstream_server.h).
#include <grpcpp/grpcpp.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gengate/v1/embeddings.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/integration_test_base.h"
#include "testing/upstream_server.h"

namespace gengate::integration {
namespace {

using ::gengate::testing::Fixture;
using ::gengate::testing::RecordedRequest;
using ::gengate::testing::Responder;
using ::testing::HasSubstr;

namespace v1 = ::gengate::v1;

constexpr char kEmbeddingsPath[] = "/openai/embeddings";

static_assert(std::endian::native == std::endian::little,
              "the expected vectors are decoded by memcpy from little-endian float32");

// The float32 values of a base64 embedding (little-endian IEEE-754, as the upstream sends).
std::vector<float> DecodeBase64Floats(const std::string& text) {
  std::string bytes;
  EXPECT_TRUE(absl::Base64Unescape(text, &bytes));
  EXPECT_EQ(bytes.size() % sizeof(float), 0u);
  std::vector<float> floats(bytes.size() / sizeof(float));
  std::memcpy(floats.data(), bytes.data(), floats.size() * sizeof(float));
  return floats;
}

std::string EncodeBase64Floats(const std::vector<float>& floats) {
  std::string bytes(floats.size() * sizeof(float), '\0');
  std::memcpy(bytes.data(), floats.data(), bytes.size());
  return absl::Base64Escape(bytes);
}

// A JSON float array as float32, the way the gateway must round it.
std::vector<float> JsonFloats(const json& array) {
  std::vector<float> floats;
  for (const json& value : array) floats.push_back(static_cast<float>(value.get<double>()));
  return floats;
}

std::vector<float> Floats(const v1::Embedding& embedding) {
  return {embedding.embedding().begin(), embedding.embedding().end()};
}

// Bit-for-bit: -0.0 and NaN payloads count, as a memcpy would keep them.
void ExpectSameBits(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
        << "element " << i << ": " << got[i] << " vs " << want[i];
  }
}

v1::CreateEmbeddingsRequest EmbeddingsRequest(std::vector<std::string> inputs) {
  v1::CreateEmbeddingsRequest request;
  request.set_model("text-embedding-3-small");
  for (std::string& input : inputs) request.add_input(std::move(input));
  return request;
}

class EmbeddingsIntegrationTest : public GatewayTestBase {
 protected:
  static void SetUpTestSuite() {
    StartGengate({absl::StrCat("--upstream_api_key_file=", WriteKeyFile())}, {});
  }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(GatewayTestBase::SetUp());
    stub_ = v1::EmbeddingsService::NewStub(gengate_->channel());
  }

  std::unique_ptr<v1::EmbeddingsService::Stub> stub_;
};

TEST_F(EmbeddingsIntegrationTest, AsksForBase64AndDecodesItToTheExactFloats) {
  Fixture fixture = MustLoad("embeddings-base64-768-derived");
  upstream_->Handle(kEmbeddingsPath, gengate::testing::ReplayFixture(fixture));
  v1::CreateEmbeddingsRequest request = EmbeddingsRequest({"Ruby is a programmer's best friend"});
  request.set_dimensions(768);
  request.set_user("user-42");
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::CreateEmbeddingsResponse response;

  grpc::Status status = stub_->CreateEmbeddings(&context, request, &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  std::vector<RecordedRequest> received = upstream_->requests();
  std::optional<json> sent = OnlyJsonPost(received, kEmbeddingsPath);
  ASSERT_TRUE(sent.has_value());
  const json& body = *sent;
  EXPECT_EQ(body["model"], "text-embedding-3-small");
  EXPECT_EQ(body["input"], json::array({"Ruby is a programmer's best friend"}));
  EXPECT_EQ(body["encoding_format"], "base64");
  EXPECT_EQ(body["dimensions"], 768);
  EXPECT_EQ(body["user"], "user-42");
  EXPECT_FALSE(body.contains("extra_body"));
  const json answer = ParseJson(fixture.body);
  EXPECT_EQ(response.model(), "text-embedding-3-small");
  ASSERT_EQ(response.data_size(), 1);
  EXPECT_EQ(response.data(0).index(), 0);
  const std::vector<float> want = DecodeBase64Floats(JsonString(answer["data"][0], "embedding"));
  ASSERT_EQ(want.size(), 768u);
  ExpectSameBits(Floats(response.data(0)), want);
  // The same vector as the float capture it was derived from, after float32 rounding.
  const json floats = ParseJson(MustLoad("embeddings-dimensions-768-ruby-llm").body);
  ExpectSameBits(Floats(response.data(0)), JsonFloats(floats["data"][0]["embedding"]));
  EXPECT_EQ(response.usage().prompt_tokens(), 7);
  EXPECT_EQ(response.usage().total_tokens(), 7);
}

// Float arrays (from servers that ignore encoding_format) are accepted too.
class EmbeddingsFloatFixtureTest : public EmbeddingsIntegrationTest,
                                   public ::testing::WithParamInterface<std::string> {};

TEST_P(EmbeddingsFloatFixtureTest, ReturnsTheFloatArraysAsFloat32) {
  Fixture fixture = MustLoad(GetParam());
  upstream_->Handle(kEmbeddingsPath, gengate::testing::ReplayFixture(fixture));
  std::vector<std::string> inputs;
  const json& input = fixture.request["input"];
  if (input.is_array()) {
    for (const json& text : input) inputs.push_back(text.get<std::string>());
  } else {
    inputs.push_back(input.get<std::string>());
  }
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::CreateEmbeddingsResponse response;

  grpc::Status status =
      stub_->CreateEmbeddings(&context, EmbeddingsRequest(inputs), &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  ASSERT_EQ(upstream_->requests().size(), 1u);
  const json sent = ParseJson(upstream_->requests()[0].body);
  EXPECT_EQ(sent["input"], json(inputs));
  EXPECT_EQ(sent["encoding_format"], "base64");
  const json answer = ParseJson(fixture.body);
  ASSERT_EQ(response.data_size(), static_cast<int>(answer["data"].size()));
  for (int i = 0; i < response.data_size(); ++i) {
    SCOPED_TRACE(absl::StrCat("embedding ", i));
    EXPECT_EQ(response.data(i).index(), i);
    ExpectSameBits(Floats(response.data(i)), JsonFloats(answer["data"][i]["embedding"]));
  }
  EXPECT_EQ(response.model(), JsonString(answer, "model"));
  EXPECT_EQ(response.usage().prompt_tokens(), JsonInt(answer["usage"], "prompt_tokens"));
  EXPECT_EQ(response.usage().total_tokens(), JsonInt(answer["usage"], "total_tokens"));
}

INSTANTIATE_TEST_SUITE_P(AllFloatFixtures, EmbeddingsFloatFixtureTest,
                         ::testing::Values("embeddings-float-batch-ruby-llm",
                                           "embeddings-float-single-ruby-llm",
                                           "embeddings-dimensions-768-ruby-llm",
                                           "embeddings-single-element-array-ruby-llm"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return absl::StrReplaceAll(info.param, {{"-", "_"}});
                         });

// The upstream lists the items out of order; the caller gets them sorted by index.
class EmbeddingsOrderTest : public EmbeddingsIntegrationTest,
                            public ::testing::WithParamInterface<bool> {};

TEST_P(EmbeddingsOrderTest, ReturnsItemsSortedByIndex) {
  const bool base64 = GetParam();
  // Vector i starts with i, so a mix-up shows; -0.0, a denormal and large values check bits.
  std::vector<std::vector<float>> vectors = {
      {0.0f, -0.0f, 1.5f, -2.25f},
      {1.0f, 1e-42f, 3.4e38f, -7.125f},
      {2.0f, 0.1f, -0.333333f, 65504.0f},
      {3.0f, 1e-7f, 42.0f, -1e-30f},
  };
  json data = json::array();
  for (int index : {2, 0, 3, 1}) {
    json embedding = base64 ? json(EncodeBase64Floats(vectors[index])) : json(vectors[index]);
    data.push_back({{"object", "embedding"}, {"index", index}, {"embedding", embedding}});
  }
  const std::string answer = json{{"object", "list"},
                                  {"data", data},
                                  {"model", "text-embedding-3-small"},
                                  {"usage", {{"prompt_tokens", 4}, {"total_tokens", 4}}}}
                                 .dump();
  upstream_->Handle(kEmbeddingsPath, [answer](const RecordedRequest&, Responder& responder) {
    responder.Reply(200, {{"Content-Type", "application/json"}}, answer);
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::CreateEmbeddingsResponse response;

  grpc::Status status =
      stub_->CreateEmbeddings(&context, EmbeddingsRequest({"a", "b", "c", "d"}), &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  ASSERT_EQ(response.data_size(), 4);
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(absl::StrCat("position ", i));
    EXPECT_EQ(response.data(i).index(), i);
    ExpectSameBits(Floats(response.data(i)), vectors[i]);
  }
  EXPECT_EQ(response.usage().total_tokens(), 4);
}

INSTANTIATE_TEST_SUITE_P(Base64AndFloat, EmbeddingsOrderTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Base64" : "FloatArrays";
                         });

// `inputs` vectors of `dimensions` distinct floats, and the upstream's base64 answer with them.
struct Batch {
  std::vector<std::vector<float>> vectors;
  std::string answer;
};

Batch MakeBatch(int inputs, int dimensions) {
  Batch batch;
  batch.vectors.assign(inputs, std::vector<float>(dimensions));
  batch.answer = R"({"object":"list","data":[)";
  for (int i = 0; i < inputs; ++i) {
    for (int j = 0; j < dimensions; ++j) {
      batch.vectors[i][j] = static_cast<float>(i) + static_cast<float>(j) / dimensions;
    }
    absl::StrAppend(&batch.answer, i == 0 ? "" : ",", R"({"object":"embedding","index":)", i,
                    R"(,"embedding":")", EncodeBase64Floats(batch.vectors[i]), "\"}");
  }
  absl::StrAppend(&batch.answer, R"(],"model":"text-embedding-3-small",)",
                  R"("usage":{"prompt_tokens":)", inputs, R"(,"total_tokens":)", inputs, "}}");
  return batch;
}

void ExpectBatch(const v1::CreateEmbeddingsResponse& response, const Batch& batch) {
  ASSERT_EQ(response.data_size(), static_cast<int>(batch.vectors.size()));
  for (int i = 0; i < response.data_size(); ++i) {
    SCOPED_TRACE(absl::StrCat("embedding ", i));
    ASSERT_EQ(response.data(i).index(), i);
    ExpectSameBits(Floats(response.data(i)), batch.vectors[i]);
  }
}

TEST_F(EmbeddingsIntegrationTest, FullSizeBatchDecodesEveryVector) {
  // The largest batch the upstream allows, at text-embedding-3-small's width: 12.6 MB of
  // floats, 16.8 MB of base64.
  constexpr int kInputs = 2048;
  constexpr int kDimensions = 1536;
  Batch batch = MakeBatch(kInputs, kDimensions);
  auto shared_answer = std::make_shared<const std::string>(std::move(batch.answer));
  upstream_->Handle(kEmbeddingsPath,
                    [shared_answer](const RecordedRequest&, Responder& responder) {
                      responder.Reply(200, {{"Content-Type", "application/json"}},
                                      *shared_answer);
                    });
  auto stub = v1::EmbeddingsService::NewStub(LargeMessageChannel());
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(60));
  v1::CreateEmbeddingsResponse response;

  grpc::Status status = stub->CreateEmbeddings(
      &context, EmbeddingsRequest(std::vector<std::string>(kInputs, "text")), &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  ExpectBatch(response, batch);
  EXPECT_EQ(response.usage().prompt_tokens(), 2048);
}

// An answer of 64 KiB or more that completes while another transfer still runs is parsed and
// finished on a gRPC thread (an alarm hands it over), not on the event loop. It must arrive
// whole, and the transfer left running must finish too.
TEST_F(EmbeddingsIntegrationTest, ALargeAnswerWhileAnotherTransferRunsArrivesWhole) {
  const Batch large = MakeBatch(64, 1536);  // 64 x 8 KiB of base64
  const Batch small = MakeBatch(1, 4);
  ASSERT_GT(large.answer.size(), 64u << 10);
  std::shared_ptr<gengate::testing::Gate> release = upstream_->NewGate();
  upstream_->Handle(kEmbeddingsPath, [release, large, small](const RecordedRequest& request,
                                                             Responder& responder) {
    const bool hold = absl::StrContains(request.body, "\"hold\"");
    if (hold) release->Wait(absl::Seconds(30));
    responder.Reply(200, {{"Content-Type", "application/json"}},
                    hold ? small.answer : large.answer);
  });

  grpc::ClientContext held_context;
  SetDeadline(held_context, absl::Seconds(30));
  v1::CreateEmbeddingsResponse held_response;
  grpc::Status held_status;
  absl::Notification held_done;
  const v1::CreateEmbeddingsRequest held_request = EmbeddingsRequest({"hold"});
  stub_->async()->CreateEmbeddings(&held_context, &held_request, &held_response,
                                   [&](grpc::Status status) {
                                     held_status = std::move(status);
                                     held_done.Notify();
                                   });
  ASSERT_TRUE(upstream_->WaitForRequests(1, absl::Seconds(10)));

  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::CreateEmbeddingsResponse response;
  grpc::Status status = stub_->CreateEmbeddings(
      &context, EmbeddingsRequest(std::vector<std::string>(64, "text")), &response);
  release->Open();
  ASSERT_TRUE(held_done.WaitForNotificationWithTimeout(absl::Seconds(30)));

  ASSERT_TRUE(status.ok()) << Describe(status);
  ExpectBatch(response, large);
  ASSERT_TRUE(held_status.ok()) << Describe(held_status);
  ExpectBatch(held_response, small);
}

TEST_F(EmbeddingsIntegrationTest, IndexesThatAreNotZeroToNAreMalformed) {
  upstream_->Handle(kEmbeddingsPath, [](const RecordedRequest&, Responder& responder) {
    responder.Reply(200, {{"Content-Type", "application/json"}},
                    R"({"object":"list","model":"m","data":[
                        {"object":"embedding","index":0,"embedding":[1.0]},
                        {"object":"embedding","index":0,"embedding":[2.0]}]})");
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::CreateEmbeddingsResponse response;

  grpc::Status status =
      stub_->CreateEmbeddings(&context, EmbeddingsRequest({"a", "b"}), &response);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << Describe(status);
  std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason(), "malformed_upstream_answer");
}

// ---------------------------------------------------------------------------------------
// Failures: the shared table.

RpcUnderTest CreateEmbeddingsRpc(v1::CreateEmbeddingsRequest request) {
  return {"CreateEmbeddings", kEmbeddingsPath, false,
          [request](std::shared_ptr<grpc::Channel> channel, grpc::ClientContext& context) {
            v1::CreateEmbeddingsResponse response;
            return RpcOutcome{v1::EmbeddingsService::NewStub(channel)->CreateEmbeddings(
                                  &context, request, &response),
                              0};
          }};
}

class EmbeddingsUpstreamFailureTest
    : public EmbeddingsIntegrationTest,
      public ::testing::WithParamInterface<std::tuple<RpcUnderTest, UpstreamFailure>> {};

TEST_P(EmbeddingsUpstreamFailureTest, MapsToTheDocumentedStatus) {
  RunUpstreamFailure(*upstream_, *gengate_, std::get<0>(GetParam()), std::get<1>(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(
    AllFailures, EmbeddingsUpstreamFailureTest,
    ::testing::Combine(::testing::Values(CreateEmbeddingsRpc(EmbeddingsRequest({"hello"}))),
                       ::testing::ValuesIn(UpstreamFailures())),
    FailureCaseName);

using EmbeddingsUnreachableTest = UnreachableUpstreamTest;

TEST_P(EmbeddingsUnreachableTest, ConnectionRefusedIsUnavailable) { ExpectUnavailable(); }

INSTANTIATE_TEST_SUITE_P(CreateEmbeddings, EmbeddingsUnreachableTest,
                         ::testing::Values(CreateEmbeddingsRpc(EmbeddingsRequest({"hello"}))),
                         RpcName);

using EmbeddingsRequestLimitTest = SmallMessageLimitTest;

TEST_P(EmbeddingsRequestLimitTest, OversizedRequestIsInvalidArgumentNamingTheLimit) {
  ExpectRefusedAsTooLarge();
}

INSTANTIATE_TEST_SUITE_P(
    CreateEmbeddings, EmbeddingsRequestLimitTest,
    ::testing::Values(CreateEmbeddingsRpc(EmbeddingsRequest(
        std::vector<std::string>(20, std::string((kSmallMessageLimit + (16 << 10)) / 20, 'e'))))),
    RpcName);

// ---------------------------------------------------------------------------------------
// Validation: the upstream is never called.

struct ValidationCase {
  std::string name;
  v1::CreateEmbeddingsRequest request;
};

void PrintTo(const ValidationCase& param, std::ostream* os) { *os << param.name; }

class EmbeddingsValidationTest : public EmbeddingsIntegrationTest,
                                 public ::testing::WithParamInterface<ValidationCase> {};

TEST_P(EmbeddingsValidationTest, RejectsTheRequestWithoutCallingTheUpstream) {
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::CreateEmbeddingsResponse response;

  grpc::Status status = stub_->CreateEmbeddings(&context, GetParam().request, &response);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(status);
  EXPECT_FALSE(status.error_message().empty());
  EXPECT_TRUE(upstream_->requests().empty()) << "the upstream was called";
}

std::vector<ValidationCase> ValidationCases() {
  v1::CreateEmbeddingsRequest no_model = EmbeddingsRequest({"a"});
  no_model.clear_model();
  v1::CreateEmbeddingsRequest zero_dimensions = EmbeddingsRequest({"a"});
  zero_dimensions.set_dimensions(0);
  v1::CreateEmbeddingsRequest both = EmbeddingsRequest({"a"});
  both.add_input_token_ids()->add_token_ids(1);
  return {{"NoModel", no_model},
          {"NoInput", EmbeddingsRequest({})},
          {"TooManyInputs", EmbeddingsRequest(std::vector<std::string>(2049, "x"))},
          {"ZeroDimensions", zero_dimensions},
          {"TextAndTokenInputs", both}};
}

INSTANTIATE_TEST_SUITE_P(BadRequests, EmbeddingsValidationTest,
                         ::testing::ValuesIn(ValidationCases()),
                         [](const ::testing::TestParamInfo<ValidationCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace gengate::integration
