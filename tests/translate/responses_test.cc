#include "translate/responses.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "translate/common.h"
#include "translate/fixtures.h"
#include "translate/struct_json.h"

namespace gengate::translate {
namespace {

using fixtures::FixtureNames;
using fixtures::FixtureTestName;
using fixtures::LoadFixture;
using fixtures::SplitEvents;
using fixtures::SseEvent;
using fixtures::StreamBytes;
using nlohmann::json;
using testing::HasSubstr;
using testing::Not;
using testing::StartsWith;
using Kind = ResponseStreamEventKind;

// ---------------------------------------------------------------------------------------------
// Fixture access.

// True when `object` has `key` with a non-null value.
bool IsSet(const json& object, const char* key) {
  return object.is_object() && object.contains(key) && !object.at(key).is_null();
}

std::int64_t IntOrZero(const json& object, const char* key) {
  return IsSet(object, key) ? object.at(key).get<std::int64_t>() : 0;
}

std::string StringOrEmpty(const json& object, const char* key) {
  return IsSet(object, key) ? object.at(key).get<std::string>() : "";
}

const json& ArrayOrEmpty(const json& object, const char* key) {
  static const json kEmpty = json::array();
  return IsSet(object, key) ? object.at(key) : kEmpty;
}

// The test's own table of upstream names, independent of the code under test.
v1::ResponseStatus ExpectedStatus(const std::string& name) {
  static const auto* const kNames = new std::map<std::string, v1::ResponseStatus>{
      {"completed", v1::RESPONSE_STATUS_COMPLETED},
      {"incomplete", v1::RESPONSE_STATUS_INCOMPLETE},
      {"in_progress", v1::RESPONSE_STATUS_IN_PROGRESS},
      {"queued", v1::RESPONSE_STATUS_QUEUED},
      {"failed", v1::RESPONSE_STATUS_FAILED},
      {"cancelled", v1::RESPONSE_STATUS_CANCELLED}};
  auto it = kNames->find(name);
  return it == kNames->end() ? v1::RESPONSE_STATUS_UNSPECIFIED : it->second;
}

// The text of all output_text parts of all message items, computed from the JSON.
std::string OutputTextOf(const json& response) {
  std::string text;
  for (const json& item : ArrayOrEmpty(response, "output")) {
    if (StringOrEmpty(item, "type") != "message") continue;
    for (const json& part : ArrayOrEmpty(item, "content")) {
      if (StringOrEmpty(part, "type") == "output_text") text += StringOrEmpty(part, "text");
    }
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// Field-by-field comparison of parsed protos with the upstream JSON they came from.

std::string BytesOf(const json& array) {
  std::string bytes;
  for (const json& byte : array) bytes.push_back(static_cast<char>(byte.get<int>()));
  return bytes;
}

void ExpectLogprobs(const json& array,
                    const google::protobuf::RepeatedPtrField<v1::TokenLogprob>& out) {
  ASSERT_EQ(static_cast<size_t>(out.size()), array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    const v1::TokenLogprob& token = out[static_cast<int>(i)];
    EXPECT_EQ(token.token(), array[i].at("token").get<std::string>());
    EXPECT_DOUBLE_EQ(token.logprob(), array[i].at("logprob").get<double>());
    EXPECT_EQ(token.bytes(), BytesOf(ArrayOrEmpty(array[i], "bytes")));
    EXPECT_EQ(static_cast<size_t>(token.top_logprobs_size()),
              ArrayOrEmpty(array[i], "top_logprobs").size());
  }
}

void ExpectOutputContent(const json& part, const v1::ResponseOutputContent& out) {
  const std::string type = part.at("type").get<std::string>();
  if (type == "output_text") {
    ASSERT_TRUE(out.has_output_text());
    EXPECT_EQ(out.output_text().text(), part.at("text").get<std::string>());
    EXPECT_EQ(static_cast<size_t>(out.output_text().annotations_size()),
              ArrayOrEmpty(part, "annotations").size());
    ExpectLogprobs(ArrayOrEmpty(part, "logprobs"), out.output_text().logprobs());
  } else if (type == "refusal") {
    EXPECT_EQ(out.refusal(), part.at("refusal").get<std::string>());
  } else {
    ADD_FAILURE() << "fixture part type not covered by the test: " << type;
  }
}

void ExpectItem(const json& item, const v1::ResponseOutputItem& out) {
  const std::string type = item.at("type").get<std::string>();
  EXPECT_EQ(out.type(), type);
  if (type == "message") {
    ASSERT_TRUE(out.has_message());
    const v1::ResponseOutputMessage& message = out.message();
    EXPECT_EQ(message.id(), StringOrEmpty(item, "id"));
    EXPECT_EQ(message.role(), StringOrEmpty(item, "role"));
    EXPECT_EQ(message.status(), StringOrEmpty(item, "status"));
    const json& content = ArrayOrEmpty(item, "content");
    ASSERT_EQ(static_cast<size_t>(message.content_size()), content.size());
    for (size_t i = 0; i < content.size(); ++i) {
      SCOPED_TRACE(testing::Message() << "content[" << i << "]");
      ExpectOutputContent(content[i], message.content(static_cast<int>(i)));
    }
  } else if (type == "function_call") {
    ASSERT_TRUE(out.has_function_call());
    const v1::ResponseFunctionCall& call = out.function_call();
    EXPECT_EQ(call.id(), StringOrEmpty(item, "id"));
    EXPECT_EQ(call.call_id(), StringOrEmpty(item, "call_id"));
    EXPECT_EQ(call.name(), StringOrEmpty(item, "name"));
    EXPECT_EQ(call.arguments(), StringOrEmpty(item, "arguments"));
    EXPECT_EQ(call.status(), StringOrEmpty(item, "status"));
  } else if (type == "reasoning") {
    ASSERT_TRUE(out.has_reasoning());
    const v1::ResponseReasoning& reasoning = out.reasoning();
    EXPECT_EQ(reasoning.id(), StringOrEmpty(item, "id"));
    EXPECT_EQ(reasoning.has_encrypted_content(), IsSet(item, "encrypted_content"));
    EXPECT_EQ(reasoning.encrypted_content(), StringOrEmpty(item, "encrypted_content"));
    EXPECT_EQ(static_cast<size_t>(reasoning.summary_size()), ArrayOrEmpty(item, "summary").size());
    EXPECT_EQ(static_cast<size_t>(reasoning.content_size()), ArrayOrEmpty(item, "content").size());
    EXPECT_EQ(reasoning.status(), StringOrEmpty(item, "status"));
  } else {
    ASSERT_TRUE(out.has_other()) << type;
    EXPECT_EQ(StructToJson(out.other()), item);
  }
}

void ExpectUsage(const json& usage, const v1::ResponseUsage& out) {
  EXPECT_EQ(out.input_tokens(), IntOrZero(usage, "input_tokens"));
  EXPECT_EQ(out.output_tokens(), IntOrZero(usage, "output_tokens"));
  EXPECT_EQ(out.total_tokens(), IntOrZero(usage, "total_tokens"));
  EXPECT_EQ(out.has_input_tokens_details(), IsSet(usage, "input_tokens_details"));
  if (IsSet(usage, "input_tokens_details")) {
    EXPECT_EQ(out.input_tokens_details().cached_tokens(),
              IntOrZero(usage.at("input_tokens_details"), "cached_tokens"));
  }
  EXPECT_EQ(out.has_output_tokens_details(), IsSet(usage, "output_tokens_details"));
  if (IsSet(usage, "output_tokens_details")) {
    EXPECT_EQ(out.output_tokens_details().reasoning_tokens(),
              IntOrZero(usage.at("output_tokens_details"), "reasoning_tokens"));
  }
}

void ExpectResponse(const json& body, const v1::Response& out) {
  EXPECT_EQ(out.id(), body.at("id").get<std::string>());
  EXPECT_EQ(out.created_at(), body.at("created_at").get<std::int64_t>());
  EXPECT_EQ(out.model(), body.at("model").get<std::string>());
  EXPECT_EQ(out.raw_status(), body.at("status").get<std::string>());
  EXPECT_EQ(out.status(), ExpectedStatus(body.at("status").get<std::string>()));
  EXPECT_NE(out.status(), v1::RESPONSE_STATUS_UNSPECIFIED);

  const json& output = ArrayOrEmpty(body, "output");
  ASSERT_EQ(static_cast<size_t>(out.output_size()), output.size());
  for (size_t i = 0; i < output.size(); ++i) {
    SCOPED_TRACE(testing::Message() << "output[" << i << "]");
    ExpectItem(output[i], out.output(static_cast<int>(i)));
  }
  EXPECT_EQ(out.output_text(), OutputTextOf(body));

  EXPECT_EQ(out.has_usage(), IsSet(body, "usage"));
  if (IsSet(body, "usage")) ExpectUsage(body.at("usage"), out.usage());
  EXPECT_EQ(out.has_error(), IsSet(body, "error"));
  if (IsSet(body, "error")) {
    EXPECT_EQ(out.error().code(), StringOrEmpty(body.at("error"), "code"));
    EXPECT_EQ(out.error().message(), StringOrEmpty(body.at("error"), "message"));
  }
  EXPECT_EQ(out.has_incomplete_details(), IsSet(body, "incomplete_details"));
  if (IsSet(body, "incomplete_details")) {
    EXPECT_EQ(out.incomplete_details().reason(),
              StringOrEmpty(body.at("incomplete_details"), "reason"));
  }
  EXPECT_EQ(out.has_completed_at(), IsSet(body, "completed_at"));
  EXPECT_EQ(out.completed_at(), IntOrZero(body, "completed_at"));
  EXPECT_EQ(out.has_instructions(), IsSet(body, "instructions"));
  EXPECT_EQ(out.instructions(), StringOrEmpty(body, "instructions"));
  EXPECT_EQ(out.has_previous_response_id(), IsSet(body, "previous_response_id"));
  EXPECT_EQ(out.has_max_output_tokens(), IsSet(body, "max_output_tokens"));
  EXPECT_EQ(out.max_output_tokens(), IntOrZero(body, "max_output_tokens"));
  EXPECT_EQ(out.has_temperature(), IsSet(body, "temperature"));
  if (IsSet(body, "temperature")) {
    EXPECT_DOUBLE_EQ(out.temperature(), body.at("temperature").get<double>());
  }
  EXPECT_EQ(out.has_top_p(), IsSet(body, "top_p"));
  EXPECT_EQ(out.service_tier(), StringOrEmpty(body, "service_tier"));
  EXPECT_EQ(out.has_background(), IsSet(body, "background"));
  EXPECT_EQ(out.has_store(), IsSet(body, "store"));
  if (IsSet(body, "store")) {
    EXPECT_EQ(out.store(), body.at("store").get<bool>());
  }
  EXPECT_EQ(static_cast<size_t>(out.metadata_size()),
            IsSet(body, "metadata") ? body.at("metadata").size() : 0u);
}

// ---------------------------------------------------------------------------------------------
// Unary answers: every responses-unary-* fixture, checked field by field against its own body.

class ResponseUnaryFixtureTest : public testing::TestWithParam<std::string> {};

TEST_P(ResponseUnaryFixtureTest, MapsBodyFieldByField) {
  const json fixture = LoadFixture(GetParam());
  const json& body = fixture.at("body");
  ASSERT_TRUE(body.is_object());
  absl::StatusOr<v1::Response> response = ResponseFromUpstreamJson(body.dump());
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectResponse(body, *response);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ResponseUnaryFixtureTest,
                         testing::ValuesIn(FixtureNames("responses-unary-")), FixtureTestName);

TEST(ResponseUnaryFixtureSetTest, HasAllRecordedFixtures) {
  EXPECT_GE(FixtureNames("responses-unary-").size(), 3u);
}

absl::StatusOr<v1::Response> ParseFixtureBody(const std::string& name) {
  return ResponseFromUpstreamJson(LoadFixture(name).at("body").dump());
}

TEST(ResponseFromUpstreamJsonTest, IncompleteFixtureKeepsReasonAndPartialText) {
  const json body = LoadFixture("responses-unary-incomplete-max-output-tokens-vercel.json")["body"];
  absl::StatusOr<v1::Response> response =
      ParseFixtureBody("responses-unary-incomplete-max-output-tokens-vercel.json");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status(), v1::RESPONSE_STATUS_INCOMPLETE);
  EXPECT_EQ(response->incomplete_details().reason(),
            body["incomplete_details"]["reason"].get<std::string>());
  EXPECT_EQ(response->output_text(),
            body["output"][0]["content"][0]["text"].get<std::string>());
  EXPECT_EQ(response->output(0).message().status(), "incomplete");
  EXPECT_FALSE(response->has_error());
}

TEST(ResponseFromUpstreamJsonTest, ParallelFunctionCallsFixtureHasNoText) {
  const json body = LoadFixture("responses-unary-parallel-function-calls-ruby-llm.json")["body"];
  absl::StatusOr<v1::Response> response =
      ParseFixtureBody("responses-unary-parallel-function-calls-ruby-llm.json");
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->output_size(), 3);
  EXPECT_TRUE(response->output(0).has_reasoning());
  for (int i = 1; i < 3; ++i) {
    const v1::ResponseFunctionCall& call = response->output(i).function_call();
    EXPECT_EQ(call.name(), body["output"][i]["name"].get<std::string>());
    EXPECT_EQ(call.arguments(), body["output"][i]["arguments"].get<std::string>());
    EXPECT_EQ(call.call_id(), body["output"][i]["call_id"].get<std::string>());
  }
  EXPECT_EQ(response->output_text(), "");
  EXPECT_EQ(response->usage().output_tokens_details().reasoning_tokens(),
            body["usage"]["output_tokens_details"]["reasoning_tokens"].get<int>());
}

TEST(ResponseFromUpstreamJsonTest, ReasoningThenMessageFixture) {
  const json body = LoadFixture("responses-unary-reasoning-and-message-ruby-llm.json")["body"];
  absl::StatusOr<v1::Response> response =
      ParseFixtureBody("responses-unary-reasoning-and-message-ruby-llm.json");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->output(0).reasoning().encrypted_content(),
            body["output"][0]["encrypted_content"].get<std::string>());
  EXPECT_EQ(response->output_text(), body["output"][1]["content"][0]["text"].get<std::string>());
  EXPECT_EQ(response->usage().total_tokens(), body["usage"]["total_tokens"].get<int>());
  EXPECT_EQ(response->usage().input_tokens_details().cached_tokens(),
            body["usage"]["input_tokens_details"]["cached_tokens"].get<int>());
}

TEST(ResponseFromUpstreamJsonTest, MapsEveryItemTypeAndJoinsTextWithoutSeparator) {
  const json body = json::parse(R"json({
    "id": "resp_1", "object": "response", "created_at": 1700000000, "model": "gpt-4o",
    "status": "completed", "metadata": {"team": "search", "n": 3},
    "output": [
      {"type": "web_search_call", "id": "ws_1", "status": "completed",
       "action": {"type": "search", "query": "rivers of europe",
                  "sources": [{"type": "url", "url": "https://a.example"},
                              {"type": "url", "url": "https://b.example"}]}},
      {"type": "reasoning", "id": "rs_1",
       "summary": [{"type": "summary_text", "text": "Looked up."},
                   {"type": "summary_text", "text": "Picked two."}],
       "content": [{"type": "reasoning_text", "text": "thinking"}]},
      {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
       "content": [
         {"type": "output_text", "text": "The Danube",
          "annotations": [{"type": "url_citation", "start_index": 4, "end_index": 10,
                           "url": "https://a.example", "title": "A"},
                          {"type": "file_citation", "file_id": "file_9",
                           "filename": "rivers.pdf", "index": 3}]},
         {"type": "refusal", "refusal": "not that"},
         {"type": "output_text", "text": " and the Rhine."}]},
      {"type": "message", "id": "msg_2", "role": "assistant", "status": "completed",
       "content": [{"type": "output_text", "text": "!", "annotations": []}]},
      {"type": "file_search_call", "id": "fs_1", "status": "completed",
       "queries": ["rivers"], "results": null}
    ]})json");
  absl::StatusOr<v1::Response> response = ResponseFromUpstreamJson(body.dump());
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->output_size(), 5);

  const v1::ResponseWebSearchCall& search = response->output(0).web_search_call();
  EXPECT_EQ(search.id(), "ws_1");
  EXPECT_EQ(search.status(), "completed");
  EXPECT_EQ(search.action_type(), "search");
  EXPECT_EQ(search.query(), "rivers of europe");
  EXPECT_THAT(search.source_urls(), testing::ElementsAre("https://a.example", "https://b.example"));

  const v1::ResponseReasoning& reasoning = response->output(1).reasoning();
  EXPECT_THAT(reasoning.summary(), testing::ElementsAre("Looked up.", "Picked two."));
  EXPECT_THAT(reasoning.content(), testing::ElementsAre("thinking"));
  EXPECT_FALSE(reasoning.has_encrypted_content());

  const v1::ResponseOutputMessage& message = response->output(2).message();
  ASSERT_EQ(message.content_size(), 3);
  const v1::ResponseOutputText& first = message.content(0).output_text();
  ASSERT_EQ(first.annotations_size(), 2);
  EXPECT_EQ(first.annotations(0).type(), "url_citation");
  EXPECT_EQ(first.annotations(0).start_index(), 4);
  EXPECT_EQ(first.annotations(0).end_index(), 10);
  EXPECT_EQ(first.annotations(0).url(), "https://a.example");
  EXPECT_EQ(first.annotations(0).title(), "A");
  EXPECT_EQ(first.annotations(1).type(), "file_citation");
  EXPECT_EQ(first.annotations(1).file_id(), "file_9");
  EXPECT_EQ(first.annotations(1).filename(), "rivers.pdf");
  EXPECT_EQ(first.annotations(1).index(), 3);
  EXPECT_EQ(message.content(1).refusal(), "not that");

  // Unknown item types are kept whole, not dropped.
  EXPECT_EQ(response->output(4).type(), "file_search_call");
  ASSERT_TRUE(response->output(4).has_other());
  EXPECT_EQ(StructToJson(response->output(4).other()), body["output"][4]);

  // Refusals are not output text; parts and items join with nothing in between.
  EXPECT_EQ(response->output_text(), "The Danube and the Rhine.!");
  EXPECT_EQ(response->metadata().at("team"), "search");
  EXPECT_EQ(response->metadata().at("n"), "3");
}

TEST(ResponseFromUpstreamJsonTest, FailedQueuedAndUnknownStatuses) {
  absl::StatusOr<v1::Response> failed = ResponseFromUpstreamJson(R"({
    "id": "resp_f", "object": "response", "status": "failed", "output": [],
    "error": {"code": "server_error", "message": "The model crashed."}})");
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->status(), v1::RESPONSE_STATUS_FAILED);
  EXPECT_EQ(failed->error().code(), "server_error");
  EXPECT_EQ(failed->error().message(), "The model crashed.");

  // A background response may come back before it has any output.
  absl::StatusOr<v1::Response> queued = ResponseFromUpstreamJson(
      R"({"id": "resp_q", "object": "response", "status": "queued", "background": true})");
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_EQ(queued->status(), v1::RESPONSE_STATUS_QUEUED);
  EXPECT_TRUE(queued->background());
  EXPECT_FALSE(queued->has_usage());

  absl::StatusOr<v1::Response> future =
      ResponseFromUpstreamJson(R"({"id": "resp_x", "status": "paused", "output": []})");
  ASSERT_TRUE(future.ok()) << future.status();
  EXPECT_EQ(future->status(), v1::RESPONSE_STATUS_UNSPECIFIED);
  EXPECT_EQ(future->raw_status(), "paused");
}

// ---------------------------------------------------------------------------------------------
// Ace's chat-completion shaped answer (UPSTREAM.md "Responses API").

struct ChatShapedCase {
  std::string name;
  std::string finish_reason;
  v1::ResponseStatus status;
  std::string raw_status;
  bool incomplete;
};

void PrintTo(const ChatShapedCase& c, std::ostream* os) { *os << c.name; }

class ChatShapedAnswerTest : public testing::TestWithParam<ChatShapedCase> {};

TEST_P(ChatShapedAnswerTest, BecomesOneMessageItem) {
  const json body = {
      {"id", "chatcmpl-ace-1"},
      {"object", "chat.completion"},
      {"created", 1741347648},
      {"model", "gpt-4o"},
      {"choices",
       {{{"index", 0},
         {"message", {{"role", "assistant"}, {"content", "Rivers carve valleys."}}},
         {"finish_reason", GetParam().finish_reason}}}},
      {"usage", {{"prompt_tokens", 12}, {"completion_tokens", 5}, {"total_tokens", 17}}}};
  absl::StatusOr<v1::Response> response = ResponseFromUpstreamJson(body.dump());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->id(), "chatcmpl-ace-1");
  EXPECT_EQ(response->created_at(), 1741347648);
  EXPECT_EQ(response->model(), "gpt-4o");
  EXPECT_EQ(response->status(), GetParam().status);
  EXPECT_EQ(response->raw_status(), GetParam().raw_status);
  EXPECT_EQ(response->has_incomplete_details(), GetParam().incomplete);
  if (GetParam().incomplete) {
    EXPECT_EQ(response->incomplete_details().reason(), "max_output_tokens");
  }
  ASSERT_EQ(response->output_size(), 1);
  EXPECT_EQ(response->output(0).type(), "message");
  const v1::ResponseOutputMessage& message = response->output(0).message();
  EXPECT_EQ(message.role(), "assistant");
  ASSERT_EQ(message.content_size(), 1);
  EXPECT_EQ(message.content(0).output_text().text(), "Rivers carve valleys.");
  EXPECT_EQ(response->output_text(), "Rivers carve valleys.");
  EXPECT_EQ(response->usage().input_tokens(), 12);
  EXPECT_EQ(response->usage().output_tokens(), 5);
  EXPECT_EQ(response->usage().total_tokens(), 17);
  EXPECT_FALSE(response->has_error());
}

INSTANTIATE_TEST_SUITE_P(
    FinishReasons, ChatShapedAnswerTest,
    testing::Values(
        ChatShapedCase{"Stop", "stop", v1::RESPONSE_STATUS_COMPLETED, "completed", false},
        ChatShapedCase{"Length", "length", v1::RESPONSE_STATUS_INCOMPLETE, "incomplete", true}),
    [](const testing::TestParamInfo<ChatShapedCase>& info) { return info.param.name; });

TEST(ChatShapedAnswerParseTest, SeveralChoicesInIndexOrderAndToolCalls) {
  absl::StatusOr<v1::Response> response = ResponseFromUpstreamJson(R"json({
    "id": "chatcmpl-2", "object": "chat.completion", "created": 5, "model": "gpt-4o",
    "choices": [
      {"index": 1, "message": {"role": "assistant", "content": "second"},
       "finish_reason": "length"},
      {"index": 0, "message": {"role": "assistant", "content": "first"},
       "finish_reason": "stop"},
      {"index": 2, "message": {"role": "assistant", "content": null,
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
       "finish_reason": "tool_calls"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
              "prompt_tokens_details": {"cached_tokens": 2},
              "completion_tokens_details": {"reasoning_tokens": 1}}})json");
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->output_size(), 3);
  EXPECT_EQ(response->output(0).message().content(0).output_text().text(), "first");
  EXPECT_EQ(response->output(0).message().status(), "completed");
  EXPECT_EQ(response->output(1).message().content(0).output_text().text(), "second");
  EXPECT_EQ(response->output(1).message().status(), "incomplete");
  // A choice that only calls a tool gives a function_call item and no empty message.
  EXPECT_EQ(response->output(2).type(), "function_call");
  EXPECT_EQ(response->output(2).function_call().call_id(), "call_1");
  EXPECT_EQ(response->output(2).function_call().name(), "weather");
  EXPECT_EQ(response->output(2).function_call().arguments(), R"({"city":"Oslo"})");
  EXPECT_EQ(response->output_text(), "firstsecond");
  EXPECT_EQ(response->status(), v1::RESPONSE_STATUS_INCOMPLETE);
  EXPECT_EQ(response->usage().input_tokens_details().cached_tokens(), 2);
  EXPECT_EQ(response->usage().output_tokens_details().reasoning_tokens(), 1);
}

TEST(ChatShapedAnswerParseTest, OutputWinsOverChoices) {
  absl::StatusOr<v1::Response> response = ResponseFromUpstreamJson(R"({
    "id": "resp_both", "status": "completed", "created_at": 9,
    "output": [{"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": "real"}]}],
    "choices": [{"index": 0, "message": {"content": "chat"}}]})");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->output_text(), "real");
  EXPECT_EQ(response->created_at(), 9);
}

class ResponseBadBodyTest : public testing::TestWithParam<std::string> {};

TEST_P(ResponseBadBodyTest, IsInternalWithShortMessageWithoutTheBody) {
  const absl::StatusOr<v1::Response> response = ResponseFromUpstreamJson(GetParam());
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInternal);
  EXPECT_LE(response.status().message().size(), 80u);
  EXPECT_THAT(std::string(response.status().message()), Not(HasSubstr("secret")));
}

INSTANTIATE_TEST_SUITE_P(Bodies, ResponseBadBodyTest,
                         testing::Values("", "<html><body>secret gateway page</body></html>",
                                         R"({"output": [)", "[1, 2, 3]", R"("secret")",
                                         R"({"id": "secret", "status": "completed"})",
                                         R"({"choices": "secret", "output": {"a": 1}})",
                                         R"({"success": false, "error": {"code": "secret"}})"));

// ---------------------------------------------------------------------------------------------
// Streams: every responses-stream-* fixture, split into SSE events (fixtures.h).

struct ParsedEvent {
  SseEvent sse;
  Kind kind = Kind::kEvent;
  v1::ResponseEvent event;
};

std::vector<ParsedEvent> ReplayStream(const std::string& name) {
  std::vector<ParsedEvent> out;
  // One message reused for every event, as the service does.
  v1::ResponseEvent event;
  for (SseEvent& sse : SplitEvents(StreamBytes(LoadFixture(name).at("sse_chunks")))) {
    absl::StatusOr<Kind> kind = ParseResponseStreamEvent(sse.type, sse.data, event);
    EXPECT_TRUE(kind.ok()) << kind.status() << " for " << sse.data.substr(0, 200);
    if (!kind.ok()) continue;
    out.push_back({std::move(sse), *kind, event});
  }
  return out;
}

// The test's own table of what each type means for the stream.
Kind ExpectedKind(const std::string& type) {
  if (type == "response.completed" || type == "response.incomplete") return Kind::kTerminalOk;
  if (type == "response.failed" || type == "error") return Kind::kFailed;
  return Kind::kEvent;
}

void ExpectOptionalString(const json& payload, const char* key, bool has,
                          const std::string& value) {
  EXPECT_EQ(has, IsSet(payload, key)) << key;
  EXPECT_EQ(value, StringOrEmpty(payload, key)) << key;
}

void ExpectOptionalInt(const json& payload, const char* key, bool has, std::int64_t value) {
  EXPECT_EQ(has, IsSet(payload, key)) << key;
  EXPECT_EQ(value, IntOrZero(payload, key)) << key;
}

void ExpectEventMatchesPayload(const SseEvent& sse, const json& payload,
                               const v1::ResponseEvent& event, Kind kind) {
  const std::string type =
      IsSet(payload, "type") ? payload.at("type").get<std::string>() : sse.type;
  // Where the fixture has `event:` lines they agree with the JSON type.
  if (!sse.type.empty()) {
    EXPECT_EQ(sse.type, type);
  }
  EXPECT_EQ(event.type(), type);
  EXPECT_EQ(kind, ExpectedKind(type));
  EXPECT_EQ(event.sequence_number(), IntOrZero(payload, "sequence_number"));
  ExpectOptionalString(payload, "delta", event.has_delta(), event.delta());
  ExpectOptionalString(payload, "item_id", event.has_item_id(), event.item_id());
  ExpectOptionalInt(payload, "output_index", event.has_output_index(), event.output_index());
  ExpectOptionalInt(payload, "content_index", event.has_content_index(), event.content_index());
  ExpectOptionalString(payload, "arguments", event.has_arguments(), event.arguments());
  if (type != "response.refusal.done") {
    ExpectOptionalString(payload, "text", event.has_text(), event.text());
  }
  EXPECT_EQ(event.has_item(), IsSet(payload, "item"));
  if (IsSet(payload, "item")) ExpectItem(payload.at("item"), event.item());
  EXPECT_EQ(event.has_response(), IsSet(payload, "response"));
  if (IsSet(payload, "response")) ExpectResponse(payload.at("response"), event.response());
  EXPECT_EQ(event.has_part(), IsSet(payload, "part"));
  if (IsSet(payload, "part")) ExpectOutputContent(payload.at("part"), event.part());
  ExpectLogprobs(ArrayOrEmpty(payload, "logprobs"), event.logprobs());
  EXPECT_EQ(event.has_error(), type == "error");
  if (type == "error") {
    const json& error = IsSet(payload, "error") ? payload.at("error") : payload;
    EXPECT_EQ(event.error().code(), StringOrEmpty(error, "code"));
    EXPECT_EQ(event.error().message(), StringOrEmpty(error, "message"));
  }
  // Every type in the fixtures has typed fields.
  EXPECT_FALSE(event.has_other());
}

class ResponseStreamFixtureTest : public testing::TestWithParam<std::string> {};

TEST_P(ResponseStreamFixtureTest, EveryEventMatchesItsPayload) {
  const std::vector<ParsedEvent> events = ReplayStream(GetParam());
  ASSERT_GE(events.size(), 3u);
  std::string text_deltas;
  std::string fixture_text_deltas;
  const v1::Response* terminal = nullptr;
  for (size_t i = 0; i < events.size(); ++i) {
    const ParsedEvent& parsed = events[i];
    SCOPED_TRACE(testing::Message() << "event " << i << ": " << parsed.sse.data.substr(0, 160));
    if (parsed.sse.data == "[DONE]") {
      EXPECT_EQ(parsed.kind, Kind::kDone);
      EXPECT_EQ(i, events.size() - 1) << "[DONE] is the last event";
      continue;
    }
    const json payload = json::parse(parsed.sse.data);
    ExpectEventMatchesPayload(parsed.sse, payload, parsed.event, parsed.kind);
    if (parsed.event.type() == "response.output_text.delta") {
      text_deltas += parsed.event.delta();
      fixture_text_deltas += payload.at("delta").get<std::string>();
    }
    if (parsed.kind == Kind::kTerminalOk || parsed.kind == Kind::kFailed) {
      if (parsed.event.has_response()) terminal = &parsed.event.response();
    }
  }
  EXPECT_EQ(text_deltas, fixture_text_deltas);
  // The stream ends with a terminal event (then perhaps [DONE]) that carries the response.
  const ParsedEvent& last =
      events.back().kind == Kind::kDone ? events[events.size() - 2] : events.back();
  EXPECT_THAT(last.kind, testing::AnyOf(Kind::kTerminalOk, Kind::kFailed));
  ASSERT_NE(terminal, nullptr);
  EXPECT_EQ(terminal->output_text(), text_deltas);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ResponseStreamFixtureTest,
                         testing::ValuesIn(FixtureNames("responses-stream-")), FixtureTestName);

TEST(ResponseStreamFixtureSetTest, HasAllRecordedFixtures) {
  EXPECT_GE(FixtureNames("responses-stream-").size(), 6u);
}

std::vector<Kind> KindsOf(const std::vector<ParsedEvent>& events) {
  std::vector<Kind> kinds;
  for (const ParsedEvent& event : events) kinds.push_back(event.kind);
  return kinds;
}

// The text of the last response.output_text.done event, from the fixture's JSON.
std::string LastDoneText(const std::vector<ParsedEvent>& events) {
  std::string text;
  for (const ParsedEvent& event : events) {
    if (event.sse.data == "[DONE]") continue;
    const json payload = json::parse(event.sse.data);
    if (payload.value("type", "") == "response.output_text.done") {
      text = payload.at("text").get<std::string>();
    }
  }
  return text;
}

std::string TextDeltas(const std::vector<ParsedEvent>& events) {
  std::string text;
  for (const ParsedEvent& event : events) {
    if (event.event.type() == "response.output_text.delta") text += event.event.delta();
  }
  return text;
}

struct StreamOutcomeCase {
  std::string fixture;
  Kind terminal_kind;
  bool ends_with_done;
  v1::ResponseStatus terminal_status;
};

void PrintTo(const StreamOutcomeCase& c, std::ostream* os) { *os << c.fixture; }

class ResponseStreamOutcomeTest : public testing::TestWithParam<StreamOutcomeCase> {};

TEST_P(ResponseStreamOutcomeTest, EndsAsTheFixtureDoes) {
  const std::vector<ParsedEvent> events = ReplayStream(GetParam().fixture);
  ASSERT_GE(events.size(), 2u);
  const std::vector<Kind> kinds = KindsOf(events);
  EXPECT_EQ(kinds.back() == Kind::kDone, GetParam().ends_with_done);
  const size_t terminal_index = GetParam().ends_with_done ? events.size() - 2 : events.size() - 1;
  EXPECT_EQ(kinds[terminal_index], GetParam().terminal_kind);
  // Every event before the first failure or terminal one is ordinary.
  for (size_t i = 0; i < terminal_index; ++i) {
    if (kinds[i] != Kind::kEvent) {
      EXPECT_EQ(kinds[i], Kind::kFailed) << i;  // `error` precedes response.failed
      EXPECT_EQ(events[i].event.type(), "error");
    }
  }
  ASSERT_TRUE(events[terminal_index].event.has_response());
  EXPECT_EQ(events[terminal_index].event.response().status(), GetParam().terminal_status);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, ResponseStreamOutcomeTest,
    testing::Values(
        StreamOutcomeCase{"responses-stream-data-only-azure-vercel.json", Kind::kTerminalOk, true,
                          v1::RESPONSE_STATUS_COMPLETED},
        StreamOutcomeCase{"responses-stream-error-then-failed-vercel.json", Kind::kFailed, true,
                          v1::RESPONSE_STATUS_FAILED},
        StreamOutcomeCase{"responses-stream-function-call-args-ruby-llm.json",
                          Kind::kTerminalOk, false, v1::RESPONSE_STATUS_COMPLETED},
        StreamOutcomeCase{"responses-stream-incomplete-data-nospace-vercel.json",
                          Kind::kTerminalOk, false, v1::RESPONSE_STATUS_INCOMPLETE},
        StreamOutcomeCase{"responses-stream-logprobs-pydantic.json", Kind::kTerminalOk, false,
                          v1::RESPONSE_STATUS_COMPLETED},
        StreamOutcomeCase{"responses-stream-text-ruby-llm.json", Kind::kTerminalOk, false,
                          v1::RESPONSE_STATUS_COMPLETED}),
    [](const testing::TestParamInfo<StreamOutcomeCase>& info) {
      return FixtureTestName(testing::TestParamInfo<std::string>(info.param.fixture, info.index));
    });

class ResponseStreamTextTest : public testing::TestWithParam<std::string> {};

TEST_P(ResponseStreamTextTest, DeltasAddUpToTheDoneText) {
  const std::vector<ParsedEvent> events = ReplayStream(GetParam());
  const std::string done_text = LastDoneText(events);
  ASSERT_FALSE(done_text.empty());
  EXPECT_EQ(TextDeltas(events), done_text);
}

// The vercel-derived incomplete stream is left out: its output_text.done says "Hello,!" under
// another item id while its deltas, content_part.done and final response all say "Hello,"
// (EveryEventMatchesItsPayload checks the deltas against that final response).
INSTANTIATE_TEST_SUITE_P(Fixtures, ResponseStreamTextTest,
                         testing::Values("responses-stream-data-only-azure-vercel.json",
                                         "responses-stream-logprobs-pydantic.json",
                                         "responses-stream-text-ruby-llm.json"),
                         FixtureTestName);

TEST(ResponseStreamReplayTest, IncompleteFixtureKeepsItsOwnDoneText) {
  const std::vector<ParsedEvent> events =
      ReplayStream("responses-stream-incomplete-data-nospace-vercel.json");
  const std::string done_text = LastDoneText(events);
  for (const ParsedEvent& event : events) {
    if (event.event.type() == "response.output_text.done") {
      EXPECT_EQ(event.event.text(), done_text);
    }
    if (event.event.type() == "response.incomplete") {
      EXPECT_EQ(event.event.response().incomplete_details().reason(), "max_output_tokens");
      EXPECT_EQ(event.event.response().output_text(), TextDeltas(events));
    }
  }
  EXPECT_NE(TextDeltas(events), done_text);  // the fixture's quirk is still there
}

TEST(ResponseStreamReplayTest, FunctionCallArgumentsAssemble) {
  const std::vector<ParsedEvent> events =
      ReplayStream("responses-stream-function-call-args-ruby-llm.json");
  std::string deltas;
  std::string done_arguments;
  std::string added_name;
  const v1::ResponseEvent* completed = nullptr;
  int delta_count = 0;
  for (const ParsedEvent& event : events) {
    const v1::ResponseEvent& e = event.event;
    if (e.type() == "response.function_call_arguments.delta") {
      deltas += e.delta();
      ++delta_count;
    }
    if (e.type() == "response.function_call_arguments.done") done_arguments = e.arguments();
    if (e.type() == "response.output_item.added" && e.item().has_function_call()) {
      added_name = e.item().function_call().name();
    }
    if (e.type() == "response.completed") completed = &e;
  }
  const json fixture_done = [&] {
    for (const ParsedEvent& event : events) {
      if (event.sse.data == "[DONE]") continue;
      const json payload = json::parse(event.sse.data);
      if (payload.at("type") == "response.function_call_arguments.done") return payload;
    }
    return json::object();
  }();
  EXPECT_EQ(delta_count, 15);
  EXPECT_EQ(deltas, fixture_done.at("arguments").get<std::string>());
  EXPECT_EQ(done_arguments, deltas);
  ASSERT_NE(completed, nullptr);
  const v1::Response& response = completed->response();
  ASSERT_EQ(response.output_size(), 2);
  EXPECT_EQ(response.output(1).function_call().name(), added_name);
  EXPECT_EQ(response.output(1).function_call().arguments(), deltas);
  EXPECT_EQ(response.output_text(), "");
}

TEST(ResponseStreamReplayTest, ErrorEventThenFailed) {
  const json fixture = LoadFixture("responses-stream-error-then-failed-vercel.json");
  const std::vector<ParsedEvent> events =
      ReplayStream("responses-stream-error-then-failed-vercel.json");
  EXPECT_EQ(KindsOf(events), (std::vector<Kind>{Kind::kEvent, Kind::kEvent, Kind::kFailed,
                                                Kind::kFailed, Kind::kDone}));
  const json error_payload = json::parse(events[2].sse.data);
  EXPECT_EQ(events[2].event.type(), "error");
  EXPECT_EQ(events[2].event.sequence_number(), 2);
  EXPECT_EQ(events[2].event.error().code(), error_payload["error"]["code"].get<std::string>());
  EXPECT_EQ(events[2].event.error().message(),
            error_payload["error"]["message"].get<std::string>());
  EXPECT_EQ(events[2].event.error().type(), error_payload["error"]["type"].get<std::string>());
  const v1::Response& failed = events[3].event.response();
  EXPECT_EQ(failed.status(), v1::RESPONSE_STATUS_FAILED);
  EXPECT_EQ(failed.error().code(), "insufficient_quota");
}

TEST(ResponseStreamReplayTest, LogprobsOnDeltas) {
  const std::vector<ParsedEvent> events = ReplayStream("responses-stream-logprobs-pydantic.json");
  int deltas_with_logprobs = 0;
  for (const ParsedEvent& event : events) {
    if (event.event.type() != "response.output_text.delta") continue;
    ASSERT_EQ(event.event.logprobs_size(), 1);
    EXPECT_EQ(event.event.logprobs(0).token(), event.event.delta());
    EXPECT_EQ(event.event.logprobs(0).bytes(), event.event.delta());
    ++deltas_with_logprobs;
  }
  EXPECT_EQ(deltas_with_logprobs, 9);
  EXPECT_EQ(events.front().event.response().instructions(), "You are a helpful assistant.");
}

// ---------------------------------------------------------------------------------------------
// ParseResponseStreamEvent on hand-written events.

TEST(ParseResponseStreamEventTest, TypeComesFromJsonBeforeEventField) {
  v1::ResponseEvent event;
  absl::StatusOr<Kind> kind = ParseResponseStreamEvent(
      "message", R"({"type":"response.output_text.delta","sequence_number":7,"delta":"x"})",
      event);
  ASSERT_TRUE(kind.ok()) << kind.status();
  EXPECT_EQ(*kind, Kind::kEvent);
  EXPECT_EQ(event.type(), "response.output_text.delta");
  EXPECT_EQ(event.sequence_number(), 7);
  EXPECT_EQ(event.delta(), "x");
}

TEST(ParseResponseStreamEventTest, FallsBackToEventField) {
  v1::ResponseEvent event;
  absl::StatusOr<Kind> kind = ParseResponseStreamEvent(
      "response.completed", R"({"response":{"id":"resp_1","status":"completed","output":[]}})",
      event);
  ASSERT_TRUE(kind.ok()) << kind.status();
  EXPECT_EQ(*kind, Kind::kTerminalOk);
  EXPECT_EQ(event.type(), "response.completed");
  EXPECT_EQ(event.response().id(), "resp_1");
}

struct KindCase {
  std::string type;
  Kind kind;
};

void PrintTo(const KindCase& c, std::ostream* os) { *os << c.type; }

class ResponseStreamKindTest : public testing::TestWithParam<KindCase> {};

TEST_P(ResponseStreamKindTest, TypeDecidesKind) {
  v1::ResponseEvent event;
  const json data = {{"type", GetParam().type}, {"sequence_number", 3}};
  absl::StatusOr<Kind> kind = ParseResponseStreamEvent("", data.dump(), event);
  ASSERT_TRUE(kind.ok()) << kind.status();
  EXPECT_EQ(*kind, GetParam().kind);
  EXPECT_EQ(event.type(), GetParam().type);
  EXPECT_EQ(event.sequence_number(), 3);
}

INSTANTIATE_TEST_SUITE_P(
    Types, ResponseStreamKindTest,
    testing::Values(KindCase{"response.completed", Kind::kTerminalOk},
                    KindCase{"response.incomplete", Kind::kTerminalOk},
                    KindCase{"response.failed", Kind::kFailed}, KindCase{"error", Kind::kFailed},
                    KindCase{"response.created", Kind::kEvent},
                    KindCase{"response.queued", Kind::kEvent},
                    KindCase{"response.output_text.delta", Kind::kEvent},
                    KindCase{"response.cancelled", Kind::kEvent},
                    KindCase{"response.image_generation_call.partial_image", Kind::kEvent}),
    [](const testing::TestParamInfo<KindCase>& info) {
      std::string name = info.param.type;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

// `depth` arrays one inside the other around `inner`: "[[[...inner...]]]".
std::string Nested(int depth, const std::string& inner = "1") {
  return std::string(depth, '[') + inner + std::string(depth, ']');
}

// Nesting costs the stack a frame per level where an answer is dumped or made a Struct: a
// deep one is refused as malformed (it used to overflow the stack of the event loop).
TEST(ParseResponseStreamEventTest, NestingPastTheLimitIsInternal) {
  for (const std::string& data :
       {absl::StrCat(R"({"type":"response.output_text.delta","delta":)", Nested(100000), "}"),
        absl::StrCat(R"({"type":"response.mcp_call.in_progress","server":)",
                     Nested(kMaxJsonDepth), "}")}) {
    v1::ResponseEvent event;
    absl::StatusOr<Kind> kind = ParseResponseStreamEvent("", data, event);
    ASSERT_FALSE(kind.ok()) << data.size();
    EXPECT_EQ(kind.status().code(), absl::StatusCode::kInternal);
    EXPECT_THAT(std::string(kind.status().message()), HasSubstr("nests deeper than"));
  }
}

// Up to the limit is fine, and brackets inside strings (escaped quotes included) do not count.
TEST(ParseResponseStreamEventTest, NestingUpToTheLimitIsKept) {
  const std::string brackets = R"("\"[[[[{{{{")";
  const std::string data =
      absl::StrCat(R"({"type":"response.mcp_call.in_progress","server":)",
                   Nested(kMaxJsonDepth - 1, absl::StrCat(brackets, ",", Nested(0))), "}");
  v1::ResponseEvent event;
  absl::StatusOr<Kind> kind = ParseResponseStreamEvent("", data, event);
  ASSERT_TRUE(kind.ok()) << kind.status();
  ASSERT_TRUE(event.has_other());
  EXPECT_EQ(StructToJson(event.other()), json::parse(data));
}

TEST(ResponseFromUpstreamJsonTest, NestingPastTheLimitIsInternal) {
  const std::string body =
      absl::StrCat(R"({"object":"response","output":[{"type":"mcp_list_tools","tools":)",
                   Nested(100000), "}]}");
  const absl::StatusOr<v1::Response> response = ResponseFromUpstreamJson(body);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(response.status().message()), HasSubstr("nests deeper than"));
}

TEST(ParseResponseStreamEventTest, UnknownTypeIsKeptWhole) {
  v1::ResponseEvent event;
  const json data = json::parse(R"({"type":"response.mcp_call.in_progress","sequence_number":9,
      "item_id":"mcp_1","output_index":2,"server":{"label":"docs","tools":[1,2]}})");
  absl::StatusOr<Kind> kind = ParseResponseStreamEvent("", data.dump(), event);
  ASSERT_TRUE(kind.ok()) << kind.status();
  EXPECT_EQ(*kind, Kind::kEvent);
  EXPECT_EQ(event.type(), "response.mcp_call.in_progress");
  EXPECT_EQ(event.sequence_number(), 9);
  EXPECT_EQ(event.item_id(), "mcp_1");
  EXPECT_EQ(event.output_index(), 2);
  ASSERT_TRUE(event.has_other());
  EXPECT_EQ(StructToJson(event.other()), data);
}

class ResponseStreamTypedEventTest : public testing::TestWithParam<std::string> {};

TEST_P(ResponseStreamTypedEventTest, HasNoCopyOfTheWholeEvent) {
  v1::ResponseEvent event;
  const json data = {{"type", GetParam()}, {"sequence_number", 1}};
  absl::StatusOr<Kind> kind = ParseResponseStreamEvent("", data.dump(), event);
  ASSERT_TRUE(kind.ok()) << kind.status();
  EXPECT_FALSE(event.has_other()) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    Types, ResponseStreamTypedEventTest,
    testing::Values("error", "response.completed", "response.content_part.added",
                    "response.content_part.done", "response.created", "response.failed",
                    "response.function_call_arguments.delta",
                    "response.function_call_arguments.done", "response.in_progress",
                    "response.incomplete", "response.output_item.added",
                    "response.output_item.done", "response.output_text.annotation.added",
                    "response.output_text.delta", "response.output_text.done", "response.queued",
                    "response.reasoning_summary_part.added", "response.reasoning_summary_part.done",
                    "response.reasoning_summary_text.delta",
                    "response.reasoning_summary_text.done", "response.reasoning_text.delta",
                    "response.reasoning_text.done", "response.refusal.delta",
                    "response.refusal.done", "response.web_search_call.completed",
                    "response.web_search_call.in_progress", "response.web_search_call.searching"),
    [](const testing::TestParamInfo<std::string>& info) {
      std::string name = info.param;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      return name;
    });

TEST(ParseResponseStreamEventTest, TopLevelErrorEvent) {
  v1::ResponseEvent event;
  absl::StatusOr<Kind> kind = ParseResponseStreamEvent(
      "error",
      R"({"type":"error","code":"server_error","message":"The server had an error.",
          "param":null,"sequence_number":4})",
      event);
  ASSERT_TRUE(kind.ok()) << kind.status();
  EXPECT_EQ(*kind, Kind::kFailed);
  EXPECT_EQ(event.error().code(), "server_error");
  EXPECT_EQ(event.error().message(), "The server had an error.");
  EXPECT_FALSE(event.error().has_param());
  EXPECT_FALSE(event.error().has_type());  // `type` is the event's, not the error's
  EXPECT_EQ(event.sequence_number(), 4);
}

TEST(ParseResponseStreamEventTest, ChatStyleErrorPayloadWithoutTypeIsFailed) {
  v1::ResponseEvent event;
  absl::StatusOr<Kind> kind = ParseResponseStreamEvent(
      "", R"({"error":{"message":"Rate limit reached","type":"requests","code":429}})", event);
  ASSERT_TRUE(kind.ok()) << kind.status();
  EXPECT_EQ(*kind, Kind::kFailed);
  EXPECT_EQ(event.type(), "error");
  EXPECT_EQ(event.error().code(), "429");
  EXPECT_EQ(event.error().message(), "Rate limit reached");
  EXPECT_EQ(event.error().type(), "requests");
}

TEST(ParseResponseStreamEventTest, DoneIsTrimmedAndClearsTheEvent) {
  v1::ResponseEvent event;
  event.set_type("stale");
  event.set_delta("stale");
  absl::StatusOr<Kind> kind = ParseResponseStreamEvent("", " [DONE]\r\n", event);
  ASSERT_TRUE(kind.ok()) << kind.status();
  EXPECT_EQ(*kind, Kind::kDone);
  EXPECT_EQ(event.type(), "");
  EXPECT_FALSE(event.has_delta());
}

class ResponseStreamBadEventTest : public testing::TestWithParam<std::string> {};

TEST_P(ResponseStreamBadEventTest, IsInternalWithoutTheData) {
  v1::ResponseEvent event;
  absl::StatusOr<Kind> kind = ParseResponseStreamEvent("", GetParam(), event);
  ASSERT_FALSE(kind.ok());
  EXPECT_EQ(kind.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(kind.status().message()), Not(HasSubstr("secret")));
}

INSTANTIATE_TEST_SUITE_P(Data, ResponseStreamBadEventTest,
                         testing::Values("", "{\"type\":\"response.created\",\"secret\"",
                                         "[\"secret\"]", "\"secret\"",
                                         R"({"delta":"secret","sequence_number":1})",
                                         R"({"type":"","delta":"secret"})"));

TEST(ParseResponseStreamEventTest, ReusedEventIsCleared) {
  v1::ResponseEvent event;
  ASSERT_TRUE(ParseResponseStreamEvent(
                  "", R"({"type":"response.output_text.delta","item_id":"m","delta":"a",
                         "output_index":0,"content_index":0,"sequence_number":5})",
                  event)
                  .ok());
  ASSERT_TRUE(ParseResponseStreamEvent("", R"({"type":"response.in_progress"})", event).ok());
  EXPECT_EQ(event.type(), "response.in_progress");
  EXPECT_EQ(event.sequence_number(), 0);
  EXPECT_FALSE(event.has_delta());
  EXPECT_FALSE(event.has_item_id());
  EXPECT_FALSE(event.has_output_index());
  EXPECT_FALSE(event.has_content_index());
  EXPECT_FALSE(event.has_response());
}

TEST(ParseResponseStreamEventTest, ReasoningSummaryEvents) {
  v1::ResponseEvent event;
  ASSERT_TRUE(ParseResponseStreamEvent("", R"({"type":"response.reasoning_summary_part.added",
      "item_id":"rs_1","output_index":0,"summary_index":1,
      "part":{"type":"summary_text","text":""},"sequence_number":3})",
                                       event)
                  .ok());
  EXPECT_EQ(event.summary_index(), 1);
  EXPECT_TRUE(event.part().has_summary_text());
  ASSERT_TRUE(ParseResponseStreamEvent("", R"({"type":"response.reasoning_summary_text.done",
      "item_id":"rs_1","output_index":0,"summary_index":1,"text":"Thought hard.",
      "sequence_number":6})",
                                       event)
                  .ok());
  EXPECT_EQ(event.text(), "Thought hard.");
  EXPECT_EQ(event.item_id(), "rs_1");
}

TEST(ParseResponseStreamEventTest, AnnotationRefusalAndWebSearchEvents) {
  v1::ResponseEvent event;
  ASSERT_TRUE(ParseResponseStreamEvent("", R"({"type":"response.output_text.annotation.added",
      "item_id":"msg_1","output_index":1,"content_index":0,"annotation_index":2,
      "annotation":{"type":"url_citation","start_index":1,"end_index":9,
                    "url":"https://a.example","title":"A"},"sequence_number":12})",
                                       event)
                  .ok());
  EXPECT_EQ(event.annotation_index(), 2);
  EXPECT_EQ(event.annotation().url(), "https://a.example");
  EXPECT_EQ(event.annotation().end_index(), 9);

  ASSERT_TRUE(ParseResponseStreamEvent("", R"({"type":"response.refusal.done","item_id":"msg_1",
      "output_index":0,"content_index":0,"refusal":"I can't help with that.",
      "sequence_number":8})",
                                       event)
                  .ok());
  EXPECT_EQ(event.text(), "I can't help with that.");

  ASSERT_TRUE(ParseResponseStreamEvent("", R"({"type":"response.output_item.done",
      "output_index":0,"sequence_number":5,
      "item":{"type":"web_search_call","id":"ws_1","status":"completed",
              "action":{"type":"open_page","url":"https://b.example"}}})",
                                       event)
                  .ok());
  EXPECT_EQ(event.item().type(), "web_search_call");
  EXPECT_EQ(event.item().web_search_call().action_type(), "open_page");
  EXPECT_EQ(event.item().web_search_call().url(), "https://b.example");
}

// ---------------------------------------------------------------------------------------------
// Requests.

google::protobuf::Struct StructFromJson(const char* text) {
  return JsonToStruct(json::parse(text));
}

json RequestJson(const v1::CreateResponseRequest& request, bool stream = false) {
  absl::StatusOr<std::string> body = ResponseRequestToUpstreamJson(request, stream);
  EXPECT_TRUE(body.ok()) << body.status();
  return body.ok() ? json::parse(*body) : json();
}

v1::CreateResponseRequest MinimalRequest() {
  v1::CreateResponseRequest request;
  request.set_model("gpt-4o-mini");
  request.set_input_text("hi");
  return request;
}

v1::ResponseInputItem UserText(const std::string& text) {
  v1::ResponseInputItem item;
  item.mutable_message()->set_role(v1::ROLE_USER);
  item.mutable_message()->set_text(text);
  return item;
}

v1::Role RoleFromRecorded(const std::string& name) {
  static const auto* const kRoles = new std::map<std::string, v1::Role>{
      {"user", v1::ROLE_USER},
      {"assistant", v1::ROLE_ASSISTANT},
      {"system", v1::ROLE_SYSTEM},
      {"developer", v1::ROLE_DEVELOPER}};
  return kRoles->at(name);
}

// Builds the proto a caller would send for a recorded request; fails on keys it does not know
// so that a new fixture cannot pass unnoticed.
v1::CreateResponseRequest RequestFromRecorded(const json& recorded) {
  v1::CreateResponseRequest request;
  for (const auto& [key, value] : recorded.items()) {
    if (key == "model") {
      request.set_model(value.get<std::string>());
    } else if (key == "input" && value.is_string()) {
      request.set_input_text(value.get<std::string>());
    } else if (key == "input") {
      for (const json& message : value) {
        v1::ResponseInputMessage& out = *request.add_input()->mutable_message();
        out.set_role(RoleFromRecorded(message.at("role").get<std::string>()));
        out.set_text(message.at("content").get<std::string>());
      }
    } else if (key == "instructions") {
      request.set_instructions(value.get<std::string>());
    } else if (key == "max_output_tokens") {
      request.set_max_output_tokens(value.get<int>());
    } else if (key == "temperature") {
      request.set_temperature(value.get<double>());
    } else if (key == "store") {
      request.set_store(value.get<bool>());
    } else if (key == "include") {
      for (const json& entry : value) request.add_include(entry.get<std::string>());
    } else if (key == "tools") {
      for (const json& tool : value) {
        EXPECT_EQ(tool.at("type"), "function");
        v1::FunctionDefinition& function = *request.add_tools()->mutable_function();
        function.set_name(tool.at("name").get<std::string>());
        if (tool.contains("description")) {
          function.set_description(tool.at("description").get<std::string>());
        }
        if (tool.contains("parameters")) {
          *function.mutable_parameters() = JsonToStruct(tool.at("parameters"));
        }
        if (tool.contains("strict")) function.set_strict(tool.at("strict").get<bool>());
      }
    } else if (key != "stream") {
      ADD_FAILURE() << "recorded request key not covered by the test: " << key;
    }
  }
  return request;
}

class ResponseRequestFixtureTest : public testing::TestWithParam<std::string> {};

TEST_P(ResponseRequestFixtureTest, ProducesTheRecordedRequest) {
  json recorded = LoadFixture(GetParam()).at("request");
  const bool stream = recorded.value("stream", false);
  // `"stream": false` is the upstream default and the gateway leaves it out.
  if (!stream) recorded.erase("stream");
  EXPECT_EQ(RequestJson(RequestFromRecorded(recorded), stream), recorded);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ResponseRequestFixtureTest,
                         testing::ValuesIn(FixtureNames("responses-")), FixtureTestName);

TEST(ResponseRequestToUpstreamJsonTest, UnsetFieldsAreAbsent) {
  EXPECT_EQ(RequestJson(MinimalRequest()), json::parse(R"({"model":"gpt-4o-mini","input":"hi"})"));
}

TEST(ResponseRequestToUpstreamJsonTest, EmptySubmessagesAreAbsentToo) {
  v1::CreateResponseRequest request = MinimalRequest();
  request.mutable_reasoning();
  request.mutable_text()->mutable_format();
  request.mutable_tool_choice()->set_mode(v1::TOOL_CHOICE_MODE_UNSPECIFIED);
  request.mutable_extra_body();
  EXPECT_EQ(RequestJson(request), json::parse(R"({"model":"gpt-4o-mini","input":"hi"})"));
}

TEST(ResponseRequestToUpstreamJsonTest, SetZeroValuesAreSent) {
  v1::CreateResponseRequest request = MinimalRequest();
  request.set_input_text("");
  request.set_temperature(0);
  request.set_top_p(0);
  request.set_store(false);
  request.set_background(false);
  request.set_parallel_tool_calls(false);
  request.set_top_logprobs(0);
  request.set_instructions("");
  EXPECT_EQ(RequestJson(request), json::parse(R"({"model":"gpt-4o-mini","input":"",
      "temperature":0,"top_p":0,"store":false,"background":false,"parallel_tool_calls":false,
      "top_logprobs":0,"instructions":""})"));
}

TEST(ResponseRequestToUpstreamJsonTest, InputItemsAreSentAsTheArray) {
  v1::CreateResponseRequest request;
  request.set_model("gpt-5");
  *request.add_input() = UserText("plain");

  v1::ResponseInputMessage& parts = *request.add_input()->mutable_message();
  parts.set_role(v1::ROLE_USER);
  parts.add_content()->set_input_text("What is in this image?");
  v1::ResponseInputImage& by_url = *parts.add_content()->mutable_input_image();
  by_url.set_image_url("https://example.com/river.png");
  by_url.set_detail(v1::IMAGE_DETAIL_HIGH);
  parts.add_content()->mutable_input_image()->set_file_id("file_img");
  v1::ResponseInputFile& file = *parts.add_content()->mutable_input_file();
  file.set_file_data("data:application/pdf;base64,AAAA");
  file.set_filename("a.pdf");

  v1::ResponseInputMessage& assistant = *request.add_input()->mutable_message();
  assistant.set_role(v1::ROLE_ASSISTANT);
  assistant.add_content()->set_output_text("Earlier answer.");
  assistant.add_content()->set_refusal("Earlier refusal.");

  v1::ResponseReasoning& reasoning = *request.add_input()->mutable_reasoning();
  reasoning.set_id("rs_1");
  reasoning.set_encrypted_content("gAAAA");

  v1::ResponseFunctionCall& call = *request.add_input()->mutable_function_call();
  call.set_id("fc_1");
  call.set_call_id("call_1");
  call.set_name("weather");
  call.set_arguments(R"({"city":"Oslo"})");

  v1::FunctionCallOutput& output = *request.add_input()->mutable_function_call_output();
  output.set_call_id("call_1");
  output.set_output(R"({"celsius":3})");

  request.add_input()->set_item_reference_id("msg_old");
  *request.add_input()->mutable_other() = StructFromJson(
      R"({"type":"mcp_approval_response","approve":true,"approval_request_id":"a"})");

  v1::ResponseInputMessage& developer = *request.add_input()->mutable_message();
  developer.set_role(v1::ROLE_DEVELOPER);
  developer.set_text("Be brief.");

  EXPECT_EQ(RequestJson(request), json::parse(R"json({"model":"gpt-5","input":[
    {"role":"user","content":"plain"},
    {"role":"user","content":[
      {"type":"input_text","text":"What is in this image?"},
      {"type":"input_image","image_url":"https://example.com/river.png","detail":"high"},
      {"type":"input_image","file_id":"file_img"},
      {"type":"input_file","file_data":"data:application/pdf;base64,AAAA","filename":"a.pdf"}]},
    {"role":"assistant","content":[
      {"type":"output_text","text":"Earlier answer.","annotations":[]},
      {"type":"refusal","refusal":"Earlier refusal."}]},
    {"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"gAAAA"},
    {"type":"function_call","id":"fc_1","call_id":"call_1","name":"weather",
     "arguments":"{\"city\":\"Oslo\"}"},
    {"type":"function_call_output","call_id":"call_1","output":"{\"celsius\":3}"},
    {"type":"item_reference","id":"msg_old"},
    {"type":"mcp_approval_response","approve":true,"approval_request_id":"a"},
    {"role":"developer","content":"Be brief."}]})json"));
}

TEST(ResponseRequestToUpstreamJsonTest, MapsEveryTypedParameter) {
  v1::CreateResponseRequest request = MinimalRequest();
  request.set_instructions("Answer in French.");
  request.set_max_output_tokens(256);
  request.set_temperature(0.7);
  request.set_top_p(0.9);
  v1::FunctionDefinition& function = *request.add_tools()->mutable_function();
  function.set_name("weather");
  function.set_description("Gets the weather");
  *function.mutable_parameters() =
      StructFromJson(R"({"type":"object","properties":{"city":{"type":"string"}}})");
  function.set_strict(true);
  v1::WebSearchTool& search = *request.add_tools()->mutable_web_search();
  search.set_search_context_size("low");
  search.mutable_user_location()->set_country("NO");
  search.mutable_user_location()->set_city("Oslo");
  search.add_allowed_domains("yr.no");
  request.add_tools()->mutable_web_search()->set_tool_type("web_search_preview");
  *request.add_tools()->mutable_other() =
      StructFromJson(R"({"type":"file_search","vector_store_ids":["vs_1"]})");
  request.mutable_tool_choice()->set_function_name("weather");
  request.set_parallel_tool_calls(true);
  request.mutable_reasoning()->set_effort(v1::REASONING_EFFORT_LOW);
  request.mutable_reasoning()->set_summary(v1::REASONING_SUMMARY_AUTO);
  v1::ResponseFormat& format = *request.mutable_text()->mutable_format();
  format.set_type(v1::RESPONSE_FORMAT_TYPE_JSON_SCHEMA);
  format.mutable_json_schema()->set_name("Weather");
  format.mutable_json_schema()->set_description("A forecast");
  *format.mutable_json_schema()->mutable_schema() = StructFromJson(R"({"type":"object"})");
  format.mutable_json_schema()->set_strict(true);
  request.mutable_text()->set_verbosity("low");
  request.set_background(true);
  request.set_store(true);
  request.set_previous_response_id("resp_prev");
  (*request.mutable_metadata())["team"] = "search";
  request.add_include("reasoning.encrypted_content");
  request.add_include("message.output_text.logprobs");
  request.set_top_logprobs(3);
  request.set_max_tool_calls(4);
  request.set_truncation("auto");
  request.set_service_tier("flex");
  request.set_user("u-1");
  request.set_safety_identifier("s-1");
  request.set_prompt_cache_key("k-1");

  EXPECT_EQ(RequestJson(request), json::parse(R"json({
    "model":"gpt-4o-mini","input":"hi","instructions":"Answer in French.",
    "max_output_tokens":256,"temperature":0.7,"top_p":0.9,
    "tools":[
      {"type":"function","name":"weather","description":"Gets the weather",
       "parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true},
      {"type":"web_search","search_context_size":"low",
       "user_location":{"type":"approximate","city":"Oslo","country":"NO"},
       "filters":{"allowed_domains":["yr.no"]}},
      {"type":"web_search_preview"},
      {"type":"file_search","vector_store_ids":["vs_1"]}],
    "tool_choice":{"type":"function","name":"weather"},
    "parallel_tool_calls":true,
    "reasoning":{"effort":"low","summary":"auto"},
    "text":{"format":{"type":"json_schema","name":"Weather","description":"A forecast",
                      "schema":{"type":"object"},"strict":true},"verbosity":"low"},
    "background":true,"store":true,"previous_response_id":"resp_prev",
    "metadata":{"team":"search"},
    "include":["reasoning.encrypted_content","message.output_text.logprobs"],
    "top_logprobs":3,"max_tool_calls":4,"truncation":"auto","service_tier":"flex",
    "user":"u-1","safety_identifier":"s-1","prompt_cache_key":"k-1"})json"));
}

TEST(ResponseRequestToUpstreamJsonTest, DoublesKeepTheirShortForm) {
  v1::CreateResponseRequest request = MinimalRequest();
  request.set_temperature(0.1);
  absl::StatusOr<std::string> body = ResponseRequestToUpstreamJson(request, false);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_THAT(*body, HasSubstr(R"("temperature":0.1)"));
}

TEST(ResponseRequestToUpstreamJsonTest, StreamAddsOnlyStreamTrue) {
  const json body = RequestJson(MinimalRequest(), /*stream=*/true);
  EXPECT_EQ(body, json::parse(R"({"model":"gpt-4o-mini","input":"hi","stream":true})"));
}

struct EnumCase {
  std::string name;
  std::function<void(v1::CreateResponseRequest&)> set;
  json::json_pointer pointer;
  json expected;
};

void PrintTo(const EnumCase& c, std::ostream* os) { *os << c.name; }

class ResponseRequestEnumTest : public testing::TestWithParam<EnumCase> {};

TEST_P(ResponseRequestEnumTest, MapsToUpstreamValue) {
  v1::CreateResponseRequest request = MinimalRequest();
  GetParam().set(request);
  const json body = RequestJson(request);
  ASSERT_TRUE(body.contains(GetParam().pointer)) << body.dump();
  EXPECT_EQ(body.at(GetParam().pointer), GetParam().expected);
}

void SetEffort(v1::CreateResponseRequest& r, v1::ReasoningEffort effort) {
  r.mutable_reasoning()->set_effort(effort);
}

void SetSummary(v1::CreateResponseRequest& r, v1::ReasoningSummary summary) {
  r.mutable_reasoning()->set_summary(summary);
}

void SetFormat(v1::CreateResponseRequest& r, v1::ResponseFormatType type) {
  r.mutable_text()->mutable_format()->set_type(type);
}

void SetImageDetail(v1::CreateResponseRequest& r, v1::ImageDetail detail) {
  r.clear_input_text();
  v1::ResponseInputMessage& message = *r.add_input()->mutable_message();
  message.set_role(v1::ROLE_USER);
  v1::ResponseInputImage& image = *message.add_content()->mutable_input_image();
  image.set_image_url("https://example.com/a.png");
  image.set_detail(detail);
}

void SetRole(v1::CreateResponseRequest& r, v1::Role role) {
  r.clear_input_text();
  v1::ResponseInputMessage& message = *r.add_input()->mutable_message();
  message.set_role(role);
  message.set_text("x");
}

INSTANTIATE_TEST_SUITE_P(
    Enums, ResponseRequestEnumTest,
    testing::Values(
        EnumCase{"EffortNone", [](auto& r) { SetEffort(r, v1::REASONING_EFFORT_NONE); },
                 "/reasoning/effort"_json_pointer, "none"},
        EnumCase{"EffortMinimal", [](auto& r) { SetEffort(r, v1::REASONING_EFFORT_MINIMAL); },
                 "/reasoning/effort"_json_pointer, "minimal"},
        EnumCase{"EffortLow", [](auto& r) { SetEffort(r, v1::REASONING_EFFORT_LOW); },
                 "/reasoning/effort"_json_pointer, "low"},
        EnumCase{"EffortMedium", [](auto& r) { SetEffort(r, v1::REASONING_EFFORT_MEDIUM); },
                 "/reasoning/effort"_json_pointer, "medium"},
        EnumCase{"EffortHigh", [](auto& r) { SetEffort(r, v1::REASONING_EFFORT_HIGH); },
                 "/reasoning/effort"_json_pointer, "high"},
        EnumCase{"SummaryAuto", [](auto& r) { SetSummary(r, v1::REASONING_SUMMARY_AUTO); },
                 "/reasoning/summary"_json_pointer, "auto"},
        EnumCase{"SummaryConcise", [](auto& r) { SetSummary(r, v1::REASONING_SUMMARY_CONCISE); },
                 "/reasoning/summary"_json_pointer, "concise"},
        EnumCase{"SummaryDetailed",
                 [](auto& r) { SetSummary(r, v1::REASONING_SUMMARY_DETAILED); },
                 "/reasoning/summary"_json_pointer, "detailed"},
        EnumCase{"ToolChoiceNone",
                 [](auto& r) { r.mutable_tool_choice()->set_mode(v1::TOOL_CHOICE_MODE_NONE); },
                 "/tool_choice"_json_pointer, "none"},
        EnumCase{"ToolChoiceAuto",
                 [](auto& r) { r.mutable_tool_choice()->set_mode(v1::TOOL_CHOICE_MODE_AUTO); },
                 "/tool_choice"_json_pointer, "auto"},
        EnumCase{"ToolChoiceRequired",
                 [](auto& r) {
                   r.mutable_tool_choice()->set_mode(v1::TOOL_CHOICE_MODE_REQUIRED);
                 },
                 "/tool_choice"_json_pointer, "required"},
        EnumCase{"ToolChoiceBuiltin",
                 [](auto& r) { r.mutable_tool_choice()->set_builtin_tool("web_search"); },
                 "/tool_choice"_json_pointer, json{{"type", "web_search"}}},
        EnumCase{"FormatText", [](auto& r) { SetFormat(r, v1::RESPONSE_FORMAT_TYPE_TEXT); },
                 "/text/format"_json_pointer, json{{"type", "text"}}},
        EnumCase{"FormatJsonObject",
                 [](auto& r) { SetFormat(r, v1::RESPONSE_FORMAT_TYPE_JSON_OBJECT); },
                 "/text/format"_json_pointer, json{{"type", "json_object"}}},
        EnumCase{"DetailAuto", [](auto& r) { SetImageDetail(r, v1::IMAGE_DETAIL_AUTO); },
                 "/input/0/content/0/detail"_json_pointer, "auto"},
        EnumCase{"DetailLow", [](auto& r) { SetImageDetail(r, v1::IMAGE_DETAIL_LOW); },
                 "/input/0/content/0/detail"_json_pointer, "low"},
        EnumCase{"DetailHigh", [](auto& r) { SetImageDetail(r, v1::IMAGE_DETAIL_HIGH); },
                 "/input/0/content/0/detail"_json_pointer, "high"},
        EnumCase{"RoleUser", [](auto& r) { SetRole(r, v1::ROLE_USER); },
                 "/input/0/role"_json_pointer, "user"},
        EnumCase{"RoleAssistant", [](auto& r) { SetRole(r, v1::ROLE_ASSISTANT); },
                 "/input/0/role"_json_pointer, "assistant"},
        EnumCase{"RoleSystem", [](auto& r) { SetRole(r, v1::ROLE_SYSTEM); },
                 "/input/0/role"_json_pointer, "system"},
        EnumCase{"RoleDeveloper", [](auto& r) { SetRole(r, v1::ROLE_DEVELOPER); },
                 "/input/0/role"_json_pointer, "developer"}),
    [](const testing::TestParamInfo<EnumCase>& info) { return info.param.name; });

TEST(ResponseRequestToUpstreamJsonTest, ExtraBodyIsMergedLastAndWins) {
  v1::CreateResponseRequest request = MinimalRequest();
  request.set_temperature(0.2);
  request.set_instructions("drop me");
  request.mutable_reasoning()->set_effort(v1::REASONING_EFFORT_LOW);
  *request.mutable_extra_body() = StructFromJson(R"({
    "temperature": 1.5, "instructions": null, "reasoning": {"summary": "auto"},
    "n": 2, "max_tokens": 64, "stream": false})");
  EXPECT_EQ(RequestJson(request, /*stream=*/true), json::parse(R"({
    "model":"gpt-4o-mini","input":"hi","temperature":1.5,
    "reasoning":{"effort":"low","summary":"auto"},"n":2,"max_tokens":64,"stream":false})"));
}

// ---------------------------------------------------------------------------------------------
// Validation.

struct InvalidCase {
  std::string name;
  std::function<void(v1::CreateResponseRequest&)> break_it;
  std::string message_prefix;
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

class InvalidResponseRequestTest : public testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidResponseRequestTest, RejectsWithFieldName) {
  v1::CreateResponseRequest request = MinimalRequest();
  GetParam().break_it(request);
  const absl::Status status = ValidateResponseRequest(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), StartsWith(GetParam().message_prefix));
  // The translation refuses the same request with the same status.
  EXPECT_EQ(ResponseRequestToUpstreamJson(request, false).status(), status);
  EXPECT_EQ(ResponseRequestToUpstreamJson(request, true).status(), status);
}

// Replaces the text input with one item and returns it.
v1::ResponseInputItem& OnlyItem(v1::CreateResponseRequest& r) {
  r.clear_input_text();
  return *r.add_input();
}

v1::ResponseInputMessage& OnlyMessage(v1::CreateResponseRequest& r) {
  v1::ResponseInputMessage& message = *OnlyItem(r).mutable_message();
  message.set_role(v1::ROLE_USER);
  return message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, InvalidResponseRequestTest,
    testing::Values(
        InvalidCase{"EmptyModel", [](auto& r) { r.clear_model(); }, "model: must be set"},
        InvalidCase{"NoInput", [](auto& r) { r.clear_input_text(); }, "input: "},
        InvalidCase{"NanTemperature", [](auto& r) { r.set_temperature(std::nan("")); },
                    "temperature: must be a finite number"},
        InvalidCase{"NanInOtherItem",
                    [](auto& r) {
                      r.clear_input_text();
                      google::protobuf::Struct& other = *r.add_input()->mutable_other();
                      (*other.mutable_fields())["type"].set_string_value("mcp_call");
                      (*other.mutable_fields())["score"].set_number_value(std::nan(""));
                    },
                    "input[0].other: holds a number that is not finite"},
        InvalidCase{"BothInputs", [](auto& r) { *r.add_input() = UserText("also"); },
                    "input_text: "},
        InvalidCase{"EmptyItem",
                    [](auto& r) {
                      OnlyItem(r) = UserText("ok");
                      r.add_input();
                    },
                    "input[1]: one of"},
        InvalidCase{"RoleUnspecified",
                    [](auto& r) { OnlyItem(r).mutable_message()->set_text("no role"); },
                    "input[0].message.role: must be set"},
        InvalidCase{"UnknownRole",
                    [](auto& r) { OnlyMessage(r).set_role(static_cast<v1::Role>(42)); },
                    "input[0].message.role: unknown enum value 42"},
        InvalidCase{"ToolRole",
                    [](auto& r) {
                      OnlyMessage(r).set_role(v1::ROLE_TOOL);
                      r.mutable_input(0)->mutable_message()->set_text("x");
                    },
                    "input[0].message.role: ROLE_TOOL"},
        InvalidCase{"TextAndContent",
                    [](auto& r) {
                      v1::ResponseInputMessage& message = OnlyMessage(r);
                      message.set_text("a");
                      message.add_content()->set_input_text("b");
                    },
                    "input[0].message: text and content are both set"},
        InvalidCase{"NoTextNoContent", [](auto& r) { OnlyMessage(r); },
                    "input[0].message: set text or content"},
        InvalidCase{"EmptyPart", [](auto& r) { OnlyMessage(r).add_content(); },
                    "input[0].message.content[0]: one of"},
        InvalidCase{"ImageWithoutSource",
                    [](auto& r) { OnlyMessage(r).add_content()->mutable_input_image(); },
                    "input[0].message.content[0].input_image: set image_url or file_id"},
        InvalidCase{"UnknownImageDetail",
                    [](auto& r) {
                      v1::ResponseInputImage& image =
                          *OnlyMessage(r).add_content()->mutable_input_image();
                      image.set_image_url("https://example.com/a.png");
                      image.set_detail(static_cast<v1::ImageDetail>(9));
                    },
                    "input[0].message.content[0].input_image.detail: unknown enum value 9"},
        InvalidCase{"FileWithoutSource",
                    [](auto& r) {
                      OnlyMessage(r).add_content()->mutable_input_file()->set_filename("a.pdf");
                    },
                    "input[0].message.content[0].input_file: "},
        InvalidCase{"FunctionCallOutputWithoutCallId",
                    [](auto& r) { OnlyItem(r).mutable_function_call_output()->set_output("{}"); },
                    "input[0].function_call_output.call_id: must be set"},
        InvalidCase{"FunctionCallWithoutName",
                    [](auto& r) { OnlyItem(r).mutable_function_call()->set_call_id("c"); },
                    "input[0].function_call.name: must be set"},
        InvalidCase{"FunctionCallWithoutCallId",
                    [](auto& r) { OnlyItem(r).mutable_function_call()->set_name("f"); },
                    "input[0].function_call.call_id: must be set"},
        InvalidCase{"ReasoningWithoutId",
                    [](auto& r) {
                      OnlyItem(r).mutable_reasoning()->set_encrypted_content("gAAAA");
                    },
                    "input[0].reasoning.id: must be set"},
        InvalidCase{"EmptyItemReference",
                    [](auto& r) { OnlyItem(r).set_item_reference_id(""); },
                    "input[0].item_reference_id: "},
        InvalidCase{"OtherItemWithoutType",
                    [](auto& r) { *OnlyItem(r).mutable_other() = StructFromJson(R"({"a":1})"); },
                    "input[0].other.type: "},
        InvalidCase{"MaxOutputTokensZero", [](auto& r) { r.set_max_output_tokens(0); },
                    "max_output_tokens: must be at least 1"},
        InvalidCase{"EmptyTool",
                    [](auto& r) {
                      r.add_tools()->mutable_function()->set_name("ok");
                      r.add_tools();
                    },
                    "tools[1]: one of"},
        InvalidCase{"ToolWithoutName",
                    [](auto& r) { r.add_tools()->mutable_function()->set_description("x"); },
                    "tools[0].function.name: must be set"},
        InvalidCase{"EmptyWebSearchType",
                    [](auto& r) { r.add_tools()->mutable_web_search()->set_tool_type(""); },
                    "tools[0].web_search.tool_type: "},
        InvalidCase{"OtherToolWithoutType",
                    [](auto& r) {
                      *r.add_tools()->mutable_other() = StructFromJson(R"({"type":""})");
                    },
                    "tools[0].other.type: "},
        InvalidCase{"UnknownToolChoiceMode",
                    [](auto& r) {
                      r.mutable_tool_choice()->set_mode(static_cast<v1::ToolChoiceMode>(7));
                    },
                    "tool_choice.mode: unknown enum value 7"},
        InvalidCase{"EmptyToolChoiceFunction",
                    [](auto& r) { r.mutable_tool_choice()->set_function_name(""); },
                    "tool_choice.function_name: "},
        InvalidCase{"EmptyToolChoiceBuiltin",
                    [](auto& r) { r.mutable_tool_choice()->set_builtin_tool(""); },
                    "tool_choice.builtin_tool: "},
        InvalidCase{"UnknownEffort",
                    [](auto& r) {
                      r.mutable_reasoning()->set_effort(static_cast<v1::ReasoningEffort>(99));
                    },
                    "reasoning.effort: unknown enum value 99"},
        InvalidCase{"UnknownSummary",
                    [](auto& r) {
                      r.mutable_reasoning()->set_summary(static_cast<v1::ReasoningSummary>(8));
                    },
                    "reasoning.summary: unknown enum value 8"},
        InvalidCase{"UnknownFormatType",
                    [](auto& r) {
                      r.mutable_text()->mutable_format()->set_type(
                          static_cast<v1::ResponseFormatType>(11));
                    },
                    "text.format.type: unknown enum value 11"},
        InvalidCase{"SchemaWithoutType",
                    [](auto& r) {
                      r.mutable_text()->mutable_format()->mutable_json_schema()->set_name("s");
                    },
                    "text.format.type: must be set"},
        InvalidCase{"JsonSchemaWithoutName",
                    [](auto& r) {
                      r.mutable_text()->mutable_format()->set_type(
                          v1::RESPONSE_FORMAT_TYPE_JSON_SCHEMA);
                    },
                    "text.format.json_schema.name: must be set"},
        InvalidCase{"EmptyInclude", [](auto& r) { r.add_include(""); },
                    "include[0]: must not be empty"}),
    [](const testing::TestParamInfo<InvalidCase>& info) { return info.param.name; });

TEST(ValidateResponseRequestTest, AcceptsValidEdgeCases) {
  v1::CreateResponseRequest request = MinimalRequest();
  request.set_input_text("");  // an empty string is still the text input
  request.set_max_output_tokens(1);
  request.add_tools()->mutable_web_search();
  EXPECT_TRUE(ValidateResponseRequest(request).ok()) << ValidateResponseRequest(request);

  v1::CreateResponseRequest items;
  items.set_model("gpt-5");
  v1::ResponseFunctionCall& call = *items.add_input()->mutable_function_call();
  call.set_call_id("call_1");
  call.set_name("f");  // no id, no arguments: the upstream decides
  items.add_input()->mutable_function_call_output()->set_call_id("call_1");
  items.add_input()->mutable_reasoning()->set_id("rs_1");
  EXPECT_TRUE(ValidateResponseRequest(items).ok()) << ValidateResponseRequest(items);
  const json body = RequestJson(items);
  EXPECT_EQ(body.at("input")[0], json::parse(
      R"({"type":"function_call","call_id":"call_1","name":"f","arguments":""})"));
  EXPECT_EQ(body.at("input")[1],
            json::parse(R"({"type":"function_call_output","call_id":"call_1","output":""})"));
}

}  // namespace
}  // namespace gengate::translate
