// POST /responses, unary and streamed, in the shapes of OpenAI's Responses API: a Response
// object, or typed events (`event:` lines) with increasing sequence numbers.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "fake/answer_parts.h"
#include "fake/answers.h"

namespace gengate::fake {
namespace {

// What `input` (and `instructions`) hold for the fake: the last user turn and the size.
struct ResponsesPrompt {
  MessageContent last_user;
  int64_t words = 0;
  bool ends_with_user = false;  // a function_call_output last gets text, not another call
};

ResponsesPrompt ReadResponsesPrompt(const Json& request) {
  ResponsesPrompt prompt;
  prompt.words = CountWords(StringField(request, "instructions"));
  const Json* input = Field(request, "input");
  if (input == nullptr) return prompt;
  if (input->is_string()) {
    prompt.last_user.text = input->get<std::string>();
    prompt.words += CountWords(prompt.last_user.text);
    prompt.ends_with_user = true;
    return prompt;
  }
  if (!input->is_array()) return prompt;
  for (const Json& item : *input) {
    const std::string type = StringField(item, "type", "message");
    if (type == "function_call_output") {
      prompt.words += CountWords(StringField(item, "output"));
      prompt.ends_with_user = false;
      continue;
    }
    if (type != "message") continue;
    const Json* content = Field(item, "content");
    MessageContent read = content != nullptr ? ReadContent(*content) : MessageContent{};
    prompt.words += CountWords(read.text);
    prompt.ends_with_user = StringField(item, "role") == "user";
    if (prompt.ends_with_user) prompt.last_user = std::move(read);
  }
  return prompt;
}

// The one output item: a message in word pieces, or a function call.
struct ResponsesReply {
  std::string item_id;
  std::vector<std::string> pieces;
  std::optional<ToolCall> tool_call;
  bool incomplete = false;  // cut at max_output_tokens
  int64_t output_tokens = 0;
};

ResponsesReply MakeReply(const Json& request, const ResponsesPrompt& prompt) {
  ResponsesReply reply;
  if (prompt.ends_with_user) reply.tool_call = ChooseToolCall(request, prompt.last_user.text);
  if (reply.tool_call.has_value()) {
    reply.item_id = IdFor("fc_fake_", request);
    reply.output_tokens = static_cast<int64_t>(ArgumentPieces(reply.tool_call->arguments).size());
    return reply;
  }
  reply.item_id = IdFor("msg_fake_", request);
  reply.pieces = WordPieces(EchoText(prompt.last_user));
  if (std::optional<int64_t> limit = IntField(request, "max_output_tokens");
      limit.has_value() && *limit > 0 && static_cast<int64_t>(reply.pieces.size()) > *limit) {
    reply.pieces.resize(static_cast<size_t>(*limit));
    reply.incomplete = true;
  }
  reply.output_tokens = static_cast<int64_t>(reply.pieces.size());
  return reply;
}

Json OutputTextPart(std::string text) {
  return {{"type", "output_text"},
          {"annotations", Json::array()},
          {"logprobs", Json::array()},
          {"text", std::move(text)}};
}

// The output item as it is when finished (`done`) or just started.
Json OutputItem(const ResponsesReply& reply, bool done) {
  const std::string status = !done ? "in_progress" : reply.incomplete ? "incomplete" : "completed";
  if (reply.tool_call.has_value()) {
    return {{"id", reply.item_id},
            {"type", "function_call"},
            {"status", status},
            {"arguments", done ? reply.tool_call->arguments : ""},
            {"call_id", reply.tool_call->call_id},
            {"name", reply.tool_call->name}};
  }
  return {{"id", reply.item_id},
          {"type", "message"},
          {"status", status},
          {"content",
           done ? Json::array({OutputTextPart(absl::StrJoin(reply.pieces, ""))}) : Json::array()},
          {"role", "assistant"}};
}

// The Response object: `finished` false is the in-progress snapshot a stream starts with.
Json ResponseObject(const Json& request, const ResponsesPrompt& prompt, const ResponsesReply& reply,
                    bool finished) {
  const std::string status = !finished          ? "in_progress"
                             : reply.incomplete ? "incomplete"
                                                : "completed";
  Json usage = nullptr;
  if (finished) {
    usage = {{"input_tokens", prompt.words},
             {"input_tokens_details", {{"cached_tokens", 0}}},
             {"output_tokens", reply.output_tokens},
             {"output_tokens_details", {{"reasoning_tokens", 0}}},
             {"total_tokens", prompt.words + reply.output_tokens}};
  }
  return {{"id", IdFor("resp_fake_", request)},
          {"object", "response"},
          {"created_at", kCreatedAt},
          {"status", status},
          {"background", false},
          {"error", nullptr},
          {"incomplete_details",
           finished && reply.incomplete ? Json{{"reason", "max_output_tokens"}} : Json(nullptr)},
          {"instructions", FieldOr(request, "instructions", nullptr)},
          {"max_output_tokens", FieldOr(request, "max_output_tokens", nullptr)},
          {"model", StringField(request, "model")},
          {"output", finished ? Json::array({OutputItem(reply, true)}) : Json::array()},
          {"parallel_tool_calls", FieldOr(request, "parallel_tool_calls", true)},
          {"previous_response_id", FieldOr(request, "previous_response_id", nullptr)},
          {"store", FieldOr(request, "store", true)},
          {"temperature", FieldOr(request, "temperature", 1.0)},
          {"text", FieldOr(request, "text", Json{{"format", {{"type", "text"}}}})},
          {"tool_choice", FieldOr(request, "tool_choice", "auto")},
          {"tools", FieldOr(request, "tools", Json::array())},
          {"top_p", FieldOr(request, "top_p", 1.0)},
          {"truncation", "disabled"},
          {"usage", std::move(usage)},
          {"user", nullptr},
          {"metadata", FieldOr(request, "metadata", Json::object())}};
}

Answer StreamedResponse(const Json& request, const ResponsesPrompt& prompt,
                        const ResponsesReply& reply) {
  std::vector<std::string> events;
  int64_t sequence_number = 0;
  // Every event is {"type": ..., <fields>, "sequence_number": n} under an `event: type` line.
  auto add_event = [&](std::string_view type, Json fields) {
    Json event = {{"type", type}};
    for (auto& [key, value] : fields.items()) event[key] = std::move(value);
    event["sequence_number"] = sequence_number++;
    events.push_back(SseEvent(event, type));
  };

  const Json started = ResponseObject(request, prompt, reply, /*finished=*/false);
  add_event("response.created", {{"response", started}});
  add_event("response.in_progress", {{"response", started}});
  add_event("response.output_item.added",
            {{"output_index", 0}, {"item", OutputItem(reply, /*done=*/false)}});

  if (reply.tool_call.has_value()) {
    for (const std::string& piece : ArgumentPieces(reply.tool_call->arguments)) {
      add_event("response.function_call_arguments.delta",
                {{"item_id", reply.item_id}, {"output_index", 0}, {"delta", piece}});
    }
    add_event("response.function_call_arguments.done", {{"item_id", reply.item_id},
                                                        {"output_index", 0},
                                                        {"name", reply.tool_call->name},
                                                        {"arguments", reply.tool_call->arguments}});
  } else {
    const Json where = {{"item_id", reply.item_id}, {"output_index", 0}, {"content_index", 0}};
    auto with = [&where](Json extra) {
      Json fields = where;
      for (auto& [key, value] : extra.items()) fields[key] = std::move(value);
      return fields;
    };
    const std::string text = absl::StrJoin(reply.pieces, "");
    add_event("response.content_part.added", with({{"part", OutputTextPart("")}}));
    for (const std::string& piece : reply.pieces) {
      add_event("response.output_text.delta",
                with({{"delta", piece}, {"logprobs", Json::array()}}));
    }
    add_event("response.output_text.done", with({{"text", text}, {"logprobs", Json::array()}}));
    add_event("response.content_part.done", with({{"part", OutputTextPart(text)}}));
  }

  add_event("response.output_item.done",
            {{"output_index", 0}, {"item", OutputItem(reply, /*done=*/true)}});
  add_event(reply.incomplete ? "response.incomplete" : "response.completed",
            {{"response", ResponseObject(request, prompt, reply, /*finished=*/true)}});
  return StreamAnswer(std::move(events));
}

}  // namespace

Answer AnswerResponse(const Json& request) {
  const Json* input = Field(request, "input");
  if (input != nullptr && !input->is_string() && !input->is_array()) {
    return InvalidValueAnswer("input", "input must be a string or an array of input items.");
  }
  const ResponsesPrompt prompt = ReadResponsesPrompt(request);
  const ResponsesReply reply = MakeReply(request, prompt);
  if (BoolField(request, "stream")) return StreamedResponse(request, prompt, reply);
  return JsonAnswer(ResponseObject(request, prompt, reply, /*finished=*/true));
}

}  // namespace gengate::fake
