// End-to-end tests of the Responses RPCs: the real gengate binary, real sockets and real
// libcurl, against a scripted upstream on 127.0.0.1 (tests/testing/upstream_server.h).
#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gengate/v1/responses.grpc.pb.h"
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

constexpr char kResponsesPath[] = "/openai/responses";
constexpr char kStreamMethod[] = "/gengate.v1.ResponsesService/StreamResponse";
// How soon after a cancel the upstream must see its connection close.
constexpr absl::Duration kCancelCloseBound = absl::Milliseconds(100);

v1::CreateResponseRequest TextRequest(std::string model, std::string text) {
  v1::CreateResponseRequest request;
  request.set_model(std::move(model));
  request.set_input_text(std::move(text));
  return request;
}

using ResponseStream = StreamReadResult<v1::ResponseEvent>;

ResponseStream ReadStream(v1::ResponsesService::Stub& stub, grpc::ClientContext& context,
                          const v1::CreateResponseRequest& request) {
  std::unique_ptr<grpc::ClientReader<v1::ResponseEvent>> reader =
      stub.StreamResponse(&context, request);
  return ReadAll(*reader);
}

class ResponsesIntegrationTest : public GatewayTestBase {
 protected:
  static void SetUpTestSuite() {
    StartGengate({absl::StrCat("--upstream_api_key_file=", WriteKeyFile()),
                  "--stream_idle_timeout=30s", "--default_timeout=60s"},
                 {});
  }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(GatewayTestBase::SetUp());
    stub_ = v1::ResponsesService::NewStub(gengate_->channel());
  }

  std::unique_ptr<v1::ResponsesService::Stub> stub_;
};

// ---------------------------------------------------------------------------------------
// CreateResponse.

TEST_F(ResponsesIntegrationTest, CreateResponseSendsTheRequestAndReturnsTheAnswer) {
  upstream_->Handle(kResponsesPath, gengate::testing::ReplayFixture(
                                        MustLoad("responses-unary-reasoning-and-message-ruby-llm")));
  v1::CreateResponseRequest request = TextRequest("gpt-5-nano", "What's 2 + 2?");
  request.set_instructions("Answer with a number.");
  request.set_max_output_tokens(64);
  request.set_temperature(0);  // zero on purpose: set, unlike the fields left out
  (*request.mutable_extra_body()->mutable_fields())["custom_flag"].set_bool_value(true);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::Response response;

  grpc::Status status = stub_->CreateResponse(&context, request, &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  // What the upstream received.
  std::vector<RecordedRequest> received = upstream_->requests();
  std::optional<json> sent = OnlyJsonPost(received, kResponsesPath);
  ASSERT_TRUE(sent.has_value());
  EXPECT_FALSE(received[0].Header("x-request-id").empty());
  const json& body = *sent;
  EXPECT_EQ(body["model"], "gpt-5-nano");
  EXPECT_EQ(body["input"], "What's 2 + 2?");
  EXPECT_EQ(body["instructions"], "Answer with a number.");
  EXPECT_EQ(body["max_output_tokens"], 64);
  ASSERT_TRUE(body.contains("temperature"));
  EXPECT_EQ(body["temperature"], 0);
  EXPECT_EQ(body["custom_flag"], true);
  EXPECT_NE(body.value("stream", false), true);
  for (const char* unset :
       {"top_p", "tools", "tool_choice", "parallel_tool_calls", "reasoning", "text", "background",
        "store", "previous_response_id", "metadata", "include", "top_logprobs", "max_tool_calls",
        "truncation", "service_tier", "user", "safety_identifier", "prompt_cache_key",
        "extra_body", "input_text"}) {
    EXPECT_FALSE(body.contains(unset)) << "unset field sent upstream: " << unset;
  }
  // What the caller got.
  EXPECT_EQ(response.id(), "resp_055326bcbddc6af4016a85bf23d5e081a2b6e01fed829dfb3d");
  EXPECT_EQ(response.created_at(), 1787150115);
  EXPECT_EQ(response.model(), "gpt-5-nano-2025-08-07");
  EXPECT_EQ(response.status(), v1::RESPONSE_STATUS_COMPLETED);
  EXPECT_EQ(response.raw_status(), "completed");
  ASSERT_EQ(response.output_size(), 2);
  EXPECT_EQ(response.output(0).type(), "reasoning");
  ASSERT_TRUE(response.output(0).has_reasoning());
  EXPECT_EQ(response.output(0).reasoning().id(),
            "rs_055326bcbddc6af4016a85bf24411481a295966b4a1072c141");
  EXPECT_TRUE(response.output(0).reasoning().has_encrypted_content());
  EXPECT_EQ(response.output(1).type(), "message");
  ASSERT_TRUE(response.output(1).has_message());
  ASSERT_EQ(response.output(1).message().content_size(), 1);
  EXPECT_EQ(response.output(1).message().content(0).output_text().text(), "4");
  EXPECT_EQ(response.output_text(), "4");
  EXPECT_EQ(response.usage().input_tokens(), 13);
  EXPECT_EQ(response.usage().output_tokens(), 157);
  EXPECT_EQ(response.usage().total_tokens(), 170);
  EXPECT_EQ(response.usage().output_tokens_details().reasoning_tokens(), 128);
  EXPECT_FALSE(response.has_error());
}

TEST_F(ResponsesIntegrationTest, CreateResponseSendsInputItemsAsTheJsonArray) {
  upstream_->Handle(kResponsesPath, gengate::testing::ReplayFixture(MustLoad(
                                        "responses-unary-parallel-function-calls-ruby-llm")));
  v1::CreateResponseRequest request;
  request.set_model("gpt-5-nano");
  v1::ResponseInputMessage* message = request.add_input()->mutable_message();
  message->set_role(v1::ROLE_USER);
  message->set_text("Weather in Berlin?");
  v1::FunctionCallOutput* output = request.add_input()->mutable_function_call_output();
  output->set_call_id("call_1");
  output->set_output("{\"temperature\":21}");
  v1::FunctionDefinition* function = request.add_tools()->mutable_function();
  function->set_name("weather");
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::Response response;

  grpc::Status status = stub_->CreateResponse(&context, request, &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  ASSERT_EQ(upstream_->requests().size(), 1u);
  const json body = ParseJson(upstream_->requests()[0].body);
  EXPECT_EQ(body["input"], json::parse(R"([
      {"role": "user", "content": "Weather in Berlin?"},
      {"type": "function_call_output", "call_id": "call_1", "output": "{\"temperature\":21}"}])"));
  ASSERT_TRUE(body["tools"].is_array());
  ASSERT_EQ(body["tools"].size(), 1u);
  EXPECT_EQ(body["tools"][0]["type"], "function");
  EXPECT_EQ(body["tools"][0]["name"], "weather");
  // Two function calls and no text.
  ASSERT_EQ(response.output_size(), 3);
  EXPECT_EQ(response.output(1).function_call().call_id(), "call_NeNP7bv8VH3cJTxFagvafR2L");
  EXPECT_EQ(response.output(1).function_call().name(), "weather");
  EXPECT_EQ(response.output(1).function_call().arguments(),
            R"({"latitude":"52.5200","longitude":"13.4050"})");
  EXPECT_EQ(response.output(2).function_call().name(), "best_language_to_learn");
  EXPECT_EQ(response.output(2).function_call().arguments(), "{}");
  EXPECT_EQ(response.output_text(), "");
  EXPECT_EQ(response.usage().total_tokens(), 396);
}

TEST_F(ResponsesIntegrationTest, IncompleteResponseIsOkAndSaysWhy) {
  upstream_->Handle(kResponsesPath, gengate::testing::ReplayFixture(MustLoad(
                                        "responses-unary-incomplete-max-output-tokens-vercel")));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::Response response;

  grpc::Status status =
      stub_->CreateResponse(&context, TextRequest("gpt-4o", "Write a long essay."), &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(response.status(), v1::RESPONSE_STATUS_INCOMPLETE);
  EXPECT_EQ(response.incomplete_details().reason(), "max_output_tokens");
  EXPECT_EQ(response.output_text(), "Hello,");
}

TEST_F(ResponsesIntegrationTest, AceChatShapedAnswerBecomesAResponse) {
  upstream_->Handle(kResponsesPath, [](const RecordedRequest&, Responder& responder) {
    responder.Reply(200, {{"Content-Type", "application/json"}}, R"({
        "id": "chatcmpl-ace-1", "object": "chat.completion", "created": 1721000000,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"},
                     "finish_reason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})");
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::Response response;

  grpc::Status status = stub_->CreateResponse(&context, TextRequest("gpt-4o", "Hi"), &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(response.id(), "chatcmpl-ace-1");
  EXPECT_EQ(response.created_at(), 1721000000);
  EXPECT_EQ(response.output_text(), "Hi there");
  EXPECT_EQ(response.status(), v1::RESPONSE_STATUS_INCOMPLETE);
  EXPECT_EQ(response.incomplete_details().reason(), "max_output_tokens");
  EXPECT_EQ(response.usage().input_tokens(), 5);
  EXPECT_EQ(response.usage().output_tokens(), 2);
  EXPECT_EQ(response.usage().total_tokens(), 7);
}

// ---------------------------------------------------------------------------------------
// StreamResponse: recorded streams.

// What the caller must receive for a stream fixture: one message per event up to and
// including the terminal one, and the final code.
struct ExpectedEvents {
  std::vector<json> events;
  grpc::StatusCode code = grpc::StatusCode::OK;
};

ExpectedEvents ExpectedEventsOf(const std::vector<std::string>& writes) {
  ExpectedEvents expected;
  for (const std::string& payload : SseDataPayloads(writes)) {
    if (payload == "[DONE]") break;
    json event = ParseJson(payload);
    const std::string type = JsonString(event, "type");
    expected.events.push_back(std::move(event));
    if (type == "response.failed" || type == "error") {
      expected.code = grpc::StatusCode::INTERNAL;
      break;
    }
    if (type == "response.completed" || type == "response.incomplete") break;
  }
  return expected;
}

// Each message mirrors its event: type, sequence number, the delta and its position.
void ExpectEventsMatch(const std::vector<v1::ResponseEvent>& got,
                       const std::vector<json>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("event ", i, " ", JsonString(want[i], "type")));
    const v1::ResponseEvent& event = got[i];
    EXPECT_EQ(event.type(), JsonString(want[i], "type"));
    EXPECT_EQ(event.sequence_number(), JsonInt(want[i], "sequence_number"));
    EXPECT_EQ(event.has_delta(), JsonObject(want[i], "delta").is_string());
    EXPECT_EQ(event.delta(), JsonString(want[i], "delta"));
    EXPECT_EQ(event.item_id(), JsonString(want[i], "item_id"));
    EXPECT_EQ(event.output_index(), JsonInt(want[i], "output_index"));
    EXPECT_EQ(event.content_index(), JsonInt(want[i], "content_index"));
    const json& response = JsonObject(want[i], "response");
    EXPECT_EQ(event.has_response(), response.is_object());
    if (response.is_object()) {
      EXPECT_EQ(event.response().id(), JsonString(response, "id"));
      EXPECT_EQ(event.response().raw_status(), JsonString(response, "status"));
      EXPECT_EQ(event.response().usage().total_tokens(),
                JsonInt(JsonObject(response, "usage"), "total_tokens"));
    }
  }
}

struct StreamFixtureCase {
  std::string fixture;
  std::string reason;  // ErrorInfo.reason when the stream fails
};

void PrintTo(const StreamFixtureCase& param, std::ostream* os) { *os << param.fixture; }

class ResponsesStreamFixtureTest : public ResponsesIntegrationTest,
                                   public ::testing::WithParamInterface<StreamFixtureCase> {};

TEST_P(ResponsesStreamFixtureTest, SendsOneMessagePerEventUpToTheTerminalOne) {
  Fixture fixture = MustLoad(GetParam().fixture);
  const ExpectedEvents expected = ExpectedEventsOf(fixture.sse_chunks);
  upstream_->Handle(kResponsesPath, gengate::testing::ReplayFixture(fixture));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  ResponseStream result = ReadStream(*stub_, context, TextRequest("gpt-5-nano", "Hello"));

  EXPECT_EQ(result.status.error_code(), expected.code) << Describe(result.status);
  ExpectEventsMatch(result.messages, expected.events);
  if (!GetParam().reason.empty()) {
    std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(result.status);
    ASSERT_TRUE(info.has_value()) << Describe(result.status);
    EXPECT_EQ(info->reason(), GetParam().reason);
  }
  ASSERT_EQ(upstream_->requests().size(), 1u);
  const RecordedRequest received = upstream_->requests()[0];
  EXPECT_EQ(received.path, kResponsesPath);
  EXPECT_EQ(received.Header("authorization"), absl::StrCat("Bearer ", kApiKey));
  EXPECT_EQ(ParseJson(received.body).value("stream", false), true) << received.body;
}

INSTANTIATE_TEST_SUITE_P(
    AllResponsesStreamFixtures, ResponsesStreamFixtureTest,
    ::testing::Values(StreamFixtureCase{"responses-stream-text-ruby-llm", ""},
                      StreamFixtureCase{"responses-stream-data-only-azure-vercel", ""},
                      StreamFixtureCase{"responses-stream-function-call-args-ruby-llm", ""},
                      StreamFixtureCase{"responses-stream-incomplete-data-nospace-vercel", ""},
                      StreamFixtureCase{"responses-stream-logprobs-pydantic", ""},
                      StreamFixtureCase{"responses-stream-error-then-failed-vercel",
                                        "insufficient_quota"}),
    [](const ::testing::TestParamInfo<StreamFixtureCase>& info) {
      return absl::StrReplaceAll(info.param.fixture, {{"-", "_"}});
    });

TEST_F(ResponsesIntegrationTest, StreamPassesTextDeltasAndTheCompletedResponse) {
  upstream_->Handle(kResponsesPath, gengate::testing::ReplayFixture(
                                        MustLoad("responses-stream-text-ruby-llm")));
  v1::CreateResponseRequest request = TextRequest("gpt-5-nano", "Count from 1 to 3");
  request.set_max_output_tokens(500);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  ResponseStream result = ReadStream(*stub_, context, request);

  ASSERT_TRUE(result.status.ok()) << Describe(result.status);
  ASSERT_EQ(result.messages.size(), 17u);
  std::string text;
  for (const v1::ResponseEvent& event : result.messages) {
    if (event.type() == "response.output_text.delta") text += event.delta();
  }
  EXPECT_EQ(text, "1, 2, 3");
  EXPECT_EQ(result.messages[13].type(), "response.output_text.done");
  EXPECT_EQ(result.messages[13].text(), "1, 2, 3");
  const v1::ResponseEvent& last = result.messages.back();
  EXPECT_EQ(last.type(), "response.completed");
  EXPECT_EQ(last.response().status(), v1::RESPONSE_STATUS_COMPLETED);
  EXPECT_EQ(last.response().output_text(), "1, 2, 3");
  EXPECT_EQ(last.response().usage().input_tokens(), 13);
  EXPECT_EQ(last.response().usage().output_tokens(), 284);
  EXPECT_EQ(last.response().usage().total_tokens(), 297);
  // The upstream was asked for a stream.
  ASSERT_EQ(upstream_->requests().size(), 1u);
  const RecordedRequest received = upstream_->requests()[0];
  EXPECT_EQ(received.method, "POST");
  EXPECT_THAT(received.Header("accept"), HasSubstr("text/event-stream"));
  const json body = ParseJson(received.body);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["input"], "Count from 1 to 3");
  EXPECT_EQ(body["max_output_tokens"], 500);
}

// ---------------------------------------------------------------------------------------
// StreamResponse: framings and endings, on one synthetic stream.

std::vector<json> SyntheticEvents(const json& terminal) {
  const json response_in_progress = {
      {"id", "resp_synthetic"}, {"object", "response"}, {"created_at", 1700000000},
      {"status", "in_progress"}, {"model", "gpt-test"}, {"output", json::array()}};
  std::vector<json> events = {
      {{"type", "response.created"}, {"sequence_number", 0}, {"response", response_in_progress}},
      {{"type", "response.output_text.delta"}, {"sequence_number", 1}, {"item_id", "msg_1"},
       {"output_index", 0}, {"content_index", 0}, {"delta", "Hel"}},
      {{"type", "response.output_text.delta"}, {"sequence_number", 2}, {"item_id", "msg_1"},
       {"output_index", 0}, {"content_index", 0}, {"delta", "lo"}},
  };
  events.push_back(terminal);
  return events;
}

json CompletedEvent() {
  return {{"type", "response.completed"},
          {"sequence_number", 3},
          {"response",
           {{"id", "resp_synthetic"},
            {"object", "response"},
            {"created_at", 1700000000},
            {"status", "completed"},
            {"model", "gpt-test"},
            {"output",
             json::array({{{"type", "message"},
                           {"id", "msg_1"},
                           {"role", "assistant"},
                           {"status", "completed"},
                           {"content", json::array({{{"type", "output_text"},
                                                     {"text", "Hello"},
                                                     {"annotations", json::array()}}})}}})},
            {"usage", {{"input_tokens", 3}, {"output_tokens", 2}, {"total_tokens", 5}}}}}};
}

// The SSE writes of `events`: with or without `event:` lines, with or without [DONE].
std::vector<std::string> Frame(const std::vector<json>& events, bool event_lines, bool done) {
  std::vector<std::string> writes;
  for (const json& event : events) {
    std::string write;
    if (event_lines) absl::StrAppend(&write, "event: ", JsonString(event, "type"), "\n");
    absl::StrAppend(&write, "data: ", event.dump(), "\n\n");
    writes.push_back(std::move(write));
  }
  if (done) writes.push_back("data: [DONE]\n\n");
  return writes;
}

gengate::testing::Handler WriteStream(std::vector<std::string> writes) {
  return [writes = std::move(writes)](const RecordedRequest&, Responder& responder) {
    if (!responder.WriteHead(200, SseHeaders())) return;
    for (const std::string& write : writes) {
      if (!responder.Write(write)) return;
    }
  };
}

struct FramingCase {
  std::string name;
  bool event_lines;
  bool done;
};

void PrintTo(const FramingCase& param, std::ostream* os) { *os << param.name; }

class ResponsesStreamFramingTest : public ResponsesIntegrationTest,
                                   public ::testing::WithParamInterface<FramingCase> {};

TEST_P(ResponsesStreamFramingTest, EndsOkAfterResponseCompleted) {
  const std::vector<json> events = SyntheticEvents(CompletedEvent());
  upstream_->Handle(kResponsesPath,
                    WriteStream(Frame(events, GetParam().event_lines, GetParam().done)));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  ResponseStream result = ReadStream(*stub_, context, TextRequest("gpt-test", "Hi"));

  ASSERT_TRUE(result.status.ok()) << Describe(result.status);
  ExpectEventsMatch(result.messages, events);
  ASSERT_EQ(result.messages.size(), 4u);
  EXPECT_EQ(result.messages[3].response().output_text(), "Hello");
  EXPECT_EQ(result.messages[3].response().usage().total_tokens(), 5);
}

INSTANTIATE_TEST_SUITE_P(
    EventLinesAndDone, ResponsesStreamFramingTest,
    ::testing::Values(FramingCase{"EventLinesAndDone", true, true},
                      FramingCase{"EventLinesNoDone", true, false},
                      FramingCase{"DataOnlyAndDone", false, true},
                      FramingCase{"DataOnlyNoDone", false, false}),
    [](const ::testing::TestParamInfo<FramingCase>& info) { return info.param.name; });

TEST_F(ResponsesIntegrationTest, ResponseFailedEndsTheStreamWithTheUpstreamsMessage) {
  const json failed = {
      {"type", "response.failed"},
      {"sequence_number", 3},
      {"response",
       {{"id", "resp_synthetic"},
        {"object", "response"},
        {"status", "failed"},
        {"model", "gpt-test"},
        {"output", json::array()},
        {"error", {{"code", "server_error"}, {"message", "The model crashed halfway."}}}}}};
  upstream_->Handle(kResponsesPath, WriteStream(Frame(SyntheticEvents(failed), true, true)));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  ResponseStream result = ReadStream(*stub_, context, TextRequest("gpt-test", "Hi"));

  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INTERNAL) << Describe(result.status);
  EXPECT_EQ(result.status.error_message(), "The model crashed halfway.");
  std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(result.status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason(), "server_error");
  EXPECT_EQ(info->domain(), kUpstreamHost);
  // The failed event itself is passed on before the status.
  ASSERT_EQ(result.messages.size(), 4u);
  EXPECT_EQ(result.messages[3].type(), "response.failed");
  EXPECT_EQ(result.messages[3].response().status(), v1::RESPONSE_STATUS_FAILED);
  EXPECT_EQ(result.messages[3].response().error().code(), "server_error");
  EXPECT_EQ(result.messages[3].response().error().message(), "The model crashed halfway.");
}

TEST_F(ResponsesIntegrationTest, ResponseIncompleteEndsOkAndSaysWhy) {
  json incomplete = CompletedEvent();
  incomplete["type"] = "response.incomplete";
  incomplete["response"]["status"] = "incomplete";
  incomplete["response"]["incomplete_details"] = {{"reason", "max_output_tokens"}};
  upstream_->Handle(kResponsesPath, WriteStream(Frame(SyntheticEvents(incomplete), false, false)));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  ResponseStream result = ReadStream(*stub_, context, TextRequest("gpt-test", "Hi"));

  ASSERT_TRUE(result.status.ok()) << Describe(result.status);
  ASSERT_EQ(result.messages.size(), 4u);
  const v1::ResponseEvent& last = result.messages.back();
  EXPECT_EQ(last.type(), "response.incomplete");
  EXPECT_EQ(last.response().status(), v1::RESPONSE_STATUS_INCOMPLETE);
  EXPECT_EQ(last.response().incomplete_details().reason(), "max_output_tokens");
}

TEST_F(ResponsesIntegrationTest, ErrorEventEndsTheStreamInternalAfterTheEventsSent) {
  const json error = {{"type", "error"},
                      {"sequence_number", 3},
                      {"code", "rate_limit_exceeded"},
                      {"message", "Slow down."},
                      {"param", nullptr}};
  // What follows the error event is never read.
  std::vector<std::string> writes = Frame(SyntheticEvents(error), true, false);
  writes.push_back(absl::StrCat("data: ", CompletedEvent().dump(), "\n\n"));
  upstream_->Handle(kResponsesPath, WriteStream(writes));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  ResponseStream result = ReadStream(*stub_, context, TextRequest("gpt-test", "Hi"));

  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INTERNAL) << Describe(result.status);
  EXPECT_EQ(result.status.error_message(), "Slow down.");
  std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(result.status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason(), "rate_limit_exceeded");
  ASSERT_EQ(result.messages.size(), 4u);
  EXPECT_EQ(result.messages[1].delta(), "Hel");
  EXPECT_EQ(result.messages[3].type(), "error");
  EXPECT_EQ(result.messages[3].error().code(), "rate_limit_exceeded");
  EXPECT_EQ(result.messages[3].error().message(), "Slow down.");
}

// Streams that break after some events: no terminal event, or an event that is not JSON.
struct BrokenStreamCase {
  std::string name;
  std::string tail;  // written after the first three events; "" = nothing
  bool reset;        // RST after the tail instead of a clean close
  grpc::StatusCode code;
  std::string reason;
};

void PrintTo(const BrokenStreamCase& param, std::ostream* os) { *os << param.name; }

class ResponsesBrokenStreamTest : public ResponsesIntegrationTest,
                                  public ::testing::WithParamInterface<BrokenStreamCase> {};

TEST_P(ResponsesBrokenStreamTest, EndsWithTheFailureAfterTheEventsAlreadySent) {
  const BrokenStreamCase& param = GetParam();
  std::vector<json> events = SyntheticEvents(CompletedEvent());
  events.pop_back();
  std::vector<std::string> writes = Frame(events, true, false);
  upstream_->Handle(kResponsesPath,
                    [&param, writes](const RecordedRequest&, Responder& responder) {
                      if (!responder.WriteHead(200, SseHeaders())) return;
                      for (const std::string& write : writes) responder.Write(write);
                      if (!param.tail.empty()) responder.Write(param.tail);
                      if (param.reset) responder.Reset();
                    });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  ResponseStream result = ReadStream(*stub_, context, TextRequest("gpt-test", "Hi"));

  EXPECT_EQ(result.status.error_code(), param.code) << Describe(result.status);
  ExpectEventsMatch(result.messages, events);
  std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(result.status);
  ASSERT_TRUE(info.has_value()) << Describe(result.status);
  EXPECT_EQ(info->reason(), param.reason);
  ExpectNoKeyInStatus(result.status);
}

INSTANTIATE_TEST_SUITE_P(
    CutAndGarbled, ResponsesBrokenStreamTest,
    ::testing::Values(
        BrokenStreamCase{"CleanEofBeforeTerminalEvent", "", false,
                         grpc::StatusCode::UNAVAILABLE, "upstream_connection_reset"},
        BrokenStreamCase{"ResetBeforeTerminalEvent", "", true, grpc::StatusCode::UNAVAILABLE,
                         "upstream_connection_reset"},
        BrokenStreamCase{"EventThatIsNotJson",
                         "data: {\"type\":\"response.output_text.delta\",\"delta\":\n\n", false,
                         grpc::StatusCode::INTERNAL, "malformed_upstream_answer"},
        BrokenStreamCase{"EventWithoutType", "data: {\"delta\":\"x\"}\n\n", false,
                         grpc::StatusCode::INTERNAL, "malformed_upstream_answer"}),
    [](const ::testing::TestParamInfo<BrokenStreamCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------
// Cancel.

TEST_F(ResponsesIntegrationTest, CancelMidStreamClosesTheUpstreamConnectionAtOnce) {
  auto probe = std::make_shared<CloseProbe>();
  std::shared_ptr<gengate::testing::Gate> cancelled = upstream_->NewGate();
  std::vector<json> events = SyntheticEvents(CompletedEvent());
  events.pop_back();
  upstream_->Handle(kResponsesPath, [probe, cancelled, writes = Frame(events, true, false)](
                                        const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, SseHeaders());
    for (const std::string& write : writes) responder.Write(write);
    // The bound counts from the cancel: the test opens the gate right after it.
    if (!cancelled->Wait(absl::Seconds(30))) return;
    probe->Record(responder, kCancelCloseBound);
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  const std::string request_id = "responses-cancel-mid-stream";
  context.AddMetadata("x-request-id", request_id);
  std::unique_ptr<grpc::ClientReader<v1::ResponseEvent>> reader =
      stub_->StreamResponse(&context, TextRequest("gpt-test", "Hi"));
  v1::ResponseEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.type(), "response.created");
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.delta(), "Hel");

  const absl::Time cancelled_at = absl::Now();
  context.TryCancel();
  cancelled->Open();

  ASSERT_TRUE(probe->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(probe->closed) << "the upstream connection was still open "
                             << absl::FormatDuration(kCancelCloseBound) << " after the cancel";
  if (probe->closed_at.has_value()) {
    RecordProperty("upstream_close_delay_ms",
                   absl::StrCat(absl::ToDoubleMilliseconds(*probe->closed_at - cancelled_at)));
  }
  while (reader->Read(&event)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  std::optional<json> line = CallLogLine(request_id);
  ASSERT_TRUE(line.has_value()) << gengate_->OutputText();
  EXPECT_EQ(JsonString(*line, "code"), "CANCELLED") << line->dump();
  EXPECT_EQ(JsonString(*line, "method"), kStreamMethod);
}

// ---------------------------------------------------------------------------------------
// Request ids.

class ResponsesMetadataTest : public ResponsesIntegrationTest,
                              public ::testing::WithParamInterface<bool> {};

TEST_P(ResponsesMetadataTest, PassesTheRequestIdBothWays) {
  const bool stream = GetParam();
  Fixture fixture = MustLoad(stream ? "responses-stream-text-ruby-llm"
                                    : "responses-unary-reasoning-and-message-ruby-llm");
  upstream_->Handle(kResponsesPath, gengate::testing::ReplayFixture(
                                        fixture, {{"x-request-id", "upstream-responses-7"}}));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  context.AddMetadata("x-request-id", "caller-responses-7");
  grpc::Status status;
  if (stream) {
    status = ReadStream(*stub_, context, TextRequest("gpt-5-nano", "Hi")).status;
  } else {
    v1::Response response;
    status = stub_->CreateResponse(&context, TextRequest("gpt-5-nano", "Hi"), &response);
  }

  ASSERT_TRUE(status.ok()) << Describe(status);
  ASSERT_EQ(upstream_->requests().size(), 1u);
  EXPECT_EQ(upstream_->requests()[0].Header("x-request-id"), "caller-responses-7");
  EXPECT_EQ(MetadataValue(context.GetServerInitialMetadata(), "x-request-id"),
            "caller-responses-7");
  EXPECT_EQ(MetadataValue(context.GetServerTrailingMetadata(), "x-upstream-request-id"),
            "upstream-responses-7");
}

INSTANTIATE_TEST_SUITE_P(UnaryAndStream, ResponsesMetadataTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Stream" : "Unary";
                         });

// ---------------------------------------------------------------------------------------
// Failures: the shared table, for both RPCs.

RpcUnderTest CreateResponseRpc(v1::CreateResponseRequest request) {
  return {"CreateResponse", kResponsesPath, false,
          [request](std::shared_ptr<grpc::Channel> channel, grpc::ClientContext& context) {
            v1::Response response;
            return RpcOutcome{
                v1::ResponsesService::NewStub(channel)->CreateResponse(&context, request, &response),
                0};
          }};
}

RpcUnderTest StreamResponseRpc(v1::CreateResponseRequest request) {
  return {"StreamResponse", kResponsesPath, true,
          [request](std::shared_ptr<grpc::Channel> channel, grpc::ClientContext& context) {
            ResponseStream result =
                ReadStream(*v1::ResponsesService::NewStub(channel), context, request);
            return RpcOutcome{result.status, static_cast<int>(result.messages.size())};
          }};
}

std::vector<RpcUnderTest> ResponsesRpcs(const v1::CreateResponseRequest& request) {
  return {CreateResponseRpc(request), StreamResponseRpc(request)};
}

class ResponsesUpstreamFailureTest
    : public ResponsesIntegrationTest,
      public ::testing::WithParamInterface<std::tuple<RpcUnderTest, UpstreamFailure>> {};

TEST_P(ResponsesUpstreamFailureTest, MapsToTheDocumentedStatus) {
  RunUpstreamFailure(*upstream_, *gengate_, std::get<0>(GetParam()), std::get<1>(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(
    AllFailures, ResponsesUpstreamFailureTest,
    ::testing::Combine(::testing::ValuesIn(ResponsesRpcs(TextRequest("gpt-test", "Hi"))),
                       ::testing::ValuesIn(UpstreamFailures())),
    FailureCaseName);

using ResponsesUnreachableTest = UnreachableUpstreamTest;

TEST_P(ResponsesUnreachableTest, ConnectionRefusedIsUnavailable) { ExpectUnavailable(); }

INSTANTIATE_TEST_SUITE_P(UnaryAndStream, ResponsesUnreachableTest,
                         ::testing::ValuesIn(ResponsesRpcs(TextRequest("gpt-test", "Hi"))),
                         RpcName);

using ResponsesRequestLimitTest = SmallMessageLimitTest;

TEST_P(ResponsesRequestLimitTest, OversizedRequestIsInvalidArgumentNamingTheLimit) {
  ExpectRefusedAsTooLarge();
}

INSTANTIATE_TEST_SUITE_P(
    UnaryAndStream, ResponsesRequestLimitTest,
    ::testing::ValuesIn(ResponsesRpcs(
        TextRequest("gpt-test", std::string(kSmallMessageLimit + (16 << 10), 'w')))),
    RpcName);

// An event over what the gateway may send (--max_message_bytes bounds replies too).
class ResponsesAnswerLimitTest : public GatewayTestBase {
 protected:
  static void SetUpTestSuite() {
    StartGengate({absl::StrCat("--max_message_bytes=", kSmallMessageLimit)},
                 {{"GENGATE_UPSTREAM_API_KEY", kApiKey}});
  }
};

TEST_F(ResponsesAnswerLimitTest, StreamEventOverTheLimitEndsResourceExhausted) {
  std::vector<json> events = SyntheticEvents(CompletedEvent());
  events[2]["delta"] = std::string(kSmallMessageLimit + (16 << 10), 'd');
  upstream_->Handle(kResponsesPath, WriteStream(Frame(events, true, false)));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  const std::string request_id = "responses-event-over-limit";
  context.AddMetadata("x-request-id", request_id);
  auto stub = v1::ResponsesService::NewStub(LargeMessageChannel());

  ResponseStream result = ReadStream(*stub, context, TextRequest("gpt-test", "Hi"));

  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << Describe(result.status);
  EXPECT_THAT(result.status.error_message(), HasSubstr("--max_message_bytes"));
  // The events before it are delivered.
  ASSERT_EQ(result.messages.size(), 2u);
  EXPECT_EQ(result.messages[1].delta(), "Hel");
  std::optional<json> line = CallLogLine(request_id);
  ASSERT_TRUE(line.has_value()) << gengate_->OutputText();
  EXPECT_EQ(JsonString(*line, "code"), "RESOURCE_EXHAUSTED") << line->dump();
}

// ---------------------------------------------------------------------------------------
// Validation: the upstream is never called.

struct ValidationCase {
  std::string name;
  v1::CreateResponseRequest request;
};

void PrintTo(const ValidationCase& param, std::ostream* os) { *os << param.name; }

class ResponsesValidationTest
    : public ResponsesIntegrationTest,
      public ::testing::WithParamInterface<std::tuple<ValidationCase, bool>> {};

TEST_P(ResponsesValidationTest, RejectsTheRequestWithoutCallingTheUpstream) {
  const auto& [param, stream] = GetParam();
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  RpcUnderTest rpc = stream ? StreamResponseRpc(param.request) : CreateResponseRpc(param.request);

  RpcOutcome outcome = rpc.call(gengate_->channel(), context);

  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << Describe(outcome.status);
  EXPECT_FALSE(outcome.status.error_message().empty());
  EXPECT_EQ(outcome.messages, 0);
  EXPECT_TRUE(upstream_->requests().empty()) << "the upstream was called";
}

std::vector<ValidationCase> ValidationCases() {
  std::vector<ValidationCase> cases;
  cases.push_back({"NoModel", TextRequest("", "Hi")});
  v1::CreateResponseRequest no_input;
  no_input.set_model("gpt-test");
  cases.push_back({"NoInput", no_input});
  v1::CreateResponseRequest both = TextRequest("gpt-test", "Hi");
  both.add_input()->mutable_message()->set_text("Also this");
  both.mutable_input(0)->mutable_message()->set_role(v1::ROLE_USER);
  cases.push_back({"InputTextAndInputItems", both});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(
    BadRequests, ResponsesValidationTest,
    ::testing::Combine(::testing::ValuesIn(ValidationCases()), ::testing::Bool()),
    [](const ::testing::TestParamInfo<std::tuple<ValidationCase, bool>>& info) {
      return absl::StrCat(std::get<0>(info.param).name,
                          std::get<1>(info.param) ? "_Stream" : "_Unary");
    });

}  // namespace
}  // namespace gengate::integration
