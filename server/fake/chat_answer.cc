// POST /chat/completions, unary and streamed, in the shapes of OpenAI's chat.completion and
// chat.completion.chunk.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fake/answer_parts.h"
#include "fake/answers.h"

namespace gengate::fake {
namespace {

constexpr int64_t kMaxChoices = 16;
constexpr std::string_view kSystemFingerprint = "fp_fake";

// What the conversation holds for the fake: the last user turn and the prompt's size.
struct ChatPrompt {
  MessageContent last_user;
  int64_t words = 0;
  bool ends_with_user = false;  // tool calls only answer a user; a tool result gets text
};

ChatPrompt ReadChatPrompt(const Json& messages) {
  ChatPrompt prompt;
  for (const Json& message : messages) {
    const Json* content = Field(message, "content");
    MessageContent read = content != nullptr ? ReadContent(*content) : MessageContent{};
    prompt.words += CountWords(read.text);
    prompt.ends_with_user = StringField(message, "role") == "user";
    if (prompt.ends_with_user) prompt.last_user = std::move(read);
  }
  return prompt;
}

// One choice's reply: text in word pieces, or a tool call.
struct ChatReply {
  std::vector<std::string> pieces;
  std::optional<ToolCall> tool_call;
  std::string finish_reason = "stop";
  int64_t completion_tokens = 0;
};

ChatReply MakeReply(const Json& request, const ChatPrompt& prompt) {
  ChatReply reply;
  if (prompt.ends_with_user) reply.tool_call = ChooseToolCall(request, prompt.last_user.text);
  if (reply.tool_call.has_value()) {
    reply.finish_reason = "tool_calls";
    reply.completion_tokens =
        static_cast<int64_t>(ArgumentPieces(reply.tool_call->arguments).size());
    return reply;
  }
  std::string text = EchoText(prompt.last_user);
  // Structured output was asked for: keep the answer a JSON document.
  if (const Json* format = Field(request, "response_format"); format != nullptr) {
    const std::string type = StringField(*format, "type");
    if (type == "json_object" || type == "json_schema") text = Dump(Json{{"echo", text}});
  }
  reply.pieces = WordPieces(text);
  std::optional<int64_t> limit = IntField(request, "max_completion_tokens");
  if (!limit.has_value()) limit = IntField(request, "max_tokens");
  if (limit.has_value() && *limit > 0 && static_cast<int64_t>(reply.pieces.size()) > *limit) {
    reply.pieces.resize(static_cast<size_t>(*limit));
    reply.finish_reason = "length";
  }
  reply.completion_tokens = static_cast<int64_t>(reply.pieces.size());
  return reply;
}

Json ChatUsage(int64_t prompt_tokens, int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", 0}, {"audio_tokens", 0}}},
          {"completion_tokens_details",
           {{"reasoning_tokens", 0},
            {"audio_tokens", 0},
            {"accepted_prediction_tokens", 0},
            {"rejected_prediction_tokens", 0}}}};
}

Json ToolCallJson(const ToolCall& call) {
  return {{"id", call.call_id},
          {"type", "function"},
          {"function", {{"name", call.name}, {"arguments", call.arguments}}}};
}

Answer UnaryChat(const Json& request, const std::string& id, int64_t choices,
                 const ChatPrompt& prompt, const ChatReply& reply) {
  Json message = {{"role", "assistant"},
                  {"content", reply.tool_call.has_value() ? Json(nullptr)
                                                          : Json(absl::StrJoin(reply.pieces, ""))},
                  {"refusal", nullptr},
                  {"annotations", Json::array()}};
  if (reply.tool_call.has_value()) {
    message["tool_calls"] = Json::array({ToolCallJson(*reply.tool_call)});
  }
  Json choice_list = Json::array();
  for (int64_t index = 0; index < choices; ++index) {
    choice_list.push_back({{"index", index},
                           {"message", message},
                           {"logprobs", nullptr},
                           {"finish_reason", reply.finish_reason}});
  }
  return JsonAnswer({{"id", id},
                     {"object", "chat.completion"},
                     {"created", kCreatedAt},
                     {"model", StringField(request, "model")},
                     {"choices", std::move(choice_list)},
                     {"usage", ChatUsage(prompt.words, reply.completion_tokens * choices)},
                     {"service_tier", "default"},
                     {"system_fingerprint", kSystemFingerprint}});
}

Answer StreamedChat(const Json& request, const std::string& id, int64_t choices,
                    const ChatPrompt& prompt, const ChatReply& reply) {
  const Json* stream_options = Field(request, "stream_options");
  const bool include_usage =
      stream_options != nullptr && BoolField(*stream_options, "include_usage");
  const std::string model = StringField(request, "model");

  std::vector<std::string> events;
  auto add_chunk = [&](Json choice_list, Json usage) {
    Json chunk = {{"id", id},
                  {"object", "chat.completion.chunk"},
                  {"created", kCreatedAt},
                  {"model", model},
                  {"service_tier", "default"},
                  {"system_fingerprint", kSystemFingerprint},
                  {"choices", std::move(choice_list)}};
    // Like OpenAI: with include_usage every chunk carries "usage", null until the last one.
    if (include_usage) chunk["usage"] = std::move(usage);
    events.push_back(SseEvent(chunk));
  };
  auto add_delta = [&](int64_t index, Json delta, Json finish_reason = nullptr) {
    add_chunk(Json::array({{{"index", index},
                            {"delta", std::move(delta)},
                            {"logprobs", nullptr},
                            {"finish_reason", std::move(finish_reason)}}}),
              nullptr);
  };

  for (int64_t index = 0; index < choices; ++index) {
    if (reply.tool_call.has_value()) {
      const ToolCall& call = *reply.tool_call;
      add_delta(index, {{"role", "assistant"},
                        {"content", nullptr},
                        {"tool_calls",
                         Json::array({{{"index", 0},
                                       {"id", call.call_id},
                                       {"type", "function"},
                                       {"function", {{"name", call.name}, {"arguments", ""}}}}})},
                        {"refusal", nullptr}});
      for (const std::string& piece : ArgumentPieces(call.arguments)) {
        add_delta(index, {{"tool_calls",
                           Json::array({{{"index", 0}, {"function", {{"arguments", piece}}}}})}});
      }
    } else {
      add_delta(index, {{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}});
      for (const std::string& piece : reply.pieces) add_delta(index, {{"content", piece}});
    }
    add_delta(index, Json::object(), reply.finish_reason);
  }
  if (include_usage) {
    add_chunk(Json::array(), ChatUsage(prompt.words, reply.completion_tokens * choices));
  }
  events.push_back("data: [DONE]\n\n");
  return StreamAnswer(std::move(events));
}

}  // namespace

Answer AnswerChatCompletion(const Json& request) {
  const Json* messages = Field(request, "messages");
  if (messages == nullptr || !messages->is_array() || messages->empty()) {
    return MissingParameterAnswer("messages");
  }
  const int64_t choices = IntField(request, "n").value_or(1);
  if (choices < 1 || choices > kMaxChoices) {
    return InvalidValueAnswer("n", absl::StrCat("n must be between 1 and ", kMaxChoices, "."));
  }
  const ChatPrompt prompt = ReadChatPrompt(*messages);
  const ChatReply reply = MakeReply(request, prompt);
  const std::string id = IdFor("chatcmpl-fake-", request);
  return BoolField(request, "stream") ? StreamedChat(request, id, choices, prompt, reply)
                                      : UnaryChat(request, id, choices, prompt, reply);
}

}  // namespace gengate::fake
