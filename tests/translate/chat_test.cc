#include "translate/chat.h"

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <ostream>
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
using testing::StartsWith;

// ---------------------------------------------------------------------------------------------
// Fixture access.

// True when `object` has `key` with a non-null value.
bool IsSet(const json& object, const char* key) {
  return object.is_object() && object.contains(key) && !object.at(key).is_null();
}

std::int64_t IntOrZero(const json& object, const char* key) {
  return IsSet(object, key) ? object.at(key).get<std::int64_t>() : 0;
}

// The test's own table of upstream names, independent of the code under test.
v1::FinishReason ExpectedFinishReason(const std::string& name) {
  static const auto* const kNames = new std::map<std::string, v1::FinishReason>{
      {"stop", v1::FINISH_REASON_STOP},
      {"length", v1::FINISH_REASON_LENGTH},
      {"tool_calls", v1::FINISH_REASON_TOOL_CALLS},
      {"content_filter", v1::FINISH_REASON_CONTENT_FILTER},
      {"function_call", v1::FINISH_REASON_FUNCTION_CALL}};
  auto it = kNames->find(name);
  return it == kNames->end() ? v1::FINISH_REASON_UNSPECIFIED : it->second;
}

v1::Role ExpectedRole(const std::string& name) {
  static const auto* const kNames = new std::map<std::string, v1::Role>{
      {"system", v1::ROLE_SYSTEM},       {"developer", v1::ROLE_DEVELOPER},
      {"user", v1::ROLE_USER},           {"assistant", v1::ROLE_ASSISTANT},
      {"tool", v1::ROLE_TOOL}};
  auto it = kNames->find(name);
  return it == kNames->end() ? v1::ROLE_UNSPECIFIED : it->second;
}

void ExpectOptionalString(const json& object, const char* key, bool has, const std::string& value) {
  SCOPED_TRACE(key);
  if (IsSet(object, key)) {
    EXPECT_TRUE(has);
    EXPECT_EQ(value, object.at(key).get<std::string>());
  } else {
    EXPECT_FALSE(has);
  }
}

void ExpectFinishReason(const json& choice, v1::FinishReason reason, const std::string& raw) {
  if (IsSet(choice, "finish_reason")) {
    const std::string expected = choice.at("finish_reason").get<std::string>();
    EXPECT_EQ(raw, expected);
    EXPECT_EQ(reason, ExpectedFinishReason(expected));
  } else {
    EXPECT_EQ(raw, "");
    EXPECT_EQ(reason, v1::FINISH_REASON_UNSPECIFIED);
  }
}

void ExpectUsage(const json& usage, const v1::CompletionUsage& out) {
  EXPECT_EQ(out.prompt_tokens(), IntOrZero(usage, "prompt_tokens"));
  EXPECT_EQ(out.completion_tokens(), IntOrZero(usage, "completion_tokens"));
  EXPECT_EQ(out.total_tokens(), IntOrZero(usage, "total_tokens"));
  EXPECT_EQ(out.has_prompt_tokens_details(), IsSet(usage, "prompt_tokens_details"));
  if (IsSet(usage, "prompt_tokens_details")) {
    const json& details = usage.at("prompt_tokens_details");
    EXPECT_EQ(out.prompt_tokens_details().cached_tokens(), IntOrZero(details, "cached_tokens"));
    EXPECT_EQ(out.prompt_tokens_details().audio_tokens(), IntOrZero(details, "audio_tokens"));
  }
  EXPECT_EQ(out.has_completion_tokens_details(), IsSet(usage, "completion_tokens_details"));
  if (IsSet(usage, "completion_tokens_details")) {
    const json& details = usage.at("completion_tokens_details");
    const v1::CompletionTokensDetails& got = out.completion_tokens_details();
    EXPECT_EQ(got.reasoning_tokens(), IntOrZero(details, "reasoning_tokens"));
    EXPECT_EQ(got.audio_tokens(), IntOrZero(details, "audio_tokens"));
    EXPECT_EQ(got.accepted_prediction_tokens(), IntOrZero(details, "accepted_prediction_tokens"));
    EXPECT_EQ(got.rejected_prediction_tokens(), IntOrZero(details, "rejected_prediction_tokens"));
  }
}

std::string BytesOf(const json& array) {
  std::string bytes;
  for (const json& byte : array) bytes.push_back(static_cast<char>(byte.get<int>()));
  return bytes;
}

template <typename Token>
void ExpectTokenBasics(const json& entry, const Token& out) {
  EXPECT_EQ(out.token(), entry.at("token").get<std::string>());
  EXPECT_DOUBLE_EQ(out.logprob(), entry.at("logprob").get<double>());
  EXPECT_EQ(out.has_bytes(), IsSet(entry, "bytes"));
  if (IsSet(entry, "bytes")) {
    EXPECT_EQ(out.bytes(), BytesOf(entry.at("bytes")));
  }
}

void ExpectTokenLogprobs(const json& object, const char* key,
                         const google::protobuf::RepeatedPtrField<v1::TokenLogprob>& out) {
  const json tokens = IsSet(object, key) ? object.at(key) : json::array();
  ASSERT_EQ(static_cast<size_t>(out.size()), tokens.size()) << key;
  for (size_t i = 0; i < tokens.size(); ++i) {
    SCOPED_TRACE(testing::Message() << key << "[" << i << "]");
    ExpectTokenBasics(tokens[i], out[static_cast<int>(i)]);
    const json top =
        IsSet(tokens[i], "top_logprobs") ? tokens[i].at("top_logprobs") : json::array();
    ASSERT_EQ(static_cast<size_t>(out[static_cast<int>(i)].top_logprobs_size()), top.size());
    for (size_t j = 0; j < top.size(); ++j) {
      ExpectTokenBasics(top[j], out[static_cast<int>(i)].top_logprobs(static_cast<int>(j)));
    }
  }
}

void ExpectLogprobs(const json& choice, bool has, const v1::ChatLogprobs& out) {
  EXPECT_EQ(has, IsSet(choice, "logprobs"));
  if (!IsSet(choice, "logprobs")) return;
  ExpectTokenLogprobs(choice.at("logprobs"), "content", out.content());
  ExpectTokenLogprobs(choice.at("logprobs"), "refusal", out.refusal());
}

void ExpectMessage(const json& message, const v1::ChatMessage& out) {
  EXPECT_EQ(out.role(), IsSet(message, "role") ? ExpectedRole(message.at("role").get<std::string>())
                                               : v1::ROLE_ASSISTANT);
  ExpectOptionalString(message, "content", out.has_content(), out.content());
  ExpectOptionalString(message, "refusal", out.has_refusal(), out.refusal());
  ExpectOptionalString(message, "reasoning_content", out.has_reasoning_content(),
                       out.reasoning_content());
  const json calls = IsSet(message, "tool_calls") ? message.at("tool_calls") : json::array();
  ASSERT_EQ(static_cast<size_t>(out.tool_calls_size()), calls.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    const v1::ToolCall& call = out.tool_calls(static_cast<int>(i));
    EXPECT_EQ(call.id(), calls[i].at("id").get<std::string>());
    EXPECT_EQ(call.type(), calls[i].at("type").get<std::string>());
    EXPECT_EQ(call.function().name(), calls[i].at("function").at("name").get<std::string>());
    EXPECT_EQ(call.function().arguments(),
              calls[i].at("function").at("arguments").get<std::string>());
  }
  const json annotations =
      IsSet(message, "annotations") ? message.at("annotations") : json::array();
  EXPECT_EQ(static_cast<size_t>(out.annotations_size()), annotations.size());
}

// ---------------------------------------------------------------------------------------------
// Unary answers: every chat-unary-* fixture, checked field by field against its own body.

class ChatUnaryFixtureTest : public testing::TestWithParam<std::string> {};

TEST_P(ChatUnaryFixtureTest, MapsBodyFieldByField) {
  const json fixture = LoadFixture(GetParam());
  const json& body = fixture.at("body");
  ASSERT_TRUE(body.is_object());

  absl::StatusOr<v1::ChatCompletion> completion = ChatCompletionFromUpstreamJson(body.dump());
  ASSERT_TRUE(completion.ok()) << completion.status();

  EXPECT_EQ(completion->id(), body.at("id").get<std::string>());
  EXPECT_EQ(completion->created(), body.at("created").get<std::int64_t>());
  EXPECT_EQ(completion->model(), body.at("model").get<std::string>());
  ExpectOptionalString(body, "system_fingerprint", completion->has_system_fingerprint(),
                       completion->system_fingerprint());
  ExpectOptionalString(body, "service_tier", completion->has_service_tier(),
                       completion->service_tier());

  const json& choices = body.at("choices");
  ASSERT_EQ(static_cast<size_t>(completion->choices_size()), choices.size());
  for (size_t i = 0; i < choices.size(); ++i) {
    SCOPED_TRACE(testing::Message() << "choices[" << i << "]");
    const v1::ChatCompletionChoice& choice = completion->choices(static_cast<int>(i));
    EXPECT_EQ(choice.index(), choices[i].at("index").get<int>());
    ExpectMessage(choices[i].at("message"), choice.message());
    ExpectFinishReason(choices[i], choice.finish_reason(), choice.raw_finish_reason());
    ExpectLogprobs(choices[i], choice.has_logprobs(), choice.logprobs());
  }

  EXPECT_EQ(completion->has_usage(), IsSet(body, "usage"));
  if (IsSet(body, "usage")) ExpectUsage(body.at("usage"), completion->usage());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ChatUnaryFixtureTest,
                         testing::ValuesIn(FixtureNames("chat-unary-")), FixtureTestName);

TEST(ChatUnaryFixtureSetTest, HasAllRecordedFixtures) {
  EXPECT_GE(FixtureNames("chat-unary-").size(), 10u);
}

absl::StatusOr<v1::ChatCompletion> ParseFixtureBody(const std::string& name) {
  return ChatCompletionFromUpstreamJson(LoadFixture(name).at("body").dump());
}

// `count` empty choices, as an answer's or a chunk's choices array.
std::string WithChoices(const std::string& object, std::size_t count) {
  std::string choices;
  for (std::size_t i = 0; i < count; ++i) absl::StrAppend(&choices, i > 0 ? "," : "", "{}");
  return absl::StrCat(R"({"object":")", object, R"(","choices":[)", choices, "]}");
}

// Memory follows the number of choices: past kMaxAnswerItems the answer is malformed.
TEST(ChatCompletionFromUpstreamJsonTest, AtMostTheItemCapOfChoices) {
  absl::StatusOr<v1::ChatCompletion> at_cap =
      ChatCompletionFromUpstreamJson(WithChoices("chat.completion", kMaxAnswerItems));
  ASSERT_TRUE(at_cap.ok()) << at_cap.status();
  EXPECT_EQ(at_cap->choices_size(), static_cast<int>(kMaxAnswerItems));
  absl::StatusOr<v1::ChatCompletion> over =
      ChatCompletionFromUpstreamJson(WithChoices("chat.completion", kMaxAnswerItems + 1));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(over.status().message()), HasSubstr("more than 128 choices"));

  v1::ChatCompletionChunk chunk;
  EXPECT_TRUE(
      ParseChatStreamData(WithChoices("chat.completion.chunk", kMaxAnswerItems), chunk).ok());
  absl::StatusOr<ChatStreamEventKind> kind =
      ParseChatStreamData(WithChoices("chat.completion.chunk", kMaxAnswerItems + 1), chunk);
  ASSERT_FALSE(kind.ok());
  EXPECT_EQ(kind.status().code(), absl::StatusCode::kInternal);
}

TEST(ChatCompletionFromUpstreamJsonTest, ParallelToolCallsHaveNoContent) {
  absl::StatusOr<v1::ChatCompletion> completion =
      ParseFixtureBody("chat-unary-parallel-tool-calls-ruby-llm.json");
  ASSERT_TRUE(completion.ok()) << completion.status();
  const v1::ChatMessage& message = completion->choices(0).message();
  EXPECT_FALSE(message.has_content());
  ASSERT_EQ(message.tool_calls_size(), 2);
  EXPECT_EQ(message.tool_calls(0).function().name(), "weather");
  EXPECT_EQ(message.tool_calls(1).function().arguments(), "{}");
  EXPECT_EQ(completion->choices(0).finish_reason(), v1::FINISH_REASON_TOOL_CALLS);
}

TEST(ChatCompletionFromUpstreamJsonTest, RefusalWithNullContent) {
  absl::StatusOr<v1::ChatCompletion> completion =
      ParseFixtureBody("chat-unary-refusal-openai-python.json");
  ASSERT_TRUE(completion.ok()) << completion.status();
  EXPECT_FALSE(completion->choices(0).message().has_content());
  EXPECT_EQ(completion->choices(0).message().refusal(),
            "I'm very sorry, but I can't assist with that.");
  EXPECT_EQ(completion->system_fingerprint(), "fp_5050236cbd");
}

TEST(ChatCompletionFromUpstreamJsonTest, NullBytesInLogprobsAreAbsent) {
  absl::StatusOr<v1::ChatCompletion> completion =
      ParseFixtureBody("chat-unary-logprobs-openapi-example.json");
  ASSERT_TRUE(completion.ok()) << completion.status();
  const v1::TokenLogprob& how = completion->choices(0).logprobs().content(2);
  EXPECT_EQ(how.token(), " How");
  EXPECT_EQ(how.bytes(), " How");
  ASSERT_EQ(how.top_logprobs_size(), 2);
  EXPECT_EQ(how.top_logprobs(1).token(), "<|end|>");
  EXPECT_FALSE(how.top_logprobs(1).has_bytes());
  EXPECT_DOUBLE_EQ(how.top_logprobs(1).logprob(), -10.953937);
}

TEST(ChatCompletionFromUpstreamJsonTest, AcceptsChunkObjectOnUnaryBody) {
  absl::StatusOr<v1::ChatCompletion> completion =
      ParseFixtureBody("chat-unary-gpt4o-image-markdown-ace.json");
  ASSERT_TRUE(completion.ok()) << completion.status();
  EXPECT_THAT(completion->choices(0).message().content(), HasSubstr("![file-"));
  EXPECT_FALSE(completion->usage().has_prompt_tokens_details());
}

TEST(ChatCompletionFromUpstreamJsonTest, CachedTokensAndMultipleChoices) {
  absl::StatusOr<v1::ChatCompletion> cached =
      ParseFixtureBody("chat-unary-cached-tokens-pydantic.json");
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(cached->usage().prompt_tokens_details().cached_tokens(), 4012);

  absl::StatusOr<v1::ChatCompletion> multi =
      ParseFixtureBody("chat-unary-n3-multi-choice-openai-python.json");
  ASSERT_TRUE(multi.ok()) << multi.status();
  ASSERT_EQ(multi->choices_size(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(multi->choices(i).index(), i);
  EXPECT_FALSE(multi->choices(0).has_logprobs());  // "logprobs": null
}

TEST(ChatCompletionFromUpstreamJsonTest, NullFingerprintIsAbsent) {
  absl::StatusOr<v1::ChatCompletion> completion =
      ParseFixtureBody("chat-unary-basic-gpt5-nano-ruby-llm.json");
  ASSERT_TRUE(completion.ok()) << completion.status();
  EXPECT_FALSE(completion->has_system_fingerprint());
  EXPECT_EQ(completion->service_tier(), "default");
  EXPECT_EQ(completion->usage().completion_tokens_details().reasoning_tokens(), 128);
}

struct BadBodyCase {
  std::string name;
  std::string body;
  std::string reason;
};

void PrintTo(const BadBodyCase& c, std::ostream* os) { *os << c.name; }

class ChatCompletionBadBodyTest : public testing::TestWithParam<BadBodyCase> {};

TEST_P(ChatCompletionBadBodyTest, IsInternalWithShortReason) {
  absl::StatusOr<v1::ChatCompletion> completion = ChatCompletionFromUpstreamJson(GetParam().body);
  ASSERT_FALSE(completion.ok());
  EXPECT_EQ(completion.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(completion.status().message(), HasSubstr(GetParam().reason));
  EXPECT_LT(completion.status().message().size(), 100u);
  EXPECT_THAT(std::string(completion.status().message()), testing::Not(HasSubstr("secret")));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ChatCompletionBadBodyTest,
    testing::Values(
        BadBodyCase{"Html",
                    "<html><body>secret proxy page " + std::string(2000, 'x') + "</body></html>",
                    "not valid JSON"},
        BadBodyCase{"Truncated", R"({"id":"secret","choices":[)", "not valid JSON"},
        BadBodyCase{"Empty", "", "not valid JSON"},
        BadBodyCase{"Array", R"([{"choices":[]}])", "not a JSON object"},
        BadBodyCase{"String", R"("secret")", "not a JSON object"},
        BadBodyCase{"NoChoices", R"({"id":"secret"})", "no choices array"},
        BadBodyCase{"ChoicesNotArray", R"({"choices":{"secret":1}})", "no choices array"}),
    [](const testing::TestParamInfo<BadBodyCase>& info) { return info.param.name; });

TEST(ChatCompletionFromUpstreamJsonTest, ToleratesOddButUsableBodies) {
  absl::StatusOr<v1::ChatCompletion> completion = ChatCompletionFromUpstreamJson(R"({
    "id": "c1", "created": 12.0, "model": "m", "extra": {"x": 1},
    "choices": [
      {"index": 1, "message": {"content": "second"}, "finish_reason": "guardrail"},
      {"index": 0, "message": {"role": "assistant", "content": "first",
        "reasoning_content": "thought",
        "annotations": [{"type": "url_citation", "url_citation":
          {"start_index": 3, "end_index": 9, "url": "https://e.x", "title": "E"}}],
        "tool_calls": [{"id": "t", "type": "function",
          "function": {"name": "f", "arguments": {"a": 1}}}]},
       "finish_reason": null, "logprobs": {"content": null, "refusal": null}}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
              "prompt_tokens_details": null}
  })");
  ASSERT_TRUE(completion.ok()) << completion.status();
  EXPECT_EQ(completion->created(), 12);
  ASSERT_EQ(completion->choices_size(), 2);
  // Sorted by index.
  const v1::ChatCompletionChoice& first = completion->choices(0);
  const v1::ChatCompletionChoice& second = completion->choices(1);
  EXPECT_EQ(first.index(), 0);
  EXPECT_EQ(first.message().content(), "first");
  EXPECT_EQ(first.message().reasoning_content(), "thought");
  EXPECT_EQ(first.finish_reason(), v1::FINISH_REASON_UNSPECIFIED);
  EXPECT_EQ(first.raw_finish_reason(), "");
  EXPECT_TRUE(first.has_logprobs());
  EXPECT_EQ(first.logprobs().content_size(), 0);
  ASSERT_EQ(first.message().annotations_size(), 1);
  EXPECT_EQ(first.message().annotations(0).type(), "url_citation");
  EXPECT_EQ(first.message().annotations(0).url_citation().start_index(), 3);
  EXPECT_EQ(first.message().annotations(0).url_citation().end_index(), 9);
  EXPECT_EQ(first.message().annotations(0).url_citation().url(), "https://e.x");
  EXPECT_EQ(first.message().annotations(0).url_citation().title(), "E");
  ASSERT_EQ(first.message().tool_calls_size(), 1);
  EXPECT_EQ(first.message().tool_calls(0).function().arguments(), R"({"a":1})");
  // Missing role defaults to assistant; an unknown finish reason keeps its raw string.
  EXPECT_EQ(second.message().role(), v1::ROLE_ASSISTANT);
  EXPECT_EQ(second.finish_reason(), v1::FINISH_REASON_UNSPECIFIED);
  EXPECT_EQ(second.raw_finish_reason(), "guardrail");
  EXPECT_EQ(completion->usage().total_tokens(), 7);
  EXPECT_FALSE(completion->usage().has_prompt_tokens_details());
  EXPECT_FALSE(completion->has_system_fingerprint());
}

// ---------------------------------------------------------------------------------------------
// Streams: every chat-stream-* fixture, replayed event by event.

struct ReplayedEvent {
  std::string data;
  ChatStreamEventKind kind = ChatStreamEventKind::kChunk;
  v1::ChatCompletionChunk chunk;
};

// Parses every payload of a fixture; a parse failure fails the test.
std::vector<ReplayedEvent> ReplayStream(const std::string& fixture_name) {
  std::vector<ReplayedEvent> events;
  const std::string bytes = StreamBytes(LoadFixture(fixture_name).at("sse_chunks"));
  for (SseEvent& sse : SplitEvents(bytes, /*keep_unterminated=*/true)) {
    ReplayedEvent event;
    event.data = std::move(sse.data);
    absl::StatusOr<ChatStreamEventKind> kind = ParseChatStreamData(event.data, event.chunk);
    EXPECT_TRUE(kind.ok()) << kind.status() << " on " << event.data;
    if (kind.ok()) event.kind = *kind;
    events.push_back(std::move(event));
  }
  return events;
}

// What the chunks of one stream add up to, per choice index (and tool-call index).
struct AssembledStream {
  std::vector<ChatStreamEventKind> kinds;
  std::map<int, std::string> content;
  std::map<int, std::string> refusal;
  std::map<int, std::string> reasoning;
  std::map<std::pair<int, int>, std::string> tool_arguments;
  std::map<std::pair<int, int>, std::string> tool_names;
  std::map<std::pair<int, int>, std::string> tool_ids;
  std::map<int, v1::FinishReason> finish_reason;
  std::optional<v1::CompletionUsage> usage;
};

AssembledStream Assemble(const std::vector<ReplayedEvent>& events) {
  AssembledStream out;
  for (const ReplayedEvent& event : events) {
    out.kinds.push_back(event.kind);
    if (event.kind != ChatStreamEventKind::kChunk) continue;
    for (const v1::ChatCompletionChunkChoice& choice : event.chunk.choices()) {
      const v1::ChatCompletionDelta& delta = choice.delta();
      if (delta.has_content()) out.content[choice.index()] += delta.content();
      if (delta.has_refusal()) out.refusal[choice.index()] += delta.refusal();
      if (delta.has_reasoning_content()) out.reasoning[choice.index()] += delta.reasoning_content();
      for (const v1::ToolCallDelta& call : delta.tool_calls()) {
        const std::pair<int, int> key{choice.index(), call.index()};
        if (call.function().has_arguments()) out.tool_arguments[key] += call.function().arguments();
        if (call.function().has_name()) out.tool_names[key] += call.function().name();
        if (call.has_id()) out.tool_ids[key] += call.id();
      }
      if (choice.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
        out.finish_reason[choice.index()] = choice.finish_reason();
      }
    }
    if (event.chunk.has_usage()) out.usage = event.chunk.usage();
  }
  return out;
}

// The same sums, computed from the fixture's JSON payloads directly.
AssembledStream AssembleFromJson(const std::vector<ReplayedEvent>& events) {
  AssembledStream out;
  for (const ReplayedEvent& event : events) {
    if (event.data == "[DONE]") continue;
    const json payload = json::parse(event.data);
    if (!IsSet(payload, "choices")) continue;
    for (const json& choice : payload.at("choices")) {
      const int index = choice.at("index").get<int>();
      const json delta = IsSet(choice, "delta") ? choice.at("delta") : json::object();
      if (IsSet(delta, "content")) out.content[index] += delta.at("content").get<std::string>();
      if (IsSet(delta, "refusal")) out.refusal[index] += delta.at("refusal").get<std::string>();
      if (IsSet(delta, "reasoning_content")) {
        out.reasoning[index] += delta.at("reasoning_content").get<std::string>();
      }
      if (!IsSet(delta, "tool_calls")) continue;
      for (const json& call : delta.at("tool_calls")) {
        const std::pair<int, int> key{index, call.at("index").get<int>()};
        if (IsSet(call, "id")) out.tool_ids[key] += call.at("id").get<std::string>();
        if (!IsSet(call, "function")) continue;
        const json& function = call.at("function");
        if (IsSet(function, "name")) out.tool_names[key] += function.at("name").get<std::string>();
        if (IsSet(function, "arguments")) {
          out.tool_arguments[key] += function.at("arguments").get<std::string>();
        }
      }
    }
  }
  return out;
}

void ExpectChunkMatchesPayload(const json& payload, const v1::ChatCompletionChunk& chunk) {
  EXPECT_EQ(chunk.id(), IsSet(payload, "id") ? payload.at("id").get<std::string>() : "");
  EXPECT_EQ(chunk.model(), IsSet(payload, "model") ? payload.at("model").get<std::string>() : "");
  EXPECT_EQ(chunk.created(), IntOrZero(payload, "created"));
  ExpectOptionalString(payload, "system_fingerprint", chunk.has_system_fingerprint(),
                       chunk.system_fingerprint());
  ExpectOptionalString(payload, "service_tier", chunk.has_service_tier(), chunk.service_tier());
  EXPECT_EQ(chunk.has_usage(), IsSet(payload, "usage"));
  if (IsSet(payload, "usage")) ExpectUsage(payload.at("usage"), chunk.usage());

  const json choices = IsSet(payload, "choices") ? payload.at("choices") : json::array();
  ASSERT_EQ(static_cast<size_t>(chunk.choices_size()), choices.size());
  for (size_t i = 0; i < choices.size(); ++i) {
    const json& choice = choices[i];
    const v1::ChatCompletionChunkChoice& out = chunk.choices(static_cast<int>(i));
    EXPECT_EQ(out.index(), choice.at("index").get<int>());
    ExpectFinishReason(choice, out.finish_reason(), out.raw_finish_reason());
    ExpectLogprobs(choice, out.has_logprobs(), out.logprobs());
    const json delta = IsSet(choice, "delta") ? choice.at("delta") : json::object();
    EXPECT_EQ(out.delta().role(), IsSet(delta, "role")
                                      ? ExpectedRole(delta.at("role").get<std::string>())
                                      : v1::ROLE_UNSPECIFIED);
    ExpectOptionalString(delta, "content", out.delta().has_content(), out.delta().content());
    ExpectOptionalString(delta, "refusal", out.delta().has_refusal(), out.delta().refusal());
    ExpectOptionalString(delta, "reasoning_content", out.delta().has_reasoning_content(),
                         out.delta().reasoning_content());
    const json calls = IsSet(delta, "tool_calls") ? delta.at("tool_calls") : json::array();
    ASSERT_EQ(static_cast<size_t>(out.delta().tool_calls_size()), calls.size());
    for (size_t j = 0; j < calls.size(); ++j) {
      const v1::ToolCallDelta& call = out.delta().tool_calls(static_cast<int>(j));
      EXPECT_EQ(call.index(), calls[j].at("index").get<int>());
      ExpectOptionalString(calls[j], "id", call.has_id(), call.id());
      ExpectOptionalString(calls[j], "type", call.has_type(), call.type());
    }
  }
}

class ChatStreamFixtureTest : public testing::TestWithParam<std::string> {};

TEST_P(ChatStreamFixtureTest, EveryEventMatchesItsPayload) {
  const std::vector<ReplayedEvent> events = ReplayStream(GetParam());
  ASSERT_FALSE(events.empty());
  for (size_t i = 0; i < events.size(); ++i) {
    SCOPED_TRACE(testing::Message() << "event " << i << ": " << events[i].data.substr(0, 200));
    const ReplayedEvent& event = events[i];
    if (event.data == "[DONE]") {
      EXPECT_EQ(event.kind, ChatStreamEventKind::kDone);
      continue;
    }
    const json payload = json::parse(event.data);
    if (payload.contains("error")) {
      EXPECT_EQ(event.kind, ChatStreamEventKind::kError);
      continue;
    }
    ASSERT_EQ(event.kind, ChatStreamEventKind::kChunk);
    ExpectChunkMatchesPayload(payload, event.chunk);
  }

  const AssembledStream got = Assemble(events);
  const AssembledStream want = AssembleFromJson(events);
  EXPECT_EQ(got.content, want.content);
  EXPECT_EQ(got.refusal, want.refusal);
  EXPECT_EQ(got.reasoning, want.reasoning);
  EXPECT_EQ(got.tool_arguments, want.tool_arguments);
  EXPECT_EQ(got.tool_names, want.tool_names);
  EXPECT_EQ(got.tool_ids, want.tool_ids);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ChatStreamFixtureTest,
                         testing::ValuesIn(FixtureNames("chat-stream-")), FixtureTestName);

TEST(ChatStreamFixtureSetTest, HasAllRecordedFixtures) {
  EXPECT_GE(FixtureNames("chat-stream-").size(), 12u);
}

using Kind = ChatStreamEventKind;

TEST(ParseChatStreamDataTest, ErrorAfterOutput) {
  const AssembledStream stream =
      Assemble(ReplayStream("chat-stream-error-after-output-vercel.json"));
  EXPECT_EQ(stream.kinds, (std::vector<Kind>{Kind::kChunk, Kind::kError, Kind::kDone}));
  EXPECT_EQ(stream.content.at(0), "Hello");
  EXPECT_TRUE(stream.finish_reason.empty());
}

TEST(ParseChatStreamDataTest, ToolCallArgumentsAssemble) {
  const std::vector<ReplayedEvent> events =
      ReplayStream("chat-stream-tool-call-args-ruby-llm.json");
  const AssembledStream stream = Assemble(events);
  const std::pair<int, int> call{0, 0};
  EXPECT_EQ(stream.tool_arguments.at(call), R"({"latitude":"52.5200","longitude":"13.4050"})");
  EXPECT_EQ(stream.tool_names.at(call), "weather");
  EXPECT_EQ(stream.tool_ids.at(call), "call_N2fJZh6fGguUrjbTlDD9mkbh");
  EXPECT_EQ(stream.tool_arguments.size(), 1u);
  EXPECT_EQ(stream.finish_reason.at(0), v1::FINISH_REASON_TOOL_CALLS);
  ASSERT_TRUE(stream.usage.has_value());
  EXPECT_EQ(stream.usage->prompt_tokens(), 169);
  EXPECT_EQ(stream.usage->completion_tokens(), 96);
  EXPECT_EQ(stream.usage->total_tokens(), 265);
  EXPECT_EQ(stream.usage->completion_tokens_details().reasoning_tokens(), 64);
  EXPECT_EQ(stream.kinds.back(), Kind::kDone);
  // The first delta carries role and type; "content": null stays absent.
  const v1::ChatCompletionDelta& first = events.front().chunk.choices(0).delta();
  EXPECT_EQ(first.role(), v1::ROLE_ASSISTANT);
  EXPECT_FALSE(first.has_content());
  EXPECT_EQ(first.tool_calls(0).type(), "function");
}

TEST(ParseChatStreamDataTest, ParallelToolCallsAssemblePerIndex) {
  const AssembledStream stream =
      Assemble(ReplayStream("chat-stream-parallel-tool-calls-openai-python.json"));
  EXPECT_EQ(stream.tool_arguments.at({0, 0}),
            R"({"city": "Edinburgh", "country": "GB", "units": "c"})");
  EXPECT_EQ(stream.tool_arguments.at({0, 1}), R"({"ticker": "AAPL", "exchange": "NASDAQ"})");
  EXPECT_EQ(stream.tool_names.at({0, 0}), "GetWeatherArgs");
  EXPECT_EQ(stream.tool_names.at({0, 1}), "get_stock_price");
  EXPECT_EQ(stream.finish_reason.at(0), v1::FINISH_REASON_TOOL_CALLS);
  ASSERT_TRUE(stream.usage.has_value());
  EXPECT_EQ(stream.usage->total_tokens(), 209);
}

TEST(ParseChatStreamDataTest, IncludeUsageChunkHasNoChoices) {
  const std::vector<ReplayedEvent> events =
      ReplayStream("chat-stream-include-usage-gpt5-nano-ruby-llm.json");
  const AssembledStream stream = Assemble(events);
  EXPECT_EQ(stream.content.at(0), "1\n2\n3");
  ASSERT_GE(events.size(), 3u);
  const v1::ChatCompletionChunk& usage_chunk = events[events.size() - 2].chunk;
  EXPECT_EQ(usage_chunk.choices_size(), 0);
  ASSERT_TRUE(usage_chunk.has_usage());
  EXPECT_EQ(usage_chunk.usage().prompt_tokens(), 13);
  EXPECT_EQ(usage_chunk.usage().completion_tokens(), 142);
  EXPECT_EQ(usage_chunk.usage().total_tokens(), 155);
  EXPECT_EQ(usage_chunk.usage().completion_tokens_details().reasoning_tokens(), 128);
  // "usage": null on every earlier chunk.
  for (size_t i = 0; i + 2 < events.size(); ++i) EXPECT_FALSE(events[i].chunk.has_usage()) << i;
  // The role chunk has "content": "" (set) and "refusal": null (absent).
  EXPECT_TRUE(events[0].chunk.choices(0).delta().has_content());
  EXPECT_FALSE(events[0].chunk.choices(0).delta().has_refusal());
  EXPECT_EQ(events[0].chunk.service_tier(), "default");
  EXPECT_FALSE(events[0].chunk.has_system_fingerprint());
}

TEST(ParseChatStreamDataTest, StreamWithoutDone) {
  const AssembledStream stream =
      Assemble(ReplayStream("chat-stream-no-done-openai-python-derived.json"));
  EXPECT_EQ(std::count(stream.kinds.begin(), stream.kinds.end(), Kind::kDone), 0);
  EXPECT_EQ(stream.finish_reason.at(0), v1::FINISH_REASON_STOP);
  ASSERT_TRUE(stream.usage.has_value());
  EXPECT_EQ(stream.usage->total_tokens(), 44);
}

TEST(ParseChatStreamDataTest, AceRecipientAllStream) {
  const std::vector<ReplayedEvent> events = ReplayStream("chat-stream-recipient-all-ace.json");
  const AssembledStream stream = Assemble(events);
  EXPECT_EQ(stream.content.at(0), "Hello! What can I do for you?");
  EXPECT_EQ(stream.finish_reason.at(0), v1::FINISH_REASON_STOP);
  for (const ReplayedEvent& event : events) {
    if (event.kind != Kind::kChunk) continue;
    EXPECT_EQ(event.chunk.choices(0).delta().role(), v1::ROLE_ASSISTANT);
    EXPECT_EQ(event.chunk.id(), "chatcmpl-MmE0ZDdlYjNkNzE0NGU2ZGE3OWM2NzIzYjQ1ZTBmMDc");
  }
  EXPECT_EQ(stream.kinds.back(), Kind::kDone);
}

TEST(ParseChatStreamDataTest, RefusalDeltas) {
  const AssembledStream stream = Assemble(ReplayStream("chat-stream-refusal-openai-python.json"));
  EXPECT_EQ(stream.refusal.at(0), "I'm sorry, I can't assist with that request.");
  EXPECT_TRUE(stream.content.empty());
}

TEST(ParseChatStreamDataTest, ReasoningContentThenContent) {
  const std::vector<ReplayedEvent> events =
      ReplayStream("chat-stream-reasoning-content-deepseek-vercel.json");
  const AssembledStream stream = Assemble(events);
  EXPECT_EQ(stream.content.at(0), "The word \"strawberry\" contains three \"r\"s.");
  EXPECT_THAT(stream.reasoning.at(0), StartsWith("We need to"));
  // The finish chunk carries the usage itself.
  const v1::ChatCompletionChunk& last = events[events.size() - 2].chunk;
  EXPECT_EQ(last.choices(0).finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(last.usage().total_tokens(), 237);
  EXPECT_EQ(last.usage().completion_tokens_details().reasoning_tokens(), 205);
}

TEST(ParseChatStreamDataTest, ContentFilterFinish) {
  const std::vector<ReplayedEvent> events =
      ReplayStream("chat-stream-content-filter-azure-style.json");
  const AssembledStream stream = Assemble(events);
  EXPECT_EQ(events[0].chunk.choices_size(), 0);
  EXPECT_FALSE(events[0].chunk.has_usage());
  EXPECT_EQ(stream.content.at(0), "The duel ended when");
  EXPECT_EQ(stream.finish_reason.at(0), v1::FINISH_REASON_CONTENT_FILTER);
}

TEST(ParseChatStreamDataTest, LogprobsPerChunk) {
  const std::vector<ReplayedEvent> events = ReplayStream("chat-stream-logprobs-openai-python.json");
  EXPECT_EQ(Assemble(events).content.at(0), "Foo!");
  ASSERT_GE(events.size(), 3u);
  ASSERT_EQ(events[1].chunk.choices(0).logprobs().content_size(), 1);
  EXPECT_EQ(events[1].chunk.choices(0).logprobs().content(0).token(), "Foo");
  EXPECT_EQ(events[1].chunk.choices(0).logprobs().content(0).bytes(), "Foo");
  EXPECT_DOUBLE_EQ(events[1].chunk.choices(0).logprobs().content(0).logprob(), -0.0025094282);
}

TEST(ParseChatStreamDataTest, FinishLength) {
  const AssembledStream stream =
      Assemble(ReplayStream("chat-stream-finish-length-openai-python.json"));
  EXPECT_EQ(stream.content.at(0), "{\"");
  EXPECT_EQ(stream.finish_reason.at(0), v1::FINISH_REASON_LENGTH);
  ASSERT_TRUE(stream.usage.has_value());
  EXPECT_EQ(stream.usage->completion_tokens(), 1);
}

TEST(ParseChatStreamDataTest, DoneIsTrimmed) {
  v1::ChatCompletionChunk chunk;
  for (const char* data : {"[DONE]", " [DONE]", "[DONE]\n", "\t[DONE] \r\n"}) {
    absl::StatusOr<Kind> kind = ParseChatStreamData(data, chunk);
    ASSERT_TRUE(kind.ok()) << kind.status();
    EXPECT_EQ(*kind, Kind::kDone) << data;
  }
}

TEST(ParseChatStreamDataTest, ErrorPayloadIsError) {
  v1::ChatCompletionChunk chunk;
  absl::StatusOr<Kind> kind = ParseChatStreamData(
      R"({"error":{"message":"boom","type":"server_error","code":null}})", chunk);
  ASSERT_TRUE(kind.ok()) << kind.status();
  EXPECT_EQ(*kind, Kind::kError);
}

TEST(ParseChatStreamDataTest, InvalidPayloadIsInternal) {
  v1::ChatCompletionChunk chunk;
  for (const char* data : {R"({"id":"x","choices":[{"delta":{"content":"a)", "", "[1]", "DONE"}) {
    absl::StatusOr<Kind> kind = ParseChatStreamData(data, chunk);
    ASSERT_FALSE(kind.ok()) << data;
    EXPECT_EQ(kind.status().code(), absl::StatusCode::kInternal) << data;
  }
}

TEST(ParseChatStreamDataTest, ReusedChunkIsCleared) {
  v1::ChatCompletionChunk chunk;
  ASSERT_TRUE(ParseChatStreamData(
                  R"({"id":"a","system_fingerprint":"fp",
                      "choices":[{"index":0,"delta":{"content":"x"}}],
                      "usage":{"total_tokens":3}})",
                  chunk)
                  .ok());
  ASSERT_TRUE(ParseChatStreamData(R"({"id":"b","choices":[{"index":0,"delta":{}}],"usage":null})",
                                  chunk)
                  .ok());
  EXPECT_EQ(chunk.id(), "b");
  EXPECT_FALSE(chunk.has_system_fingerprint());
  EXPECT_FALSE(chunk.has_usage());
  ASSERT_EQ(chunk.choices_size(), 1);
  EXPECT_FALSE(chunk.choices(0).delta().has_content());
}

TEST(ParseChatStreamDataTest, ToleratesMissingToolCallIndexAndUnknownFinishReason) {
  v1::ChatCompletionChunk chunk;
  ASSERT_TRUE(ParseChatStreamData(R"({"choices":[{"index":0,"finish_reason":"eos","delta":{
      "tool_calls":[{"function":{"arguments":"{"}},{"function":{"name":"g"}}]}}]})",
                                  chunk)
                  .ok());
  const v1::ChatCompletionChunkChoice& choice = chunk.choices(0);
  EXPECT_EQ(choice.finish_reason(), v1::FINISH_REASON_UNSPECIFIED);
  EXPECT_EQ(choice.raw_finish_reason(), "eos");
  ASSERT_EQ(choice.delta().tool_calls_size(), 2);
  EXPECT_EQ(choice.delta().tool_calls(0).index(), 0);
  EXPECT_EQ(choice.delta().tool_calls(1).index(), 1);
  EXPECT_EQ(choice.delta().tool_calls(0).function().arguments(), "{");
  EXPECT_FALSE(choice.delta().tool_calls(0).function().has_name());
  EXPECT_EQ(choice.delta().tool_calls(1).function().name(), "g");
}

// ---------------------------------------------------------------------------------------------
// Requests.

v1::ChatMessage TextMessage(v1::Role role, const std::string& text) {
  v1::ChatMessage message;
  message.set_role(role);
  message.set_content(text);
  return message;
}

google::protobuf::Struct StructFromJson(const char* text) {
  return JsonToStruct(json::parse(text));
}

json RequestJson(const v1::CreateChatCompletionRequest& request, bool stream = false) {
  absl::StatusOr<std::string> body = ChatRequestToUpstreamJson(request, stream);
  EXPECT_TRUE(body.ok()) << body.status();
  return body.ok() ? json::parse(*body) : json();
}

v1::CreateChatCompletionRequest MinimalRequest() {
  v1::CreateChatCompletionRequest request;
  request.set_model("gpt-4o-mini");
  *request.add_messages() = TextMessage(v1::ROLE_USER, "hi");
  return request;
}

constexpr char kLocationSchema[] = R"({
  "properties": {"city": {"title": "City", "type": "string"},
                 "temperature": {"title": "Temperature", "type": "number"},
                 "units": {"enum": ["c", "f"], "title": "Units", "type": "string"}},
  "required": ["city", "temperature", "units"], "title": "Location", "type": "object",
  "additionalProperties": false})";

constexpr char kWeatherParameters[] = R"json({
  "type": "object",
  "properties": {"latitude": {"type": "string", "description": "Latitude (e.g., 52.5200)"},
                 "longitude": {"type": "string", "description": "Longitude (e.g., 13.4050)"}},
  "required": ["latitude", "longitude"], "additionalProperties": false, "strict": true})json";

void SetLocationFormat(v1::CreateChatCompletionRequest& request) {
  v1::ResponseFormat& format = *request.mutable_response_format();
  format.set_type(v1::RESPONSE_FORMAT_TYPE_JSON_SCHEMA);
  format.mutable_json_schema()->set_name("Location");
  *format.mutable_json_schema()->mutable_schema() = StructFromJson(kLocationSchema);
  format.mutable_json_schema()->set_strict(true);
}

v1::Tool FunctionTool(const std::string& name, const std::string& description,
                      const char* parameters, std::optional<bool> strict = std::nullopt) {
  v1::Tool tool;
  tool.mutable_function()->set_name(name);
  tool.mutable_function()->set_description(description);
  *tool.mutable_function()->mutable_parameters() = StructFromJson(parameters);
  if (strict) tool.mutable_function()->set_strict(*strict);
  return tool;
}

struct FixtureRequestCase {
  std::string fixture;
  bool stream;
  // Keys of the recorded request we do not reproduce: `"stream": false` is the upstream default
  // and the gateway leaves it out.
  std::vector<std::string> ignored_keys;
  std::function<v1::CreateChatCompletionRequest(const json& recorded)> build;
};

void PrintTo(const FixtureRequestCase& c, std::ostream* os) { *os << c.fixture; }

class ChatRequestFixtureTest : public testing::TestWithParam<FixtureRequestCase> {};

TEST_P(ChatRequestFixtureTest, ProducesTheRecordedRequest) {
  json recorded = LoadFixture(GetParam().fixture).at("request");
  for (const std::string& key : GetParam().ignored_keys) {
    ASSERT_TRUE(recorded.contains(key)) << key;
    recorded.erase(key);
  }
  EXPECT_EQ(RequestJson(GetParam().build(recorded), GetParam().stream), recorded);
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, ChatRequestFixtureTest,
    testing::Values(
        FixtureRequestCase{"chat-unary-basic-gpt5-nano-ruby-llm.json", false, {"stream"},
                           [](const json&) {
                             v1::CreateChatCompletionRequest request;
                             request.set_model("gpt-5-nano");
                             *request.add_messages() = TextMessage(v1::ROLE_USER, "What's 2 + 2?");
                             return request;
                           }},
        FixtureRequestCase{
            "chat-unary-vision-data-url-ruby-llm.json", false, {"stream"},
            [](const json& recorded) {
              v1::CreateChatCompletionRequest request;
              request.set_model("gpt-5-nano");
              v1::ChatMessage& message = *request.add_messages();
              message.set_role(v1::ROLE_USER);
              message.add_parts()->set_text("What do you see in this image?");
              // The data URL is 21 kB of base64: taken from the recording, not retyped.
              const json& image = recorded.at("messages")[0].at("content")[1];
              message.add_parts()->mutable_image_url()->set_url(
                  image.at("image_url").at("url").get<std::string>());
              return request;
            }},
        FixtureRequestCase{"chat-unary-gpt4o-image-markdown-ace.json", false, {"stream"},
                           [](const json&) {
                             v1::CreateChatCompletionRequest request;
                             request.set_model("gpt-4o-image");
                             v1::ChatMessage& message = *request.add_messages();
                             message.set_role(v1::ROLE_USER);
                             message.add_parts()->set_text(
                                 "Draw a red fox sitting in a snowy birch forest, "
                                 "watercolor style");
                             return request;
                           }},
        FixtureRequestCase{
            "chat-unary-json-schema-ruby-llm.json", false, {"stream"},
            [](const json&) {
              v1::CreateChatCompletionRequest request;
              request.set_model("gpt-5-nano");
              *request.add_messages() =
                  TextMessage(v1::ROLE_USER, "Generate a person named John who is 30 years old");
              v1::ResponseFormat& format = *request.mutable_response_format();
              format.set_type(v1::RESPONSE_FORMAT_TYPE_JSON_SCHEMA);
              format.mutable_json_schema()->set_name("response");
              *format.mutable_json_schema()->mutable_schema() = StructFromJson(R"({
                  "type": "object",
                  "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                  "required": ["name", "age"], "additionalProperties": false})");
              format.mutable_json_schema()->set_strict(true);
              return request;
            }},
        FixtureRequestCase{"chat-unary-n3-multi-choice-openai-python.json", false, {},
                           [](const json&) {
                             v1::CreateChatCompletionRequest request;
                             request.set_model("gpt-4o-2024-08-06");
                             *request.add_messages() =
                                 TextMessage(v1::ROLE_USER, "What's the weather like in SF?");
                             request.set_n(3);
                             SetLocationFormat(request);
                             return request;
                           }},
        FixtureRequestCase{"chat-unary-logprobs-openapi-example.json", false, {},
                           [](const json&) {
                             v1::CreateChatCompletionRequest request;
                             request.set_model("gpt-4o-mini");
                             *request.add_messages() = TextMessage(v1::ROLE_USER, "Hello!");
                             request.set_logprobs(true);
                             request.set_top_logprobs(2);
                             return request;
                           }},
        FixtureRequestCase{
            "chat-unary-parallel-tool-calls-ruby-llm.json", false, {"stream"},
            [](const json&) {
              v1::CreateChatCompletionRequest request;
              request.set_model("gpt-5-nano");
              *request.add_messages() = TextMessage(
                  v1::ROLE_USER,
                  "What's the weather in Berlin (52.5200, 13.4050) and what's the best language "
                  "to learn?");
              *request.add_tools() =
                  FunctionTool("weather", "Gets current weather for a location",
                               kWeatherParameters);
              *request.add_tools() = FunctionTool(
                  "best_language_to_learn", "Gets the best language to learn",
                  R"({"type":"object","properties":{},"required":[],"additionalProperties":false,
                      "strict":true})");
              return request;
            }},
        FixtureRequestCase{
            "chat-stream-tool-call-args-ruby-llm.json", true, {},
            [](const json&) {
              v1::CreateChatCompletionRequest request;
              request.set_model("gpt-5-nano");
              *request.add_messages() =
                  TextMessage(v1::ROLE_USER, "What's the weather in Berlin? (52.5200, 13.4050)");
              *request.add_tools() =
                  FunctionTool("weather", "Gets current weather for a location",
                               kWeatherParameters);
              return request;
            }},
        FixtureRequestCase{
            "chat-stream-parallel-tool-calls-openai-python.json", true, {},
            [](const json&) {
              v1::CreateChatCompletionRequest request;
              request.set_model("gpt-4o-2024-08-06");
              *request.add_messages() =
                  TextMessage(v1::ROLE_USER, "What's the weather like in Edinburgh?");
              *request.add_messages() = TextMessage(v1::ROLE_USER, "What's the price of AAPL?");
              *request.add_tools() = FunctionTool(
                  "GetWeatherArgs", "Get the temperature for the given country/city combo", R"({
                    "properties": {"city": {"title": "City", "type": "string"},
                                   "country": {"title": "Country", "type": "string"},
                                   "units": {"default": "c", "enum": ["c", "f"], "title": "Units",
                                             "type": "string"}},
                    "required": ["city", "country", "units"], "title": "GetWeatherArgs",
                    "type": "object", "additionalProperties": false})",
                  true);
              *request.add_tools() = FunctionTool(
                  "get_stock_price", "Fetch the latest price for a given ticker", R"({
                    "properties": {"ticker": {"title": "Ticker", "type": "string"},
                                   "exchange": {"title": "Exchange", "type": "string"}},
                    "required": ["ticker", "exchange"], "title": "GetStockPrice",
                    "type": "object", "additionalProperties": false})",
                  true);
              return request;
            }},
        FixtureRequestCase{"chat-stream-finish-length-openai-python.json", true, {},
                           [](const json&) {
                             v1::CreateChatCompletionRequest request;
                             request.set_model("gpt-4o-2024-08-06");
                             *request.add_messages() =
                                 TextMessage(v1::ROLE_USER, "What's the weather like in SF?");
                             request.set_max_tokens(1);
                             SetLocationFormat(request);
                             return request;
                           }}),
    [](const testing::TestParamInfo<FixtureRequestCase>& info) {
      return FixtureTestName(testing::TestParamInfo<std::string>(info.param.fixture, info.index));
    });

TEST(ChatRequestToUpstreamJsonTest, UnsetFieldsAreAbsent) {
  EXPECT_EQ(RequestJson(MinimalRequest()),
            json::parse(R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})"));
}

TEST(ChatRequestToUpstreamJsonTest, EmptyMessagesOfSubmessagesAreAbsentToo) {
  v1::CreateChatCompletionRequest request = MinimalRequest();
  request.mutable_tool_choice();      // set, but no choice in it
  request.mutable_response_format();  // set, but type unspecified
  request.mutable_extra_body();
  request.mutable_tool_choice()->set_mode(v1::TOOL_CHOICE_MODE_UNSPECIFIED);
  const json body = RequestJson(request);
  EXPECT_EQ(body.size(), 2u) << body.dump();
}

struct ZeroValueCase {
  std::string key;
  std::function<void(v1::CreateChatCompletionRequest&)> set;
  json expected;
};

void PrintTo(const ZeroValueCase& c, std::ostream* os) { *os << c.key; }

class ChatRequestZeroValueTest : public testing::TestWithParam<ZeroValueCase> {};

TEST_P(ChatRequestZeroValueTest, SetZeroIsEmitted) {
  v1::CreateChatCompletionRequest request = MinimalRequest();
  GetParam().set(request);
  const json body = RequestJson(request);
  ASSERT_EQ(body.size(), 3u) << body.dump();
  ASSERT_TRUE(body.contains(GetParam().key)) << body.dump();
  const json& value = body.at(GetParam().key);
  EXPECT_EQ(value, GetParam().expected);
  // Same JSON kind: a double stays a float (`0.0`), an integer stays an integer.
  EXPECT_EQ(value.is_number_float(), GetParam().expected.is_number_float()) << value.dump();
  EXPECT_EQ(value.is_number_integer(), GetParam().expected.is_number_integer()) << value.dump();
  EXPECT_EQ(value.is_boolean(), GetParam().expected.is_boolean()) << value.dump();
}

INSTANTIATE_TEST_SUITE_P(
    Fields, ChatRequestZeroValueTest,
    testing::Values(
        ZeroValueCase{"temperature", [](auto& r) { r.set_temperature(0); }, json(0.0)},
        ZeroValueCase{"top_p", [](auto& r) { r.set_top_p(0); }, json(0.0)},
        ZeroValueCase{"presence_penalty", [](auto& r) { r.set_presence_penalty(0); }, json(0.0)},
        ZeroValueCase{"frequency_penalty", [](auto& r) { r.set_frequency_penalty(0); }, json(0.0)},
        ZeroValueCase{"max_tokens", [](auto& r) { r.set_max_tokens(0); }, json(0)},
        ZeroValueCase{"max_completion_tokens", [](auto& r) { r.set_max_completion_tokens(0); },
                      json(0)},
        ZeroValueCase{"seed", [](auto& r) { r.set_seed(0); }, json(0)},
        ZeroValueCase{"top_logprobs", [](auto& r) { r.set_top_logprobs(0); }, json(0)},
        ZeroValueCase{"logprobs", [](auto& r) { r.set_logprobs(false); }, json(false)},
        ZeroValueCase{"parallel_tool_calls", [](auto& r) { r.set_parallel_tool_calls(false); },
                      json(false)},
        ZeroValueCase{"store", [](auto& r) { r.set_store(false); }, json(false)},
        ZeroValueCase{"user", [](auto& r) { r.set_user(""); }, json("")},
        ZeroValueCase{"service_tier", [](auto& r) { r.set_service_tier(""); }, json("")}),
    [](const testing::TestParamInfo<ZeroValueCase>& info) { return info.param.key; });

TEST(ChatRequestToUpstreamJsonTest, MapsEveryField) {
  v1::CreateChatCompletionRequest request;
  request.set_model("gpt-4o");
  v1::ChatMessage& system = *request.add_messages();
  system = TextMessage(v1::ROLE_SYSTEM, "Be brief.");
  system.set_name("setup");
  *request.add_messages() = TextMessage(v1::ROLE_DEVELOPER, "Answer in French.");
  v1::ChatMessage& user = *request.add_messages();
  user.set_role(v1::ROLE_USER);
  user.add_parts()->set_text("Look:");
  v1::ImageUrl& detailed = *user.add_parts()->mutable_image_url();
  detailed.set_url("https://example.com/cat.png");
  detailed.set_detail(v1::IMAGE_DETAIL_HIGH);
  user.add_parts()->mutable_image_url()->set_url("data:image/png;base64,AAAA");
  v1::InputAudio& audio_in = *user.add_parts()->mutable_input_audio();
  audio_in.set_data(std::string("\x01\x02\x03", 3));
  audio_in.set_format("wav");
  v1::FileInput& file = *user.add_parts()->mutable_file();
  file.set_file_id("file-1");
  file.set_filename("a.pdf");
  user.add_parts()->mutable_file_url()->set_url("https://example.com/ref.png");
  v1::ChatMessage& assistant = *request.add_messages();
  assistant.set_role(v1::ROLE_ASSISTANT);
  v1::ToolCall& call = *assistant.add_tool_calls();
  call.set_id("call_1");
  call.mutable_function()->set_name("weather");
  call.mutable_function()->set_arguments(R"({"city":"Paris"})");
  assistant.add_annotations()->set_type("url_citation");  // output-only: not sent
  v1::ChatMessage& tool = *request.add_messages();
  tool = TextMessage(v1::ROLE_TOOL, R"({"temp":20})");
  tool.set_tool_call_id("call_1");
  v1::ChatMessage& refusing = *request.add_messages();
  refusing.set_role(v1::ROLE_ASSISTANT);
  refusing.add_parts()->set_refusal("No.");
  refusing.set_refusal("No.");
  refusing.set_reasoning_content("thinking");

  request.set_max_tokens(100);
  request.set_max_completion_tokens(200);
  request.set_temperature(0.7);
  request.set_top_p(0.9);
  request.set_n(2);
  request.add_stop("END");
  request.add_stop("STOP");
  request.set_seed(1234567890123);
  request.set_presence_penalty(-0.5);
  request.set_frequency_penalty(1.25);
  request.set_logprobs(true);
  request.set_top_logprobs(3);
  request.set_user("u-1");
  request.set_reasoning_effort(v1::REASONING_EFFORT_LOW);
  *request.add_tools() = FunctionTool("weather", "Weather now", R"({"type":"object"})", true);
  request.mutable_tool_choice()->set_function_name("weather");
  request.set_parallel_tool_calls(false);
  v1::ResponseFormat& format = *request.mutable_response_format();
  format.set_type(v1::RESPONSE_FORMAT_TYPE_JSON_SCHEMA);
  format.mutable_json_schema()->set_name("out");
  format.mutable_json_schema()->set_description("The answer");
  *format.mutable_json_schema()->mutable_schema() = StructFromJson(R"({"type":"object"})");
  format.mutable_json_schema()->set_strict(true);
  (*request.mutable_logit_bias())[50256] = -100;
  (*request.mutable_logit_bias())[7] = 5;
  request.add_modalities("text");
  request.add_modalities("audio");
  request.mutable_audio()->set_voice("alloy");
  request.mutable_audio()->set_format("wav");
  request.mutable_prediction()->set_content("draft");
  request.mutable_web_search_options()->set_search_context_size("low");
  request.mutable_web_search_options()->mutable_user_location()->set_city("Berlin");
  request.mutable_web_search_options()->mutable_user_location()->set_country("DE");
  request.set_service_tier("flex");
  request.set_store(true);
  (*request.mutable_metadata())["team"] = "search";

  EXPECT_EQ(RequestJson(request, /*stream=*/true), json::parse(R"({
    "model": "gpt-4o",
    "messages": [
      {"role": "system", "content": "Be brief.", "name": "setup"},
      {"role": "developer", "content": "Answer in French."},
      {"role": "user", "content": [
        {"type": "text", "text": "Look:"},
        {"type": "image_url",
         "image_url": {"url": "https://example.com/cat.png", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "input_audio", "input_audio": {"data": "AQID", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1", "filename": "a.pdf"}},
        {"type": "file_url", "file_url": {"url": "https://example.com/ref.png"}}]},
      {"role": "assistant", "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
      {"role": "tool", "content": "{\"temp\":20}", "tool_call_id": "call_1"},
      {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}], "refusal": "No.",
       "reasoning_content": "thinking"}
    ],
    "max_tokens": 100, "max_completion_tokens": 200, "temperature": 0.7, "top_p": 0.9, "n": 2,
    "stop": ["END", "STOP"], "seed": 1234567890123, "presence_penalty": -0.5,
    "frequency_penalty": 1.25, "logprobs": true, "top_logprobs": 3, "user": "u-1",
    "reasoning_effort": "low",
    "tools": [{"type": "function", "function": {"name": "weather", "description": "Weather now",
               "parameters": {"type": "object"}, "strict": true}}],
    "tool_choice": {"type": "function", "function": {"name": "weather"}},
    "parallel_tool_calls": false,
    "response_format": {"type": "json_schema", "json_schema": {"name": "out",
      "description": "The answer", "schema": {"type": "object"}, "strict": true}},
    "logit_bias": {"50256": -100, "7": 5},
    "modalities": ["text", "audio"],
    "audio": {"voice": "alloy", "format": "wav"},
    "prediction": {"type": "content", "content": "draft"},
    "web_search_options": {"search_context_size": "low",
      "user_location": {"type": "approximate", "approximate": {"city": "Berlin", "country": "DE"}}},
    "service_tier": "flex", "store": true, "metadata": {"team": "search"},
    "stream": true, "stream_options": {"include_usage": true}
  })"));
}

TEST(ChatRequestToUpstreamJsonTest, StreamAddsStreamOptions) {
  const json streamed = RequestJson(MinimalRequest(), /*stream=*/true);
  EXPECT_EQ(streamed.at("stream"), true);
  EXPECT_EQ(streamed.at("stream_options"), json::parse(R"({"include_usage":true})"));
  const json unary = RequestJson(MinimalRequest(), /*stream=*/false);
  EXPECT_FALSE(unary.contains("stream"));
  EXPECT_FALSE(unary.contains("stream_options"));
}

TEST(ChatRequestToUpstreamJsonTest, DoublesKeepTheirShortForm) {
  v1::CreateChatCompletionRequest request = MinimalRequest();
  request.set_temperature(0.7);
  request.set_top_p(0.1);
  absl::StatusOr<std::string> body = ChatRequestToUpstreamJson(request, false);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_THAT(*body, HasSubstr(R"("temperature":0.7)"));
  EXPECT_THAT(*body, HasSubstr(R"("top_p":0.1)"));
}

struct EnumCase {
  std::string name;
  std::function<void(v1::CreateChatCompletionRequest&)> set;
  std::string key;
  std::string expected;
};

void PrintTo(const EnumCase& c, std::ostream* os) { *os << c.name; }

class ChatRequestEnumTest : public testing::TestWithParam<EnumCase> {};

TEST_P(ChatRequestEnumTest, MapsToUpstreamValue) {
  v1::CreateChatCompletionRequest request = MinimalRequest();
  GetParam().set(request);
  EXPECT_EQ(RequestJson(request).at(GetParam().key), json::parse(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Values, ChatRequestEnumTest,
    testing::Values(
        EnumCase{"ToolChoiceNone",
                 [](auto& r) { r.mutable_tool_choice()->set_mode(v1::TOOL_CHOICE_MODE_NONE); },
                 "tool_choice", R"("none")"},
        EnumCase{"ToolChoiceAuto",
                 [](auto& r) { r.mutable_tool_choice()->set_mode(v1::TOOL_CHOICE_MODE_AUTO); },
                 "tool_choice", R"("auto")"},
        EnumCase{"ToolChoiceRequired",
                 [](auto& r) { r.mutable_tool_choice()->set_mode(v1::TOOL_CHOICE_MODE_REQUIRED); },
                 "tool_choice", R"("required")"},
        EnumCase{"ToolChoiceFunction",
                 [](auto& r) { r.mutable_tool_choice()->set_function_name("lookup"); },
                 "tool_choice", R"({"type":"function","function":{"name":"lookup"}})"},
        EnumCase{"ReasoningNone",
                 [](auto& r) { r.set_reasoning_effort(v1::REASONING_EFFORT_NONE); },
                 "reasoning_effort", R"("none")"},
        EnumCase{"ReasoningMinimal",
                 [](auto& r) { r.set_reasoning_effort(v1::REASONING_EFFORT_MINIMAL); },
                 "reasoning_effort", R"("minimal")"},
        EnumCase{"ReasoningLow", [](auto& r) { r.set_reasoning_effort(v1::REASONING_EFFORT_LOW); },
                 "reasoning_effort", R"("low")"},
        EnumCase{"ReasoningMedium",
                 [](auto& r) { r.set_reasoning_effort(v1::REASONING_EFFORT_MEDIUM); },
                 "reasoning_effort", R"("medium")"},
        EnumCase{"ReasoningHigh",
                 [](auto& r) { r.set_reasoning_effort(v1::REASONING_EFFORT_HIGH); },
                 "reasoning_effort", R"("high")"},
        EnumCase{"FormatText",
                 [](auto& r) {
                   r.mutable_response_format()->set_type(v1::RESPONSE_FORMAT_TYPE_TEXT);
                 },
                 "response_format", R"({"type":"text"})"},
        EnumCase{"FormatJsonObject",
                 [](auto& r) {
                   r.mutable_response_format()->set_type(v1::RESPONSE_FORMAT_TYPE_JSON_OBJECT);
                 },
                 "response_format", R"({"type":"json_object"})"},
        EnumCase{"FormatJsonSchemaMinimal",
                 [](auto& r) {
                   r.mutable_response_format()->set_type(v1::RESPONSE_FORMAT_TYPE_JSON_SCHEMA);
                   r.mutable_response_format()->mutable_json_schema()->set_name("s");
                 },
                 "response_format", R"({"type":"json_schema","json_schema":{"name":"s"}})"},
        EnumCase{"ImageDetailLow",
                 [](auto& r) {
                   v1::ChatMessage& m = *r.add_messages();
                   m.set_role(v1::ROLE_USER);
                   v1::ImageUrl& image = *m.add_parts()->mutable_image_url();
                   image.set_url("u");
                   image.set_detail(v1::IMAGE_DETAIL_LOW);
                 },
                 "messages", R"([{"role":"user","content":"hi"},
                    {"role":"user","content":[{"type":"image_url",
                      "image_url":{"url":"u","detail":"low"}}]}])"},
        EnumCase{"ImageDetailAuto",
                 [](auto& r) {
                   v1::ChatMessage& m = *r.add_messages();
                   m.set_role(v1::ROLE_USER);
                   v1::ImageUrl& image = *m.add_parts()->mutable_image_url();
                   image.set_url("u");
                   image.set_detail(v1::IMAGE_DETAIL_AUTO);
                 },
                 "messages", R"([{"role":"user","content":"hi"},
                    {"role":"user","content":[{"type":"image_url",
                      "image_url":{"url":"u","detail":"auto"}}]}])"},
        EnumCase{"FileData",
                 [](auto& r) {
                   v1::ChatMessage& m = *r.add_messages();
                   m.set_role(v1::ROLE_USER);
                   m.add_parts()->mutable_file()->set_file_data("data:application/pdf;base64,QQ==");
                 },
                 "messages", R"([{"role":"user","content":"hi"},
                    {"role":"user","content":[{"type":"file",
                      "file":{"file_data":"data:application/pdf;base64,QQ=="}}]}])"}),
    [](const testing::TestParamInfo<EnumCase>& info) { return info.param.name; });

TEST(ChatRequestToUpstreamJsonTest, ExtraBodyIsMergedLastAndWins) {
  v1::CreateChatCompletionRequest request = MinimalRequest();
  request.set_temperature(0.2);
  request.set_max_tokens(10);
  request.set_user("someone");
  *request.mutable_extra_body() = StructFromJson(R"({
    "temperature": 1.5, "max_tokens": 5, "top_k": 40, "user": null,
    "stream_options": {"chunk_size": 2},
    "messages": [{"role": "user", "content": "replaced"}]})");
  absl::StatusOr<std::string> text = ChatRequestToUpstreamJson(request, /*stream=*/true);
  ASSERT_TRUE(text.ok()) << text.status();
  const json body = json::parse(*text);
  EXPECT_EQ(body, json::parse(R"({
    "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "replaced"}],
    "temperature": 1.5, "max_tokens": 5, "top_k": 40, "stream": true,
    "stream_options": {"include_usage": true, "chunk_size": 2}})"));
  // Struct numbers are doubles; integral ones must still go out as JSON integers.
  EXPECT_TRUE(body.at("max_tokens").is_number_integer());
  EXPECT_THAT(*text, HasSubstr(R"("max_tokens":5,)"));
  EXPECT_THAT(*text, HasSubstr(R"("top_k":40})"));
}

TEST(ChatRequestToUpstreamJsonTest, ExtraBodyCanTurnOffUsage) {
  v1::CreateChatCompletionRequest request = MinimalRequest();
  *request.mutable_extra_body() = StructFromJson(R"({"stream_options": null})");
  const json body = RequestJson(request, /*stream=*/true);
  EXPECT_FALSE(body.contains("stream_options"));
  EXPECT_EQ(body.at("stream"), true);
}

// ---------------------------------------------------------------------------------------------
// Validation.

struct InvalidCase {
  std::string name;
  std::function<void(v1::CreateChatCompletionRequest&)> break_it;
  std::string message_prefix;
};

void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

class ValidateChatRequestTest : public testing::TestWithParam<InvalidCase> {};

TEST_P(ValidateChatRequestTest, RejectsWithFieldName) {
  v1::CreateChatCompletionRequest request = MinimalRequest();
  GetParam().break_it(request);
  const absl::Status status = ValidateChatRequest(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), StartsWith(GetParam().message_prefix));
  // The translation refuses the same request with the same status.
  EXPECT_EQ(ChatRequestToUpstreamJson(request, false).status(), status);
  EXPECT_EQ(ChatRequestToUpstreamJson(request, true).status(), status);
}

v1::ContentPart& AddPart(v1::CreateChatCompletionRequest& request) {
  v1::ChatMessage& message = *request.mutable_messages(0);
  message.clear_content();
  return *message.add_parts();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ValidateChatRequestTest,
    testing::Values(
        InvalidCase{"EmptyModel", [](auto& r) { r.clear_model(); }, "model: must be set"},
        InvalidCase{"NoMessages", [](auto& r) { r.clear_messages(); }, "messages: "},
        // JSON has no NaN or infinity; sent as null, the upstream would use its default.
        InvalidCase{"NanTemperature", [](auto& r) { r.set_temperature(std::nan("")); },
                    "temperature: must be a finite number"},
        InvalidCase{"InfiniteTopP",
                    [](auto& r) { r.set_top_p(std::numeric_limits<double>::infinity()); },
                    "top_p: must be a finite number"},
        InvalidCase{"NanPenalty", [](auto& r) { r.set_frequency_penalty(std::nan("")); },
                    "frequency_penalty: "},
        InvalidCase{"NanInExtraBody",
                    [](auto& r) {
                      google::protobuf::Value nan;
                      nan.set_number_value(std::nan(""));
                      google::protobuf::Value list;
                      *list.mutable_list_value()->add_values() = nan;
                      (*r.mutable_extra_body()->mutable_fields())["seed"] = list;
                    },
                    "extra_body: holds a number that is not finite"},
        InvalidCase{"InfinityInToolParameters",
                    [](auto& r) {
                      v1::FunctionDefinition& function = *r.add_tools()->mutable_function();
                      function.set_name("f");
                      (*function.mutable_parameters()->mutable_fields())["maximum"]
                          .set_number_value(-std::numeric_limits<double>::infinity());
                    },
                    "tools[0].function.parameters: "},
        InvalidCase{"RoleUnspecified",
                    [](auto& r) {
                      *r.add_messages() = TextMessage(v1::ROLE_ASSISTANT, "a");
                      r.add_messages()->set_content("no role");
                    },
                    "messages[2].role: must be set"},
        InvalidCase{"UnknownRole",
                    [](auto& r) { r.mutable_messages(0)->set_role(static_cast<v1::Role>(42)); },
                    "messages[0].role: unknown enum value 42"},
        InvalidCase{"ContentAndParts",
                    [](auto& r) { r.mutable_messages(0)->add_parts()->set_text("also"); },
                    "messages[0]: content and parts"},
        InvalidCase{"EmptyPart",
                    [](auto& r) {
                      AddPart(r).set_text("ok");
                      r.mutable_messages(0)->add_parts();
                    },
                    "messages[0].parts[1]: "},
        InvalidCase{"UnknownImageDetail",
                    [](auto& r) {
                      v1::ImageUrl& image = *AddPart(r).mutable_image_url();
                      image.set_url("https://example.com/a.png");
                      image.set_detail(static_cast<v1::ImageDetail>(9));
                    },
                    "messages[0].parts[0].image_url.detail: unknown enum value 9"},
        InvalidCase{"ToolWithoutName",
                    [](auto& r) {
                      r.add_tools()->mutable_function()->set_name("ok");
                      r.add_tools()->mutable_function()->set_description("nameless");
                    },
                    "tools[1].function.name: must be set"},
        InvalidCase{"UnknownToolChoiceMode",
                    [](auto& r) {
                      r.mutable_tool_choice()->set_mode(static_cast<v1::ToolChoiceMode>(7));
                    },
                    "tool_choice.mode: unknown enum value 7"},
        InvalidCase{"EmptyToolChoiceFunction",
                    [](auto& r) { r.mutable_tool_choice()->set_function_name(""); },
                    "tool_choice.function_name: "},
        InvalidCase{"JsonSchemaWithoutName",
                    [](auto& r) {
                      r.mutable_response_format()->set_type(v1::RESPONSE_FORMAT_TYPE_JSON_SCHEMA);
                      *r.mutable_response_format()->mutable_json_schema()->mutable_schema() =
                          StructFromJson(R"({"type":"object"})");
                    },
                    "response_format.json_schema.name: must be set"},
        InvalidCase{"UnknownResponseFormatType",
                    [](auto& r) {
                      r.mutable_response_format()->set_type(
                          static_cast<v1::ResponseFormatType>(11));
                    },
                    "response_format.type: unknown enum value 11"},
        InvalidCase{"SchemaWithoutType",
                    [](auto& r) {
                      r.mutable_response_format()->mutable_json_schema()->set_name("s");
                    },
                    "response_format.type: must be set"},
        InvalidCase{"UnknownReasoningEffort",
                    [](auto& r) { r.set_reasoning_effort(static_cast<v1::ReasoningEffort>(99)); },
                    "reasoning_effort: unknown enum value 99"},
        InvalidCase{"NZero", [](auto& r) { r.set_n(0); }, "n: must be at least 1"},
        InvalidCase{"NNegative", [](auto& r) { r.set_n(-2); }, "n: must be at least 1"}),
    [](const testing::TestParamInfo<InvalidCase>& info) { return info.param.name; });

TEST(ValidateChatRequestTest, AcceptsValidEdgeCases) {
  v1::CreateChatCompletionRequest request = MinimalRequest();
  request.set_top_logprobs(5);  // without logprobs: the upstream decides
  request.set_n(1);
  v1::ChatMessage& assistant = *request.add_messages();
  assistant.set_role(v1::ROLE_ASSISTANT);  // no content: only tool calls
  assistant.add_tool_calls()->mutable_function()->set_name("f");
  EXPECT_TRUE(ValidateChatRequest(request).ok()) << ValidateChatRequest(request);
  const json body = RequestJson(request);
  EXPECT_FALSE(body.at("messages")[1].contains("content"));
  EXPECT_EQ(body.at("top_logprobs"), 5);
}

}  // namespace
}  // namespace gengate::translate
