// End-to-end tests of the chat RPCs: the real gengate binary, real sockets and real libcurl,
// against a scripted upstream on 127.0.0.1 (tests/testing/upstream_server.h). Each fixture
// class starts one gengate process for all its tests; the upstream is reset between tests and
// is strict: a request to a path no test registered fails the test.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gengate/v1/chat.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "integration/chat_builders.h"
#include "integration/integration_test_base.h"
#include "testing/gengate_process.h"
#include "testing/upstream_server.h"

namespace gengate::integration {
namespace {

using ::gengate::testing::EnvironmentList;
using ::gengate::testing::ExitResult;
using ::gengate::testing::Fixture;
using ::gengate::testing::GengateProcess;
using ::gengate::testing::Handler;
using ::gengate::testing::HeaderList;
using ::gengate::testing::RecordedRequest;
using ::gengate::testing::Responder;
using ::gengate::testing::UpstreamServer;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

namespace v1 = ::gengate::v1;

constexpr char kChatPath[] = "/openai/chat/completions";
constexpr char kUpstreamRequestId[] = "upstream-req-7f3a";
constexpr char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
constexpr char kStreamMethod[] = "/gengate.v1.ChatService/StreamChatCompletion";
constexpr char kUnaryMethod[] = "/gengate.v1.ChatService/CreateChatCompletion";

// ---------------------------------------------------------------------------------------
// Helpers.

v1::FinishReason FinishReasonOf(absl::string_view text) {
  if (text == "stop") return v1::FINISH_REASON_STOP;
  if (text == "length") return v1::FINISH_REASON_LENGTH;
  if (text == "tool_calls") return v1::FINISH_REASON_TOOL_CALLS;
  if (text == "content_filter") return v1::FINISH_REASON_CONTENT_FILTER;
  if (text == "function_call") return v1::FINISH_REASON_FUNCTION_CALL;
  return v1::FINISH_REASON_UNSPECIFIED;
}

// The request a fixture was recorded with, as far as its text messages go.
v1::CreateChatCompletionRequest RequestFor(const Fixture& fixture) {
  std::string model = JsonString(fixture.request, "model");
  return UserRequest(model.empty() ? "gpt-4o-mini" : model, "Hello");
}

// What a client should see for a stream fixture: one chunk per event before [DONE] or an
// error event.
struct ExpectedStream {
  std::vector<json> chunks;
  bool error_event = false;
};

ExpectedStream ExpectedStreamOf(const Fixture& fixture) {
  ExpectedStream expected;
  for (const std::string& payload : SseDataPayloads(fixture.sse_chunks)) {
    if (payload == "[DONE]") break;
    json chunk = json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (chunk.is_object() && chunk.contains("error")) {
      expected.error_event = true;
      break;
    }
    expected.chunks.push_back(std::move(chunk));
  }
  return expected;
}

struct StreamResult {
  std::vector<v1::ChatCompletionChunk> chunks;
  grpc::Status status;
};

StreamResult ReadWholeStream(v1::ChatService::Stub& stub, grpc::ClientContext& context,
                             const v1::CreateChatCompletionRequest& request) {
  StreamResult result;
  std::unique_ptr<grpc::ClientReader<v1::ChatCompletionChunk>> reader =
      stub.StreamChatCompletion(&context, request);
  v1::ChatCompletionChunk chunk;
  while (reader->Read(&chunk)) result.chunks.push_back(chunk);
  result.status = reader->Finish();
  return result;
}

json FinishChunk(absl::string_view reason = "stop", absl::string_view id = "chatcmpl-test") {
  return json{{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", 1700000000},
              {"model", "gpt-test"},
              {"choices", json::array({json{{"index", 0},
                                            {"delta", json::object()},
                                            {"finish_reason", reason}}})}};
}

// ---------------------------------------------------------------------------------------
// One gengate process per fixture class, one upstream shared by its tests.

class GengateTestBase : public GatewayTestBase {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(GatewayTestBase::SetUp());
    stub_ = v1::ChatService::NewStub(gengate_->channel());
  }

  std::unique_ptr<v1::ChatService::Stub> stub_;
};

// The main configuration: key from a file, enough upstream connections for 200 streams.
class ChatIntegrationTest : public GengateTestBase {
 protected:
  static void SetUpTestSuite() {
    StartGengate({absl::StrCat("--upstream_api_key_file=", WriteKeyFile()),
                  "--max_upstream_connections=256", "--stream_idle_timeout=30s",
                  "--default_timeout=60s"},
                 {});
  }
};

// A small per-stream buffer, so that a reader that stops reading overflows it quickly. (The
// other suites keep the default: a 100 kB event must not count as a slow reader.)
class ChatSlowReaderTest : public GengateTestBase {
 protected:
  static void SetUpTestSuite() {
    StartGengate({absl::StrCat("--upstream_api_key_file=", WriteKeyFile()),
                  "--stream_buffer_bytes=65536"},
                 {});
  }
};

// ---------------------------------------------------------------------------------------
// Unary.

TEST_F(ChatIntegrationTest, UnaryChatSendsTheRequestUpstreamAndReturnsTheFixtureAnswer) {
  Fixture fixture = MustLoad("chat-unary-basic-gpt5-nano-ruby-llm");
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(fixture));
  v1::CreateChatCompletionRequest request = UserRequest("gpt-5-nano", "What's 2 + 2?");
  request.set_temperature(0);  // set to zero on purpose: present, unlike the unset fields
  request.set_max_completion_tokens(64);
  (*request.mutable_extra_body()->mutable_fields())["custom_flag"].set_bool_value(true);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::ChatCompletion completion;

  grpc::Status status = stub_->CreateChatCompletion(&context, request, &completion);

  ASSERT_TRUE(status.ok()) << Describe(status);
  // What the upstream received.
  std::vector<RecordedRequest> received = upstream_->requests();
  std::optional<json> sent = OnlyJsonPost(received, kChatPath);
  ASSERT_TRUE(sent.has_value());
  EXPECT_FALSE(received[0].Header("x-request-id").empty());
  const json& body = *sent;
  EXPECT_EQ(body["model"], "gpt-5-nano");
  EXPECT_EQ(body["messages"], json::parse(R"([{"role":"user","content":"What's 2 + 2?"}])"));
  ASSERT_TRUE(body.contains("temperature"));
  EXPECT_EQ(body["temperature"], 0);
  EXPECT_EQ(body["max_completion_tokens"], 64);
  EXPECT_EQ(body["custom_flag"], true);
  EXPECT_NE(body.value("stream", false), true);
  for (const char* unset :
       {"top_p", "max_tokens", "n", "stop", "seed", "presence_penalty", "frequency_penalty",
        "logprobs", "top_logprobs", "user", "reasoning_effort", "tools", "tool_choice",
        "parallel_tool_calls", "response_format", "logit_bias", "modalities", "audio",
        "prediction", "web_search_options", "service_tier", "store", "metadata",
        "stream_options", "extra_body"}) {
    EXPECT_FALSE(body.contains(unset)) << "unset field sent upstream: " << unset << " in "
                                       << received[0].body;
  }
  // What the caller got.
  EXPECT_EQ(completion.id(), "chatcmpl-DoZHjjB4VYY8sNCRd9XvomLmenRjK");
  EXPECT_EQ(completion.created(), 1780944407);
  EXPECT_EQ(completion.model(), "gpt-5-nano-2025-08-07");
  ASSERT_EQ(completion.choices_size(), 1);
  const v1::ChatCompletionChoice& choice = completion.choices(0);
  EXPECT_EQ(choice.index(), 0);
  EXPECT_EQ(choice.message().role(), v1::ROLE_ASSISTANT);
  ASSERT_TRUE(choice.message().has_content());
  EXPECT_EQ(choice.message().content(), "4");
  EXPECT_FALSE(choice.message().has_refusal());
  EXPECT_EQ(choice.message().tool_calls_size(), 0);
  EXPECT_EQ(choice.finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(choice.raw_finish_reason(), "stop");
  EXPECT_EQ(completion.usage().prompt_tokens(), 13);
  EXPECT_EQ(completion.usage().completion_tokens(), 138);
  EXPECT_EQ(completion.usage().total_tokens(), 151);
  EXPECT_EQ(completion.usage().prompt_tokens_details().cached_tokens(), 0);
  EXPECT_EQ(completion.usage().completion_tokens_details().reasoning_tokens(), 128);
  EXPECT_FALSE(completion.has_system_fingerprint());  // JSON null
  EXPECT_EQ(completion.service_tier(), "default");
}

// Every chat-unary fixture comes back field for field.
class ChatUnaryFixtureTest : public ChatIntegrationTest,
                             public ::testing::WithParamInterface<std::string> {};

TEST_P(ChatUnaryFixtureTest, ReturnsEveryFieldOfTheUpstreamAnswer) {
  Fixture fixture = MustLoad(GetParam());
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(fixture));
  const json body = json::parse(fixture.body);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::ChatCompletion completion;

  grpc::Status status = stub_->CreateChatCompletion(&context, RequestFor(fixture), &completion);

  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(completion.id(), JsonString(body, "id"));
  EXPECT_EQ(completion.created(), JsonInt(body, "created"));
  EXPECT_EQ(completion.model(), JsonString(body, "model"));
  EXPECT_EQ(completion.has_system_fingerprint(), JsonObject(body, "system_fingerprint").is_string());
  EXPECT_EQ(completion.system_fingerprint(), JsonString(body, "system_fingerprint"));
  EXPECT_EQ(completion.service_tier(), JsonString(body, "service_tier"));
  ASSERT_EQ(completion.choices_size(), static_cast<int>(body["choices"].size()));
  for (int i = 0; i < completion.choices_size(); ++i) {
    SCOPED_TRACE(absl::StrCat("choice ", i));
    const json& want = body["choices"][i];
    const json& want_message = want["message"];
    const v1::ChatCompletionChoice& got = completion.choices(i);
    EXPECT_EQ(got.index(), JsonInt(want, "index"));
    EXPECT_EQ(got.raw_finish_reason(), JsonString(want, "finish_reason"));
    EXPECT_EQ(got.finish_reason(), FinishReasonOf(JsonString(want, "finish_reason")));
    EXPECT_EQ(got.message().role(), v1::ROLE_ASSISTANT);
    EXPECT_EQ(got.message().has_content(), JsonObject(want_message, "content").is_string());
    EXPECT_EQ(got.message().content(), JsonString(want_message, "content"));
    EXPECT_EQ(got.message().has_refusal(), JsonObject(want_message, "refusal").is_string());
    EXPECT_EQ(got.message().refusal(), JsonString(want_message, "refusal"));
    const json& want_calls = JsonObject(want_message, "tool_calls");
    ASSERT_EQ(got.message().tool_calls_size(), want_calls.is_array() ? static_cast<int>(want_calls.size()) : 0);
    for (int c = 0; c < got.message().tool_calls_size(); ++c) {
      const v1::ToolCall& call = got.message().tool_calls(c);
      EXPECT_EQ(call.id(), JsonString(want_calls[c], "id"));
      EXPECT_EQ(call.function().name(), JsonString(want_calls[c]["function"], "name"));
      EXPECT_EQ(call.function().arguments(), JsonString(want_calls[c]["function"], "arguments"));
    }
    const json& want_logprobs = JsonObject(want, "logprobs");
    if (want_logprobs.is_object() && want_logprobs["content"].is_array()) {
      ASSERT_EQ(got.logprobs().content_size(), static_cast<int>(want_logprobs["content"].size()));
      for (int t = 0; t < got.logprobs().content_size(); ++t) {
        const json& want_token = want_logprobs["content"][t];
        EXPECT_EQ(got.logprobs().content(t).token(), JsonString(want_token, "token"));
        EXPECT_DOUBLE_EQ(got.logprobs().content(t).logprob(), want_token["logprob"].get<double>());
        EXPECT_EQ(got.logprobs().content(t).top_logprobs_size(),
                  static_cast<int>(want_token["top_logprobs"].size()));
      }
    }
  }
  const json& usage = JsonObject(body, "usage");
  EXPECT_EQ(completion.usage().prompt_tokens(), JsonInt(usage, "prompt_tokens"));
  EXPECT_EQ(completion.usage().completion_tokens(), JsonInt(usage, "completion_tokens"));
  EXPECT_EQ(completion.usage().total_tokens(), JsonInt(usage, "total_tokens"));
  EXPECT_EQ(completion.usage().prompt_tokens_details().cached_tokens(),
            JsonInt(JsonObject(usage, "prompt_tokens_details"), "cached_tokens"));
  EXPECT_EQ(completion.usage().completion_tokens_details().reasoning_tokens(),
            JsonInt(JsonObject(usage, "completion_tokens_details"), "reasoning_tokens"));
}

INSTANTIATE_TEST_SUITE_P(
    AllChatUnaryFixtures, ChatUnaryFixtureTest,
    ::testing::Values("chat-unary-basic-gpt5-nano-ruby-llm", "chat-unary-cached-tokens-pydantic",
                      "chat-unary-gpt4o-image-markdown-ace", "chat-unary-json-schema-ruby-llm",
                      "chat-unary-logprobs-openapi-example",
                      "chat-unary-n3-multi-choice-openai-python",
                      "chat-unary-parallel-tool-calls-ruby-llm",
                      "chat-unary-refusal-openai-python", "chat-unary-text-fingerprint-vercel",
                      "chat-unary-vision-data-url-ruby-llm"),
    [](const ::testing::TestParamInfo<std::string>& info) {
      return absl::StrReplaceAll(info.param, {{"-", "_"}});
    });

// ---------------------------------------------------------------------------------------
// Streams.

TEST_F(ChatIntegrationTest, StreamWithUsageSendsOneMessagePerEventAndUsageLast) {
  Fixture fixture = MustLoad("chat-stream-include-usage-gpt5-nano-ruby-llm");
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(fixture));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  StreamResult result =
      ReadWholeStream(*stub_, context, UserRequest("gpt-5-nano", "Count from 1 to 3"));

  ASSERT_TRUE(result.status.ok()) << Describe(result.status);
  // Nine data events, the last of them [DONE].
  ASSERT_EQ(result.chunks.size(), 8u);
  std::string content;
  for (const v1::ChatCompletionChunk& chunk : result.chunks) {
    EXPECT_EQ(chunk.id(), "chatcmpl-DoZGwo7RT9RGQpIKxv7lOQs0f0GnJ");
    for (const auto& choice : chunk.choices()) content += choice.delta().content();
  }
  EXPECT_EQ(content, "1\n2\n3");
  EXPECT_EQ(result.chunks[0].choices(0).delta().role(), v1::ROLE_ASSISTANT);
  EXPECT_EQ(result.chunks[6].choices(0).finish_reason(), v1::FINISH_REASON_STOP);
  const v1::ChatCompletionChunk& last = result.chunks.back();
  EXPECT_EQ(last.choices_size(), 0);
  ASSERT_TRUE(last.has_usage());
  EXPECT_EQ(last.usage().prompt_tokens(), 13);
  EXPECT_EQ(last.usage().completion_tokens(), 142);
  EXPECT_EQ(last.usage().total_tokens(), 155);
  EXPECT_EQ(last.usage().completion_tokens_details().reasoning_tokens(), 128);
  for (size_t i = 0; i + 1 < result.chunks.size(); ++i) {
    EXPECT_FALSE(result.chunks[i].has_usage()) << "usage on chunk " << i;
  }
  // The upstream was asked for a stream with usage.
  std::vector<RecordedRequest> received = upstream_->requests();
  ASSERT_EQ(received.size(), 1u);
  json body = json::parse(received[0].body, nullptr, /*allow_exceptions=*/false);
  EXPECT_EQ(body.value("stream", false), true) << received[0].body;
  EXPECT_EQ(JsonObject(body, "stream_options"), json::parse(R"({"include_usage":true})"));
  EXPECT_EQ(received[0].Header("authorization"), absl::StrCat("Bearer ", kApiKey));
}

TEST_F(ChatIntegrationTest, ToolCallStreamConcatenatesArgumentsPerIndex) {
  Fixture fixture = MustLoad("chat-stream-tool-call-args-ruby-llm");
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(fixture));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  StreamResult result = ReadWholeStream(*stub_, context, RequestFor(fixture));

  ASSERT_TRUE(result.status.ok()) << Describe(result.status);
  EXPECT_EQ(result.chunks.size(), 18u);
  std::map<int, std::string> arguments;
  std::map<int, std::string> ids;
  std::map<int, std::string> names;
  for (const v1::ChatCompletionChunk& chunk : result.chunks) {
    for (const auto& choice : chunk.choices()) {
      for (const v1::ToolCallDelta& call : choice.delta().tool_calls()) {
        arguments[call.index()] += call.function().arguments();
        ids[call.index()] += call.id();
        names[call.index()] += call.function().name();
      }
    }
  }
  ASSERT_EQ(arguments.size(), 1u);
  EXPECT_EQ(arguments[0], R"({"latitude":"52.5200","longitude":"13.4050"})");
  EXPECT_EQ(ids[0], "call_N2fJZh6fGguUrjbTlDD9mkbh");
  EXPECT_EQ(names[0], "weather");
  EXPECT_EQ(result.chunks[16].choices(0).finish_reason(), v1::FINISH_REASON_TOOL_CALLS);
  EXPECT_TRUE(result.chunks.back().has_usage());
  EXPECT_EQ(result.chunks.back().usage().total_tokens(), 265);
}

struct StreamFixtureCase {
  std::string fixture;
  grpc::StatusCode code;
  std::string message_substring;  // checked when not empty
};

void PrintTo(const StreamFixtureCase& param, std::ostream* os) { *os << param.fixture; }

// Every chat stream fixture, replayed write for write (events split anywhere, CRLF, comments,
// multi-line data, split UTF-8), against what the SSE rules say the events are.
class ChatStreamFixtureTest : public ChatIntegrationTest,
                              public ::testing::WithParamInterface<StreamFixtureCase> {};

TEST_P(ChatStreamFixtureTest, SendsOneMessagePerEventInOrder) {
  Fixture fixture = MustLoad(GetParam().fixture);
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(fixture));
  ExpectedStream expected = ExpectedStreamOf(fixture);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  StreamResult result = ReadWholeStream(*stub_, context, RequestFor(fixture));

  EXPECT_EQ(result.status.error_code(), GetParam().code) << Describe(result.status);
  if (!GetParam().message_substring.empty()) {
    EXPECT_THAT(result.status.error_message(), HasSubstr(GetParam().message_substring));
  }
  ASSERT_EQ(result.chunks.size(), expected.chunks.size());
  std::map<int, std::string> want_content, got_content, want_refusal, got_refusal,
      want_reasoning, got_reasoning;
  std::map<std::pair<int, int>, std::string> want_arguments, got_arguments;
  for (size_t i = 0; i < result.chunks.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("chunk ", i));
    const json& want = expected.chunks[i];
    const v1::ChatCompletionChunk& got = result.chunks[i];
    EXPECT_EQ(got.id(), JsonString(want, "id"));
    EXPECT_EQ(got.model(), JsonString(want, "model"));
    EXPECT_EQ(got.created(), JsonInt(want, "created"));
    const json& want_choices = JsonObject(want, "choices");
    ASSERT_EQ(got.choices_size(), want_choices.is_array() ? static_cast<int>(want_choices.size()) : 0);
    for (int c = 0; c < got.choices_size(); ++c) {
      const json& want_choice = want_choices[c];
      const json& delta = JsonObject(want_choice, "delta");
      const auto& got_choice = got.choices(c);
      const int index = static_cast<int>(JsonInt(want_choice, "index"));
      EXPECT_EQ(got_choice.index(), index);
      EXPECT_EQ(got_choice.raw_finish_reason(), JsonString(want_choice, "finish_reason"));
      EXPECT_EQ(got_choice.finish_reason(), FinishReasonOf(JsonString(want_choice, "finish_reason")));
      EXPECT_EQ(got_choice.delta().content(), JsonString(delta, "content"));
      want_content[index] += JsonString(delta, "content");
      got_content[index] += got_choice.delta().content();
      want_refusal[index] += JsonString(delta, "refusal");
      got_refusal[index] += got_choice.delta().refusal();
      want_reasoning[index] += JsonString(delta, "reasoning_content");
      got_reasoning[index] += got_choice.delta().reasoning_content();
      const json& calls = JsonObject(delta, "tool_calls");
      if (calls.is_array()) {
        for (const json& call : calls) {
          want_arguments[{index, static_cast<int>(JsonInt(call, "index"))}] +=
              JsonString(JsonObject(call, "function"), "arguments");
        }
      }
      for (const v1::ToolCallDelta& call : got_choice.delta().tool_calls()) {
        got_arguments[{index, call.index()}] += call.function().arguments();
      }
    }
    const json& usage = JsonObject(want, "usage");
    EXPECT_EQ(got.has_usage(), usage.is_object());
    if (usage.is_object()) {
      EXPECT_EQ(got.usage().prompt_tokens(), JsonInt(usage, "prompt_tokens"));
      EXPECT_EQ(got.usage().completion_tokens(), JsonInt(usage, "completion_tokens"));
      EXPECT_EQ(got.usage().total_tokens(), JsonInt(usage, "total_tokens"));
    }
  }
  EXPECT_EQ(got_content, want_content);
  EXPECT_EQ(got_refusal, want_refusal);
  EXPECT_EQ(got_reasoning, want_reasoning);
  EXPECT_EQ(got_arguments, want_arguments);
}

INSTANTIATE_TEST_SUITE_P(
    AllChatStreamFixtures, ChatStreamFixtureTest,
    ::testing::Values(
        StreamFixtureCase{"chat-stream-content-filter-azure-style", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"chat-stream-error-after-output-vercel", grpc::StatusCode::INTERNAL,
                          "stream failed after output"},
        StreamFixtureCase{"chat-stream-finish-length-openai-python", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"chat-stream-include-usage-gpt5-nano-ruby-llm", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"chat-stream-logprobs-openai-python", grpc::StatusCode::OK, ""},
        // Ends after the usage chunk, which follows a finish_reason: a clean end.
        StreamFixtureCase{"chat-stream-no-done-openai-python-derived", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"chat-stream-parallel-tool-calls-openai-python", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"chat-stream-reasoning-content-deepseek-vercel", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"chat-stream-recipient-all-ace", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"chat-stream-refusal-openai-python", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"chat-stream-text-obfuscation-vercel", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"chat-stream-tool-call-args-ruby-llm", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"sse-comment-keepalive-lines", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"sse-crlf-line-endings", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"sse-crlf-split-between-cr-and-lf", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"sse-data-no-space", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"sse-many-tiny-events-2000", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"sse-multiline-data-joined", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"sse-multiple-events-per-write", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"sse-retry-and-id-fields", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"sse-split-mid-data-field-name", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"sse-split-mid-json", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"sse-utf8-multibyte-split", grpc::StatusCode::OK, ""},
        StreamFixtureCase{"sse-very-long-event-100kb", grpc::StatusCode::OK, ""}),
    [](const ::testing::TestParamInfo<StreamFixtureCase>& info) {
      return absl::StrReplaceAll(info.param.fixture, {{"-", "_"}});
    });

// The stream breaks before any finish_reason: the answer is incomplete.
struct BrokenStreamCase {
  std::string name;
  bool reset;  // RST instead of a clean close
};

void PrintTo(const BrokenStreamCase& param, std::ostream* os) { *os << param.name; }

class ChatBrokenStreamTest : public ChatIntegrationTest,
                             public ::testing::WithParamInterface<BrokenStreamCase> {};

TEST_P(ChatBrokenStreamTest, EndsUnavailableAfterTheChunksAlreadySent) {
  const bool reset = GetParam().reset;
  upstream_->Handle(kChatPath, [reset](const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, SseHeaders());
    responder.Write(SseEvent(ContentChunk("partial ")));
    responder.Write(SseEvent(ContentChunk("answer")));
    if (reset) responder.Reset();
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  StreamResult result = ReadWholeStream(*stub_, context, UserRequest("gpt-test", "Hi"));

  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(result.status);
  ASSERT_EQ(result.chunks.size(), 2u);
  EXPECT_EQ(result.chunks[0].choices(0).delta().content(), "partial ");
  EXPECT_EQ(result.chunks[1].choices(0).delta().content(), "answer");
  ExpectNoKeyInStatus(result.status);
}

INSTANTIATE_TEST_SUITE_P(EofAndReset, ChatBrokenStreamTest,
                         ::testing::Values(BrokenStreamCase{"EofBeforeFinish", false},
                                           BrokenStreamCase{"ResetBeforeFinish", true}),
                         [](const ::testing::TestParamInfo<BrokenStreamCase>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------------------
// Upstream errors.

enum class Rpc { kUnary, kStream };

void PrintTo(Rpc rpc, std::ostream* os) { *os << (rpc == Rpc::kUnary ? "unary" : "stream"); }

struct ErrorCase {
  std::string fixture;
  grpc::StatusCode code;
  std::string reason;  // ErrorInfo.reason; checked when not empty
  Rpc rpc;
};

void PrintTo(const ErrorCase& param, std::ostream* os) {
  *os << param.fixture << (param.rpc == Rpc::kUnary ? " (unary)" : " (stream)");
}

std::string ErrorCaseName(const ::testing::TestParamInfo<ErrorCase>& info) {
  return absl::StrCat(absl::StrReplaceAll(info.param.fixture, {{"-", "_"}}),
                      info.param.rpc == Rpc::kUnary ? "_Unary" : "_Stream");
}

class ChatUpstreamErrorTest : public ChatIntegrationTest,
                              public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(ChatUpstreamErrorTest, MapsToTheDocumentedStatusWithErrorInfo) {
  const ErrorCase& param = GetParam();
  Fixture fixture = MustLoad(param.fixture);
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(fixture));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  grpc::Status status;
  if (param.rpc == Rpc::kUnary) {
    v1::ChatCompletion completion;
    status = stub_->CreateChatCompletion(&context, RequestFor(fixture), &completion);
  } else {
    StreamResult result = ReadWholeStream(*stub_, context, RequestFor(fixture));
    EXPECT_TRUE(result.chunks.empty());
    status = result.status;
  }

  EXPECT_EQ(status.error_code(), param.code) << Describe(status);
  const json body = json::parse(fixture.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object()) {
    EXPECT_EQ(status.error_message(), JsonString(JsonObject(body, "error"), "message"));
  } else {
    // An HTML page is never passed on as the message.
    EXPECT_THAT(absl::AsciiStrToLower(status.error_message()), Not(HasSubstr("<html")));
    EXPECT_THAT(absl::AsciiStrToLower(status.error_message()), Not(HasSubstr("<!doctype")));
    EXPECT_LE(status.error_message().size(), 512u);
  }
  std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status);
  ASSERT_TRUE(info.has_value()) << "no google.rpc.ErrorInfo in the details";
  if (!param.reason.empty()) {
    EXPECT_EQ(info->reason(), param.reason);
  }
  EXPECT_EQ(info->domain(), "127.0.0.1");
  EXPECT_EQ(info->metadata().count("http_status") ? info->metadata().at("http_status") : "",
            std::to_string(fixture.status))
      << info->DebugString();
  const std::string trace_id = JsonString(body, "trace_id");
  if (!trace_id.empty()) {
    // Ace puts its request id in the body.
    EXPECT_EQ(info->metadata().count("upstream_request_id")
                  ? info->metadata().at("upstream_request_id")
                  : "",
              trace_id);
    EXPECT_EQ(MetadataValue(context.GetServerTrailingMetadata(), "x-upstream-request-id"),
              trace_id);
  }
  ExpectNoKeyInStatus(status);
  for (const std::string& line : gengate_->OutputLines()) {
    EXPECT_THAT(line, Not(HasSubstr(kApiKey)));
  }
}

std::vector<ErrorCase> ErrorCases() {
  struct Row {
    const char* fixture;
    grpc::StatusCode code;
    const char* reason;
  };
  const Row rows[] = {
      {"error-200-non-json-body", grpc::StatusCode::INTERNAL, ""},
      {"error-502-html-proxy-page", grpc::StatusCode::UNAVAILABLE, ""},
      {"error-ace-400-token-mismatched", grpc::StatusCode::INVALID_ARGUMENT, "token_mismatched"},
      {"error-ace-401-invalid-token", grpc::StatusCode::UNAUTHENTICATED, "invalid_token"},
      {"error-ace-403-used-up", grpc::StatusCode::PERMISSION_DENIED, "used_up"},
      {"error-ace-429-too-many-requests", grpc::StatusCode::RESOURCE_EXHAUSTED, "too_many_requests"},
      {"error-ace-500-api-error", grpc::StatusCode::INTERNAL, "api_error"},
      {"error-ace-504-timeout", grpc::StatusCode::DEADLINE_EXCEEDED, "timeout"},
      {"error-openai-400-unsupported-parameter-vercel", grpc::StatusCode::INVALID_ARGUMENT,
       "unsupported_parameter"},
      {"error-openai-401-invalid-api-key-ruby-llm", grpc::StatusCode::UNAUTHENTICATED,
       "invalid_api_key"},
      {"error-openai-404-model-not-found", grpc::StatusCode::NOT_FOUND, "model_not_found"},
      {"error-openai-429-rate-limit-tokens-ruby-llm", grpc::StatusCode::RESOURCE_EXHAUSTED,
       "rate_limit_exceeded"},
      {"error-openai-500-server-error", grpc::StatusCode::INTERNAL, ""},
  };
  std::vector<ErrorCase> cases;
  for (const Row& row : rows) {
    cases.push_back({row.fixture, row.code, row.reason, Rpc::kUnary});
    // A 200 page on a stream is a different failure (no events); the others fail the same way.
    if (absl::string_view(row.fixture) != "error-200-non-json-body") {
      cases.push_back({row.fixture, row.code, row.reason, Rpc::kStream});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllErrorFixtures, ChatUpstreamErrorTest,
                         ::testing::ValuesIn(ErrorCases()), ErrorCaseName);

// HTTP statuses the fixtures do not cover, with an OpenAI envelope and optional retry headers.
struct StatusMappingCase {
  std::string name;
  int http_status;
  HeaderList headers;
  grpc::StatusCode code;
  std::optional<absl::Duration> retry_delay;  // the RetryInfo expected; nullopt: none
};

void PrintTo(const StatusMappingCase& param, std::ostream* os) { *os << param.name; }

class ChatStatusMappingTest : public ChatIntegrationTest,
                              public ::testing::WithParamInterface<StatusMappingCase> {};

TEST_P(ChatStatusMappingTest, MapsHttpStatusAndRetryDelay) {
  const StatusMappingCase& param = GetParam();
  const std::string code = absl::StrCat("code_", param.http_status);
  const std::string message = absl::StrCat("upstream says ", param.http_status);
  upstream_->Handle(kChatPath, [&param, code, message](const RecordedRequest&,
                                                       Responder& responder) {
    HeaderList headers = param.headers;
    headers.emplace_back("Content-Type", "application/json");
    responder.Reply(param.http_status, headers,
                    json{{"error", {{"message", message}, {"type", "x"}, {"code", code}}}}.dump());
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::ChatCompletion completion;

  grpc::Status status =
      stub_->CreateChatCompletion(&context, UserRequest("gpt-test", "Hi"), &completion);

  EXPECT_EQ(status.error_code(), param.code) << Describe(status);
  EXPECT_EQ(status.error_message(), message);
  std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason(), code);
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(status.error_details()));
  std::optional<absl::Duration> retry_delay;
  for (const google::protobuf::Any& any : details.details()) {
    google::rpc::RetryInfo retry;
    if (any.Is<google::rpc::RetryInfo>() && any.UnpackTo(&retry)) {
      retry_delay = absl::Seconds(retry.retry_delay().seconds()) +
                    absl::Nanoseconds(retry.retry_delay().nanos());
    }
  }
  EXPECT_EQ(retry_delay, param.retry_delay);
}

INSTANTIATE_TEST_SUITE_P(
    SyntheticStatuses, ChatStatusMappingTest,
    ::testing::Values(
        StatusMappingCase{"Conflict409", 409, {}, grpc::StatusCode::ABORTED, std::nullopt},
        StatusMappingCase{"PayloadTooLarge413", 413, {}, grpc::StatusCode::INVALID_ARGUMENT,
                          std::nullopt},
        StatusMappingCase{"Unprocessable422", 422, {}, grpc::StatusCode::INVALID_ARGUMENT,
                          std::nullopt},
        StatusMappingCase{"Unavailable503", 503, {}, grpc::StatusCode::UNAVAILABLE, std::nullopt},
        StatusMappingCase{"GatewayTimeout504", 504, {}, grpc::StatusCode::DEADLINE_EXCEEDED,
                          std::nullopt},
        StatusMappingCase{"RateLimitedRetryAfterMs", 429, {{"retry-after-ms", "1500"}},
                          grpc::StatusCode::RESOURCE_EXHAUSTED, absl::Milliseconds(1500)},
        StatusMappingCase{"RateLimitedRetryAfterSeconds", 429, {{"Retry-After", "7"}},
                          grpc::StatusCode::RESOURCE_EXHAUSTED, absl::Seconds(7)},
        StatusMappingCase{"UnavailableRetryAfterSeconds", 503, {{"Retry-After", "3"}},
                          grpc::StatusCode::UNAVAILABLE, absl::Seconds(3)},
        // A delay on other statuses is not a promise that a retry helps.
        StatusMappingCase{"BadRequestIgnoresRetryAfter", 400, {{"Retry-After", "3"}},
                          grpc::StatusCode::INVALID_ARGUMENT, std::nullopt}),
    [](const ::testing::TestParamInfo<StatusMappingCase>& info) { return info.param.name; });

// Long upstream messages and non-JSON bodies are cut to 512 bytes.
struct LongBodyCase {
  std::string name;
  std::string content_type;
  std::string body;
};

void PrintTo(const LongBodyCase& param, std::ostream* os) { *os << param.name; }

class ChatLongErrorBodyTest : public ChatIntegrationTest,
                              public ::testing::WithParamInterface<LongBodyCase> {};

TEST_P(ChatLongErrorBodyTest, CutsTheMessageTo512Bytes) {
  const LongBodyCase& param = GetParam();
  upstream_->Handle(kChatPath, [&param](const RecordedRequest&, Responder& responder) {
    responder.Reply(500, {{"Content-Type", param.content_type}}, param.body);
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::ChatCompletion completion;

  grpc::Status status =
      stub_->CreateChatCompletion(&context, UserRequest("gpt-test", "Hi"), &completion);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << Describe(status);
  EXPECT_FALSE(status.error_message().empty());
  EXPECT_LE(status.error_message().size(), 512u);
  EXPECT_THAT(absl::AsciiStrToLower(status.error_message()), Not(HasSubstr("<html")));
}

INSTANTIATE_TEST_SUITE_P(
    LongBodies, ChatLongErrorBodyTest,
    ::testing::Values(
        LongBodyCase{"JsonMessage", "application/json",
                     json{{"error", {{"message", std::string(5000, 'm')}, {"code", "x"}}}}.dump()},
        LongBodyCase{"PlainText", "text/plain", std::string(5000, 't')},
        LongBodyCase{"HtmlPage", "text/html",
                     absl::StrCat("<html><body>", std::string(5000, 'h'), "</body></html>")}),
    [](const ::testing::TestParamInfo<LongBodyCase>& info) { return info.param.name; });

TEST_F(ChatIntegrationTest, UpstreamMessageQuotingTheKeyIsRedacted) {
  upstream_->Handle(kChatPath, [](const RecordedRequest&, Responder& responder) {
    responder.Reply(401, {{"Content-Type", "application/json"}},
                    json{{"error",
                          {{"message", absl::StrCat("Incorrect API key provided: ", kApiKey, ".")},
                           {"type", "invalid_request_error"},
                           {"code", "invalid_api_key"}}}}
                        .dump());
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::ChatCompletion completion;

  grpc::Status status =
      stub_->CreateChatCompletion(&context, UserRequest("gpt-test", "Hi"), &completion);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << Describe(status);
  EXPECT_THAT(status.error_message(), HasSubstr("Incorrect API key provided"));
  ExpectNoKeyInStatus(status);
}

// ---------------------------------------------------------------------------------------
// Deadlines, cancellation and slow readers.

class ChatDeadlineTest : public ChatIntegrationTest, public ::testing::WithParamInterface<Rpc> {};

TEST_P(ChatDeadlineTest, UpstreamThatNeverAnswersEndsAtTheCallersDeadline) {
  auto probe = std::make_shared<CloseProbe>();
  upstream_->Handle(kChatPath, [probe](const RecordedRequest&, Responder& responder) {
    probe->Record(responder, absl::Seconds(30));
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Milliseconds(300));
  const std::string request_id =
      GetParam() == Rpc::kUnary ? "deadline-never-answers-unary" : "deadline-never-answers-stream";
  context.AddMetadata("x-request-id", request_id);
  grpc::Status status;
  if (GetParam() == Rpc::kUnary) {
    v1::ChatCompletion completion;
    status = stub_->CreateChatCompletion(&context, UserRequest("gpt-test", "Hi"), &completion);
  } else {
    status = ReadWholeStream(*stub_, context, UserRequest("gpt-test", "Hi")).status;
  }

  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << Describe(status);
  ASSERT_TRUE(upstream_->WaitForRequests(1, absl::Seconds(10)));
  // Generous: the requirement is "at once"; this only proves the gateway let go at all.
  ASSERT_TRUE(probe->done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(probe->closed) << "the gateway kept the upstream request open past the deadline";
  // gRPC cancels the call on its deadline; the log and the metrics still say why.
  std::optional<json> line = CallLogLine(request_id);
  ASSERT_TRUE(line.has_value()) << "no call log line for " << request_id;
  EXPECT_EQ(JsonString(*line, "code"), "DEADLINE_EXCEEDED") << line->dump();
}

INSTANTIATE_TEST_SUITE_P(UnaryAndStream, ChatDeadlineTest,
                         ::testing::Values(Rpc::kUnary, Rpc::kStream),
                         [](const ::testing::TestParamInfo<Rpc>& info) {
                           return info.param == Rpc::kUnary ? "Unary" : "Stream";
                         });

TEST_F(ChatIntegrationTest, CancelMidStreamClosesTheUpstreamConnection) {
  auto probe = std::make_shared<CloseProbe>();
  upstream_->Handle(kChatPath, [probe](const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, SseHeaders());
    responder.Write(SseEvent(ContentChunk("one ")));
    responder.Write(SseEvent(ContentChunk("two ")));
    responder.Write(SseEvent(ContentChunk("three ")));
    probe->Record(responder, absl::Seconds(30));
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  const std::string request_id = "cancel-mid-stream-1";
  context.AddMetadata("x-request-id", request_id);
  std::unique_ptr<grpc::ClientReader<v1::ChatCompletionChunk>> reader =
      stub_->StreamChatCompletion(&context, UserRequest("gpt-test", "Hi"));
  v1::ChatCompletionChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  EXPECT_EQ(chunk.choices(0).delta().content(), "one ");
  ASSERT_TRUE(reader->Read(&chunk));
  EXPECT_EQ(chunk.choices(0).delta().content(), "two ");

  const absl::Time cancelled_at = absl::Now();
  context.TryCancel();

  // A safety net, not the requirement (100 ms); the measured delay is recorded below.
  ASSERT_TRUE(probe->done.WaitForNotificationWithTimeout(absl::Seconds(2)))
      << "the upstream connection was still open 2 s after the cancel";
  ASSERT_TRUE(probe->closed);
  ASSERT_TRUE(probe->closed_at.has_value());
  const double delay_ms = absl::ToDoubleMilliseconds(*probe->closed_at - cancelled_at);
  RecordProperty("upstream_close_delay_ms", absl::StrCat(delay_ms));
  std::cout << "upstream closed " << delay_ms << " ms after the cancel (requirement: 100 ms)\n";
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  std::optional<json> line = CallLogLine(request_id);
  ASSERT_TRUE(line.has_value()) << "no call log line for " << request_id << "\n"
                                << gengate_->OutputText();
  EXPECT_EQ(JsonString(*line, "code"), "CANCELLED") << line->dump();
  EXPECT_EQ(JsonString(*line, "method"), kStreamMethod);
}

TEST_F(ChatSlowReaderTest, ReaderThatStopsReadingEndsResourceExhaustedAndClosesTheUpstream) {
  constexpr size_t kTotalBytes = 5 << 20;
  constexpr size_t kWriteBytes = 64 << 10;
  auto probe = std::make_shared<CloseProbe>();
  auto events_written = std::make_shared<std::atomic<int>>(0);
  upstream_->Handle(kChatPath, [probe, events_written](const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, SseHeaders());
    const std::string event = SseEvent(ContentChunk(std::string(1000, 'x')));
    std::string batch;
    while (batch.size() + event.size() <= kWriteBytes) batch += event;
    const int events_per_batch = static_cast<int>(batch.size() / event.size());
    bool open = true;
    for (size_t sent = 0; open && sent < kTotalBytes; sent += batch.size()) {
      open = responder.Write(batch);
      if (open) *events_written += events_per_batch;
    }
    if (open) {
      responder.Write(SseEvent(FinishChunk()));
      responder.Write("data: [DONE]\n\n");
    }
    probe->Record(responder, absl::Seconds(60));
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(90));
  std::unique_ptr<grpc::ClientReader<v1::ChatCompletionChunk>> reader =
      stub_->StreamChatCompletion(&context, UserRequest("gpt-test", "Hi"));

  // The client reads nothing until the gateway has given up on the upstream.
  if (!probe->done.WaitForNotificationWithTimeout(absl::Seconds(60))) {
    context.TryCancel();
    FAIL() << "the upstream connection stayed open for 60 s while the reader read nothing ("
           << events_written->load() << " events written upstream)";
  }
  EXPECT_TRUE(probe->closed) << "the upstream connection stayed open";
  int received = 0;
  v1::ChatCompletionChunk chunk;
  while (reader->Read(&chunk)) ++received;
  grpc::Status status = reader->Finish();

  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(status);
  EXPECT_LT(received, static_cast<int>(kTotalBytes / 1000));
  RecordProperty("chunks_received_before_overflow", received);
  RecordProperty("events_written_upstream", events_written->load());
}

// ---------------------------------------------------------------------------------------
// Validation: the upstream is never called.

struct ValidationCase {
  std::string name;
  Rpc rpc;
  std::function<void(v1::CreateChatCompletionRequest&)> break_request;
};

void PrintTo(const ValidationCase& param, std::ostream* os) { *os << param.name; }

class ChatValidationTest : public ChatIntegrationTest,
                           public ::testing::WithParamInterface<ValidationCase> {};

TEST_P(ChatValidationTest, RejectsInvalidRequestsWithoutCallingTheUpstream) {
  v1::CreateChatCompletionRequest request = UserRequest("gpt-test", "Hi");
  GetParam().break_request(request);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  grpc::Status status;
  if (GetParam().rpc == Rpc::kUnary) {
    v1::ChatCompletion completion;
    status = stub_->CreateChatCompletion(&context, request, &completion);
  } else {
    StreamResult result = ReadWholeStream(*stub_, context, request);
    EXPECT_TRUE(result.chunks.empty());
    status = result.status;
  }

  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << Describe(status);
  EXPECT_FALSE(status.error_message().empty());
  EXPECT_TRUE(upstream_->requests().empty()) << "the upstream was called";
}

std::vector<ValidationCase> ValidationCases() {
  std::vector<std::pair<std::string, std::function<void(v1::CreateChatCompletionRequest&)>>>
      breakers = {
          {"EmptyModel", [](v1::CreateChatCompletionRequest& r) { r.clear_model(); }},
          {"NoMessages", [](v1::CreateChatCompletionRequest& r) { r.clear_messages(); }},
          {"UnspecifiedRole",
           [](v1::CreateChatCompletionRequest& r) {
             r.mutable_messages(0)->set_role(v1::ROLE_UNSPECIFIED);
           }},
      };
  std::vector<ValidationCase> cases;
  for (const auto& [name, breaker] : breakers) {
    cases.push_back({name + "Unary", Rpc::kUnary, breaker});
    cases.push_back({name + "Stream", Rpc::kStream, breaker});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(BadRequests, ChatValidationTest, ::testing::ValuesIn(ValidationCases()),
                         [](const ::testing::TestParamInfo<ValidationCase>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------------------
// Metadata: request ids and trace context.

struct MetadataCase {
  std::string name;
  Rpc rpc;
  bool caller_sets_ids;
};

void PrintTo(const MetadataCase& param, std::ostream* os) { *os << param.name; }

class ChatMetadataTest : public ChatIntegrationTest,
                         public ::testing::WithParamInterface<MetadataCase> {};

TEST_P(ChatMetadataTest, PassesRequestIdsAndTraceContext) {
  const MetadataCase& param = GetParam();
  Fixture fixture = MustLoad(param.rpc == Rpc::kUnary ? "chat-unary-basic-gpt5-nano-ruby-llm"
                                                      : "chat-stream-include-usage-gpt5-nano-ruby-llm");
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(
                                   fixture, {{"x-request-id", kUpstreamRequestId}}));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  const std::string request_id = absl::StrCat("caller-id-", param.name);
  if (param.caller_sets_ids) {
    context.AddMetadata("x-request-id", request_id);
    context.AddMetadata("traceparent", kTraceparent);
  }
  grpc::Status status;
  if (param.rpc == Rpc::kUnary) {
    v1::ChatCompletion completion;
    status = stub_->CreateChatCompletion(&context, RequestFor(fixture), &completion);
  } else {
    status = ReadWholeStream(*stub_, context, RequestFor(fixture)).status;
  }

  ASSERT_TRUE(status.ok()) << Describe(status);
  std::vector<RecordedRequest> received = upstream_->requests();
  ASSERT_EQ(received.size(), 1u);
  std::optional<std::string> echoed =
      MetadataValue(context.GetServerInitialMetadata(), "x-request-id");
  ASSERT_TRUE(echoed.has_value()) << "no x-request-id in the initial metadata";
  if (param.caller_sets_ids) {
    EXPECT_EQ(*echoed, request_id);
    EXPECT_EQ(received[0].Header("traceparent"), kTraceparent);
  } else {
    EXPECT_FALSE(echoed->empty());
    EXPECT_FALSE(received[0].HasHeader("traceparent"));
  }
  EXPECT_EQ(received[0].Header("x-request-id"), *echoed);
  EXPECT_EQ(MetadataValue(context.GetServerTrailingMetadata(), "x-upstream-request-id"),
            kUpstreamRequestId);
}

INSTANTIATE_TEST_SUITE_P(
    UnaryAndStream, ChatMetadataTest,
    ::testing::Values(MetadataCase{"UnaryWithCallerIds", Rpc::kUnary, true},
                      MetadataCase{"UnaryWithoutIds", Rpc::kUnary, false},
                      MetadataCase{"StreamWithCallerIds", Rpc::kStream, true},
                      MetadataCase{"StreamWithoutIds", Rpc::kStream, false}),
    [](const ::testing::TestParamInfo<MetadataCase>& info) { return info.param.name; });

TEST_F(ChatIntegrationTest, GeneratedRequestIdsDifferPerCall) {
  Fixture fixture = MustLoad("chat-unary-basic-gpt5-nano-ruby-llm");
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(fixture));
  std::vector<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    SetDeadline(context, absl::Seconds(30));
    v1::ChatCompletion completion;
    ASSERT_TRUE(stub_->CreateChatCompletion(&context, RequestFor(fixture), &completion).ok());
    ids.push_back(MetadataValue(context.GetServerInitialMetadata(), "x-request-id").value_or(""));
  }

  EXPECT_FALSE(ids[0].empty());
  EXPECT_NE(ids[0], ids[1]);
}

// ---------------------------------------------------------------------------------------
// Logs.

TEST_F(ChatIntegrationTest, LogsOneLinePerCallWithUsage) {
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(
                                   MustLoad("chat-unary-basic-gpt5-nano-ruby-llm")));
  grpc::ClientContext unary_context;
  SetDeadline(unary_context, absl::Seconds(30));
  unary_context.AddMetadata("x-request-id", "log-line-unary");
  v1::ChatCompletion completion;
  ASSERT_TRUE(
      stub_->CreateChatCompletion(&unary_context, UserRequest("gpt-5-nano", "Hi"), &completion).ok());
  upstream_->Handle(kChatPath, gengate::testing::ReplayFixture(
                                   MustLoad("chat-stream-include-usage-gpt5-nano-ruby-llm")));
  grpc::ClientContext stream_context;
  SetDeadline(stream_context, absl::Seconds(30));
  stream_context.AddMetadata("x-request-id", "log-line-stream");
  ASSERT_TRUE(ReadWholeStream(*stub_, stream_context, UserRequest("gpt-5-nano", "Hi")).status.ok());

  std::optional<json> unary = CallLogLine("log-line-unary");
  std::optional<json> stream = CallLogLine("log-line-stream");

  ASSERT_TRUE(unary.has_value()) << gengate_->OutputText();
  EXPECT_EQ(JsonString(*unary, "method"), kUnaryMethod);
  EXPECT_EQ(JsonString(*unary, "code"), "OK");
  EXPECT_THAT(JsonString(*unary, "model"), HasSubstr("gpt-5-nano"));
  EXPECT_EQ(JsonInt(*unary, "prompt_tokens"), 13);
  EXPECT_EQ(JsonInt(*unary, "completion_tokens"), 138);
  EXPECT_EQ(JsonInt(*unary, "upstream_status"), 200);
  EXPECT_TRUE(JsonObject(*unary, "latency_ms").is_number()) << unary->dump();
  ASSERT_TRUE(stream.has_value()) << gengate_->OutputText();
  EXPECT_EQ(JsonString(*stream, "method"), kStreamMethod);
  EXPECT_EQ(JsonString(*stream, "code"), "OK");
  EXPECT_EQ(JsonInt(*stream, "prompt_tokens"), 13);
  EXPECT_EQ(JsonInt(*stream, "completion_tokens"), 142);
  EXPECT_EQ(JsonInt(*stream, "upstream_status"), 200);
}

// ---------------------------------------------------------------------------------------
// Concurrency.

TEST_F(ChatIntegrationTest, TwoHundredConcurrentStreamsEachGetTheirOwnFullStream) {
  constexpr int kStreams = 200;
  std::shared_ptr<gengate::testing::Gate> all_arrived = upstream_->NewGate();
  upstream_->Handle(kChatPath, [all_arrived](const RecordedRequest& request, Responder& responder) {
    const std::string id = request.Header("x-request-id");
    responder.WriteHead(200, SseHeaders());
    responder.Write(SseEvent(ContentChunk("for ", id)));
    // Held until every stream is open at once.
    if (!all_arrived->Wait(absl::Seconds(60))) return;
    responder.Write(SseEvent(ContentChunk(id, id)));
    responder.Write(SseEvent(FinishChunk("stop", id)));
    responder.Write("data: [DONE]\n\n");
  });
  struct Outcome {
    grpc::Status status;
    std::string content;
    size_t chunks = 0;
    bool ids_match = true;
  };
  std::vector<Outcome> outcomes(kStreams);
  std::vector<std::thread> clients;
  for (int i = 0; i < kStreams; ++i) {
    clients.emplace_back([this, i, &outcomes] {
      grpc::ClientContext context;
      SetDeadline(context, absl::Seconds(90));
      const std::string id = absl::StrCat("concurrent-", i);
      context.AddMetadata("x-request-id", id);
      StreamResult result = ReadWholeStream(*stub_, context, UserRequest("gpt-test", "Hi"));
      Outcome& outcome = outcomes[i];
      outcome.status = result.status;
      outcome.chunks = result.chunks.size();
      for (const v1::ChatCompletionChunk& chunk : result.chunks) {
        outcome.ids_match = outcome.ids_match && chunk.id() == id;
        for (const auto& choice : chunk.choices()) outcome.content += choice.delta().content();
      }
    });
  }

  const bool all_open = upstream_->WaitForRequests(kStreams, absl::Seconds(60));
  const size_t open_streams = upstream_->requests().size();
  all_arrived->Open();
  for (std::thread& client : clients) client.join();

  EXPECT_TRUE(all_open) << "only " << open_streams << " of " << kStreams
                        << " streams reached the upstream at the same time";
  for (int i = 0; i < kStreams; ++i) {
    SCOPED_TRACE(absl::StrCat("stream ", i));
    const std::string id = absl::StrCat("concurrent-", i);
    EXPECT_TRUE(outcomes[i].status.ok()) << Describe(outcomes[i].status);
    EXPECT_EQ(outcomes[i].chunks, 3u);
    EXPECT_EQ(outcomes[i].content, absl::StrCat("for ", id));
    EXPECT_TRUE(outcomes[i].ids_match);
  }
}

// ---------------------------------------------------------------------------------------
// Stream idle timeout: its own process, key from the environment.

class ChatIdleTimeoutTest : public GengateTestBase {
 protected:
  static void SetUpTestSuite() {
    StartGengate({"--stream_idle_timeout=300ms"}, {{"GENGATE_UPSTREAM_API_KEY", kApiKey}});
  }
};

TEST_F(ChatIdleTimeoutTest, SilentUpstreamEndsDeadlineExceededAfterTheFirstMessage) {
  auto probe = std::make_shared<CloseProbe>();
  upstream_->Handle(kChatPath, [probe](const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, SseHeaders());
    responder.Write(SseEvent(ContentChunk("first")));
    probe->Record(responder, absl::Seconds(30));
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  StreamResult result = ReadWholeStream(*stub_, context, UserRequest("gpt-test", "Hi"));

  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << Describe(result.status);
  ASSERT_EQ(result.chunks.size(), 1u);
  EXPECT_EQ(result.chunks[0].choices(0).delta().content(), "first");
  ASSERT_TRUE(probe->done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(probe->closed) << "the idle upstream connection stayed open";
  std::vector<RecordedRequest> received = upstream_->requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].Header("authorization"), absl::StrCat("Bearer ", kApiKey));
}

TEST_F(ChatIdleTimeoutTest, KeepAliveCommentsKeepASlowStreamAlive) {
  upstream_->Handle(kChatPath, [](const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, SseHeaders());
    responder.Write(SseEvent(ContentChunk("slow ")));
    // Pacing, not synchronization: the stream lasts twice the idle timeout but is never
    // silent for more than a third of it.
    for (int i = 0; i < 6; ++i) {
      absl::SleepFor(absl::Milliseconds(100));
      if (!responder.Write(": keep-alive\n\n")) return;
    }
    responder.Write(SseEvent(ContentChunk("but complete")));
    responder.Write(SseEvent(FinishChunk()));
    responder.Write("data: [DONE]\n\n");
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  StreamResult result = ReadWholeStream(*stub_, context, UserRequest("gpt-test", "Hi"));

  EXPECT_TRUE(result.status.ok()) << Describe(result.status);
  ASSERT_EQ(result.chunks.size(), 3u);
  EXPECT_EQ(result.chunks[1].choices(0).delta().content(), "but complete");
}

// ---------------------------------------------------------------------------------------
// --default_timeout bounds a unary call whose caller set no deadline; a stream has no total
// timeout (only the idle one), so a long generation that keeps sending runs past it.

class ChatDefaultTimeoutTest : public GengateTestBase {
 protected:
  static void SetUpTestSuite() {
    StartGengate({"--default_timeout=1s", "--stream_idle_timeout=30s"},
                 {{"GENGATE_UPSTREAM_API_KEY", kApiKey}});
  }
};

TEST_F(ChatDefaultTimeoutTest, UnaryWithoutADeadlineEndsAtTheDefaultTimeout) {
  auto probe = std::make_shared<CloseProbe>();
  upstream_->Handle(kChatPath, [probe](const RecordedRequest&, Responder& responder) {
    probe->Record(responder, absl::Seconds(30));
  });
  grpc::ClientContext context;  // no deadline
  v1::ChatCompletion completion;

  const grpc::Status status =
      stub_->CreateChatCompletion(&context, UserRequest("gpt-test", "Hi"), &completion);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << Describe(status);
  ASSERT_TRUE(probe->done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(probe->closed) << "the gateway kept the upstream request open";
}

TEST_F(ChatDefaultTimeoutTest, StreamWithoutADeadlineRunsPastTheDefaultTimeout) {
  constexpr int kChunks = 6;
  upstream_->Handle(kChatPath, [](const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, SseHeaders());
    // Pacing, not synchronization: the stream lasts 1.5 times the default timeout.
    for (int i = 0; i < kChunks; ++i) {
      if (!responder.Write(SseEvent(ContentChunk(absl::StrCat("part", i, " "))))) return;
      absl::SleepFor(absl::Milliseconds(250));
    }
    responder.Write(SseEvent(FinishChunk()));
    responder.Write("data: [DONE]\n\n");
  });
  grpc::ClientContext context;  // no deadline

  StreamResult result = ReadWholeStream(*stub_, context, UserRequest("gpt-test", "Hi"));

  EXPECT_TRUE(result.status.ok()) << Describe(result.status);
  ASSERT_EQ(result.chunks.size(), kChunks + 1u);
  EXPECT_EQ(result.chunks[kChunks - 1].choices(0).delta().content(),
            absl::StrCat("part", kChunks - 1, " "));
}

// ---------------------------------------------------------------------------------------
// Upstream unreachable: its own process, pointed at a port nobody listens on.

class ChatUpstreamUnreachableTest : public ::testing::TestWithParam<Rpc> {
 protected:
  static void SetUpTestSuite() {
    gengate_ = std::make_unique<GengateProcess>(
        GENGATE_BINARY, BaseFlags(absl::StrCat("http://127.0.0.1:", ClosedPort(), "/openai")),
        EnvironmentList{{"GENGATE_UPSTREAM_API_KEY", kApiKey}});
    start_status_ = gengate_->Start();
  }
  static void TearDownTestSuite() { gengate_.reset(); }

  static inline std::unique_ptr<GengateProcess> gengate_;
  static inline absl::Status start_status_;
};

TEST_P(ChatUpstreamUnreachableTest, ConnectionRefusedIsUnavailable) {
  ASSERT_TRUE(start_status_.ok()) << start_status_;
  auto stub = v1::ChatService::NewStub(gengate_->channel());
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  grpc::Status status;
  if (GetParam() == Rpc::kUnary) {
    v1::ChatCompletion completion;
    status = stub->CreateChatCompletion(&context, UserRequest("gpt-test", "Hi"), &completion);
  } else {
    StreamResult result = ReadWholeStream(*stub, context, UserRequest("gpt-test", "Hi"));
    EXPECT_TRUE(result.chunks.empty());
    status = result.status;
  }

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(status);
  ExpectNoKeyInStatus(status);
  for (const std::string& line : gengate_->OutputLines()) {
    EXPECT_THAT(line, Not(HasSubstr(kApiKey)));
  }
}

INSTANTIATE_TEST_SUITE_P(UnaryAndStream, ChatUpstreamUnreachableTest,
                         ::testing::Values(Rpc::kUnary, Rpc::kStream),
                         [](const ::testing::TestParamInfo<Rpc>& info) {
                           return info.param == Rpc::kUnary ? "Unary" : "Stream";
                         });

// ---------------------------------------------------------------------------------------
// Shutdown: a process per test, since each one ends it.

class GengateShutdownTest : public ::testing::Test {
 protected:
  void StartWithDrain(absl::string_view drain_timeout) {
    ASSERT_TRUE(upstream_.Start().ok());
    gengate_ = std::make_unique<GengateProcess>(
        GENGATE_BINARY,
        std::vector<std::string>{"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
                                 absl::StrCat("--upstream_url=", upstream_.base_url(), "/openai"),
                                 absl::StrCat("--drain_timeout=", drain_timeout)},
        EnvironmentList{{"GENGATE_UPSTREAM_API_KEY", kApiKey}});
    absl::Status started = gengate_->Start();
    ASSERT_TRUE(started.ok()) << started;
    stub_ = v1::ChatService::NewStub(gengate_->channel());
  }

  // Sends SIGTERM and waits until the gateway says it is draining.
  void BeginDrain() {
    ASSERT_TRUE(gengate_->Signal(SIGTERM));
    ASSERT_TRUE(gengate_
                    ->WaitForJsonLine(
                        [](const json& line) { return JsonString(line, "msg") == "draining"; },
                        absl::Seconds(10))
                    .has_value())
        << gengate_->OutputText();
  }

  UpstreamServer upstream_;
  std::unique_ptr<GengateProcess> gengate_;
  std::unique_ptr<v1::ChatService::Stub> stub_;
};

TEST_F(GengateShutdownTest, RunningStreamFinishesAndNewCallsAreRefused) {
  ASSERT_NO_FATAL_FAILURE(StartWithDrain("30s"));
  std::shared_ptr<gengate::testing::Gate> finish = upstream_.NewGate();
  upstream_.Handle(kChatPath, [finish](const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, SseHeaders());
    responder.Write(SseEvent(ContentChunk("before ")));
    if (!finish->Wait(absl::Seconds(60))) return;
    responder.Write(SseEvent(ContentChunk("after")));
    responder.Write(SseEvent(FinishChunk()));
    responder.Write("data: [DONE]\n\n");
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(60));
  std::unique_ptr<grpc::ClientReader<v1::ChatCompletionChunk>> reader =
      stub_->StreamChatCompletion(&context, UserRequest("gpt-test", "Hi"));
  v1::ChatCompletionChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));

  ASSERT_NO_FATAL_FAILURE(BeginDrain());
  auto fresh_stub = v1::ChatService::NewStub(gengate_->NewChannel());
  grpc::ClientContext new_call;
  SetDeadline(new_call, absl::Seconds(10));
  v1::ChatCompletion completion;
  grpc::Status refused =
      fresh_stub->CreateChatCompletion(&new_call, UserRequest("gpt-test", "Hi"), &completion);
  finish->Open();
  std::string rest;
  while (reader->Read(&chunk)) {
    for (const auto& choice : chunk.choices()) rest += choice.delta().content();
  }
  grpc::Status drained = reader->Finish();

  EXPECT_TRUE(drained.ok()) << Describe(drained);
  EXPECT_EQ(rest, "after");
  EXPECT_EQ(upstream_.requests().size(), 1u) << "a call made while draining reached the upstream";
  reader.reset();
  stub_.reset();
  EXPECT_EQ(gengate_->Wait(absl::Seconds(30)), 0) << gengate_->OutputText();

  // gengate refuses a call it receives while draining with UNAVAILABLE. A call that arrives
  // once gRPC's own Server::Shutdown is under way never reaches gengate: it is refused
  // UNAVAILABLE (listener closed, GOAWAY), or, racing the shutdown, ended CANCELLED by gRPC
  // (grpc/grpc#41785, still open).
  std::optional<json> logged;
  for (const std::string& line : gengate_->StdoutLines()) {
    std::optional<json> parsed = gengate::testing::ParseJsonObject(line);
    if (parsed.has_value() && JsonString(*parsed, "msg") == "call" &&
        JsonString(*parsed, "method") == "/gengate.v1.ChatService/CreateChatCompletion") {
      logged = parsed;
    }
  }
  if (logged.has_value()) {
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(refused);
    EXPECT_EQ(JsonString(*logged, "code"), "UNAVAILABLE") << logged->dump();
  } else {
    EXPECT_THAT(refused.error_code(),
                ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::CANCELLED))
        << "gengate never saw the call, so only gRPC's shutdown can have ended it: "
        << Describe(refused) << "\n" << gengate_->OutputText();
  }
}

TEST_F(GengateShutdownTest, StreamStillRunningAtTheDrainDeadlineEndsUnavailable) {
  ASSERT_NO_FATAL_FAILURE(StartWithDrain("500ms"));
  auto probe = std::make_shared<CloseProbe>();
  upstream_.Handle(kChatPath, [probe](const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, SseHeaders());
    responder.Write(SseEvent(ContentChunk("before ")));
    probe->Record(responder, absl::Seconds(60));
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(60));
  std::unique_ptr<grpc::ClientReader<v1::ChatCompletionChunk>> reader =
      stub_->StreamChatCompletion(&context, UserRequest("gpt-test", "Hi"));
  v1::ChatCompletionChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));

  ASSERT_NO_FATAL_FAILURE(BeginDrain());
  while (reader->Read(&chunk)) {
  }
  grpc::Status status = reader->Finish();

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << Describe(status);
  ASSERT_TRUE(probe->done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_TRUE(probe->closed) << "the upstream request outlived the drain";
  reader.reset();
  stub_.reset();
  EXPECT_EQ(gengate_->Wait(absl::Seconds(30)), 0) << gengate_->OutputText();
}

// ---------------------------------------------------------------------------------------
// Configuration.

TEST(GengateConfigTest, NoKeyAndNoUpstreamUrlExitsTwoWithOneLine) {
  ExitResult result = gengate::testing::RunToExit(
      GENGATE_BINARY, {"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0"});

  EXPECT_EQ(result.exit_code, 2);
  std::vector<std::string> lines;
  for (const std::string& line : result.lines) {
    if (!line.empty()) lines.push_back(line);
  }
  ASSERT_EQ(lines.size(), 1u) << absl::StrJoin(result.lines, "\n");
  EXPECT_THAT(absl::AsciiStrToLower(lines[0]), HasSubstr("key"));
}

struct BadConfigCase {
  std::string name;
  std::vector<std::string> flags;
  EnvironmentList environment;
};

void PrintTo(const BadConfigCase& param, std::ostream* os) { *os << param.name; }

class GengateBadConfigTest : public ::testing::TestWithParam<BadConfigCase> {};

TEST_P(GengateBadConfigTest, ExitsTwo) {
  std::vector<std::string> flags = {"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
                                    "--upstream_url=fake"};
  flags.insert(flags.end(), GetParam().flags.begin(), GetParam().flags.end());

  ExitResult result = gengate::testing::RunToExit(GENGATE_BINARY, flags, GetParam().environment);

  EXPECT_EQ(result.exit_code, 2) << absl::StrJoin(result.lines, "\n");
  EXPECT_FALSE(result.lines.empty()) << "no explanation printed";
}

INSTANTIATE_TEST_SUITE_P(
    BadValues, GengateBadConfigTest,
    ::testing::Values(
        BadConfigCase{"StreamBufferBytesNotASize", {"--stream_buffer_bytes=lots"}, {}},
        BadConfigCase{"LogFormatUnknown", {"--log_format=xml"}, {}},
        BadConfigCase{"IdleTimeoutNotADuration", {"--stream_idle_timeout=soon"}, {}},
        BadConfigCase{"MaxConnectionsNotANumber", {"--max_upstream_connections=many"}, {}},
        BadConfigCase{"KeyFileMissing", {"--upstream_api_key_file=/nonexistent/gengate-key"}, {}},
        BadConfigCase{"LogFormatFromEnvironment", {}, {{"GENGATE_LOG_FORMAT", "xml"}}}),
    [](const ::testing::TestParamInfo<BadConfigCase>& info) { return info.param.name; });

TEST(GengateConfigTest, BuiltInFakeUpstreamNeedsNoKey) {
  GengateProcess gengate(GENGATE_BINARY, BaseFlags("fake"));
  absl::Status started = gengate.Start();
  ASSERT_TRUE(started.ok()) << started;
  auto stub = v1::ChatService::NewStub(gengate.channel());
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::ChatCompletion completion;

  grpc::Status status =
      stub->CreateChatCompletion(&context, UserRequest("gpt-4o-mini", "Hello"), &completion);

  ASSERT_TRUE(status.ok()) << Describe(status);
  ASSERT_GE(completion.choices_size(), 1);
  EXPECT_FALSE(completion.choices(0).message().content().empty());
}

}  // namespace
}  // namespace gengate::integration
