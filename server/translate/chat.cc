#include "translate/chat.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "translate/common.h"
#include "translate/dom_reader.h"
#include "translate/json_writer.h"
#include "translate/struct_json.h"

namespace gengate::translate {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Enum names, both ways.

std::string_view RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_SYSTEM:
      return "system";
    case v1::ROLE_DEVELOPER:
      return "developer";
    case v1::ROLE_USER:
      return "user";
    case v1::ROLE_ASSISTANT:
      return "assistant";
    case v1::ROLE_TOOL:
      return "tool";
    default:
      return "";
  }
}

v1::Role RoleFromName(std::string_view name) {
  if (name == "assistant") return v1::ROLE_ASSISTANT;
  if (name == "user") return v1::ROLE_USER;
  if (name == "system") return v1::ROLE_SYSTEM;
  if (name == "developer") return v1::ROLE_DEVELOPER;
  if (name == "tool") return v1::ROLE_TOOL;
  return v1::ROLE_UNSPECIFIED;
}

v1::FinishReason FinishReasonFromName(std::string_view name) {
  if (name == "stop") return v1::FINISH_REASON_STOP;
  if (name == "length") return v1::FINISH_REASON_LENGTH;
  if (name == "tool_calls") return v1::FINISH_REASON_TOOL_CALLS;
  if (name == "content_filter") return v1::FINISH_REASON_CONTENT_FILTER;
  if (name == "function_call") return v1::FINISH_REASON_FUNCTION_CALL;
  return v1::FINISH_REASON_UNSPECIFIED;
}

// ---------------------------------------------------------------------------------------------
// Validation.

absl::Status ValidateContentPart(const v1::ContentPart& part, absl::string_view field) {
  switch (part.part_case()) {
    case v1::ContentPart::PART_NOT_SET:
      return FieldError(field, "one of text, image_url, input_audio, file, file_url, refusal "
                               "must be set");
    case v1::ContentPart::kImageUrl:
      if (!v1::ImageDetail_IsValid(part.image_url().detail())) {
        return UnknownEnumError(absl::StrCat(field, ".image_url.detail"),
                                part.image_url().detail());
      }
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status ValidateMessage(const v1::ChatMessage& message, absl::string_view field) {
  if (message.role() == v1::ROLE_UNSPECIFIED) {
    return FieldError(absl::StrCat(field, ".role"), "must be set");
  }
  if (!v1::Role_IsValid(message.role())) {
    return UnknownEnumError(absl::StrCat(field, ".role"), message.role());
  }
  if (message.has_content() && message.parts_size() > 0) {
    return FieldError(field, "content and parts are both set; set one of them");
  }
  for (int j = 0; j < message.parts_size(); ++j) {
    RETURN_IF_ERROR(ValidateContentPart(message.parts(j), absl::StrCat(field, ".parts[", j, "]")));
  }
  return absl::OkStatus();
}

absl::Status ValidateResponseFormat(const v1::ResponseFormat& format) {
  if (!v1::ResponseFormatType_IsValid(format.type())) {
    return UnknownEnumError("response_format.type", format.type());
  }
  // A schema with no type would silently be dropped; say so instead.
  if (format.type() == v1::RESPONSE_FORMAT_TYPE_UNSPECIFIED && format.has_json_schema()) {
    return FieldError("response_format.type", "must be set when json_schema is given");
  }
  if (format.type() == v1::RESPONSE_FORMAT_TYPE_JSON_SCHEMA &&
      format.json_schema().name().empty()) {
    return FieldError("response_format.json_schema.name",
                      "must be set for RESPONSE_FORMAT_TYPE_JSON_SCHEMA");
  }
  return CheckFiniteNumbers(format.json_schema().schema(), "response_format.json_schema.schema");
}

// ---------------------------------------------------------------------------------------------
// Request → upstream JSON.

void WriteContentPart(const v1::ContentPart& part, JsonWriter& out) {
  out.BeginObject();
  switch (part.part_case()) {
    case v1::ContentPart::kText:
      out.Member("type", "text");
      out.Member("text", part.text());
      break;
    case v1::ContentPart::kImageUrl:
      out.Member("type", "image_url");
      out.Key("image_url");
      out.BeginObject();
      out.Member("url", part.image_url().url());
      if (part.image_url().detail() != v1::IMAGE_DETAIL_UNSPECIFIED) {
        out.Member("detail", ImageDetailName(part.image_url().detail()));
      }
      out.EndObject();
      break;
    case v1::ContentPart::kInputAudio:
      out.Member("type", "input_audio");
      out.Key("input_audio");
      out.BeginObject();
      out.Member("data", absl::Base64Escape(part.input_audio().data()));
      out.Member("format", part.input_audio().format());
      out.EndObject();
      break;
    case v1::ContentPart::kFile: {
      const v1::FileInput& file = part.file();
      out.Member("type", "file");
      out.Key("file");
      out.BeginObject();
      if (file.has_file_id()) out.Member("file_id", file.file_id());
      if (file.has_file_data()) out.Member("file_data", file.file_data());
      if (file.has_filename()) out.Member("filename", file.filename());
      out.EndObject();
      break;
    }
    case v1::ContentPart::kFileUrl:
      out.Member("type", "file_url");
      out.Key("file_url");
      out.BeginObject();
      out.Member("url", part.file_url().url());
      out.EndObject();
      break;
    case v1::ContentPart::kRefusal:
      out.Member("type", "refusal");
      out.Member("refusal", part.refusal());
      break;
    case v1::ContentPart::PART_NOT_SET:
      break;  // rejected by validation
  }
  out.EndObject();
}

void WriteToolCall(const v1::ToolCall& call, JsonWriter& out) {
  out.BeginObject();
  out.Member("id", call.id());
  out.Member("type", call.type().empty() ? std::string_view("function") : call.type());
  out.Key("function");
  out.BeginObject();
  out.Member("name", call.function().name());
  out.Member("arguments", call.function().arguments());
  out.EndObject();
  out.EndObject();
}

void WriteMessage(const v1::ChatMessage& message, JsonWriter& out) {
  out.BeginObject();
  out.Member("role", RoleName(message.role()));
  if (message.has_content()) {
    out.Member("content", message.content());
  } else if (message.parts_size() > 0) {
    out.Key("content");
    out.BeginArray();
    for (const v1::ContentPart& part : message.parts()) WriteContentPart(part, out);
    out.EndArray();
  }
  // No content at all (an assistant message with only tool calls): the key is left out.
  if (message.has_name()) out.Member("name", message.name());
  if (message.tool_calls_size() > 0) {
    out.Key("tool_calls");
    out.BeginArray();
    for (const v1::ToolCall& call : message.tool_calls()) WriteToolCall(call, out);
    out.EndArray();
  }
  if (message.has_tool_call_id()) out.Member("tool_call_id", message.tool_call_id());
  if (message.has_refusal()) out.Member("refusal", message.refusal());
  if (message.has_reasoning_content()) {
    out.Member("reasoning_content", message.reasoning_content());
  }
  // `annotations` are output-only upstream: an answer echoed back into the conversation must not
  // carry them.
  out.EndObject();
}

void WriteTool(const v1::Tool& tool, JsonWriter& out) {
  const v1::FunctionDefinition& function = tool.function();
  out.BeginObject();
  out.Member("type", "function");
  out.Key("function");
  out.BeginObject();
  out.Member("name", function.name());
  if (function.has_description()) out.Member("description", function.description());
  if (function.has_parameters()) {
    out.Key("parameters");
    WriteStruct(function.parameters(), out);
  }
  if (function.has_strict()) out.BoolMember("strict", function.strict());
  out.EndObject();
  out.EndObject();
}

// Writes the `tool_choice` member, or nothing for an unspecified choice.
void WriteToolChoice(const v1::ToolChoice& choice, JsonWriter& out) {
  switch (choice.choice_case()) {
    case v1::ToolChoice::kMode:
      if (choice.mode() == v1::TOOL_CHOICE_MODE_UNSPECIFIED) return;
      out.Member("tool_choice", ToolChoiceModeName(choice.mode()));
      return;
    case v1::ToolChoice::kFunctionName:
      out.Key("tool_choice");
      out.BeginObject();
      out.Member("type", "function");
      out.Key("function");
      out.BeginObject();
      out.Member("name", choice.function_name());
      out.EndObject();
      out.EndObject();
      return;
    case v1::ToolChoice::CHOICE_NOT_SET:
      return;
  }
}

// Writes the `response_format` member, or nothing for an unspecified type.
void WriteResponseFormat(const v1::ResponseFormat& format, JsonWriter& out) {
  if (format.type() == v1::RESPONSE_FORMAT_TYPE_UNSPECIFIED) return;
  out.Key("response_format");
  out.BeginObject();
  out.Member("type", ResponseFormatTypeName(format.type()));
  if (format.type() == v1::RESPONSE_FORMAT_TYPE_JSON_SCHEMA) {
    const v1::JsonSchemaFormat& schema = format.json_schema();
    out.Key("json_schema");
    out.BeginObject();
    out.Member("name", schema.name());
    if (schema.has_description()) out.Member("description", schema.description());
    if (schema.has_schema()) {
      out.Key("schema");
      WriteStruct(schema.schema(), out);
    }
    if (schema.has_strict()) out.BoolMember("strict", schema.strict());
    out.EndObject();
  }
  out.EndObject();
}

void WriteWebSearchOptions(const v1::WebSearchOptions& options, JsonWriter& out) {
  out.BeginObject();
  if (options.has_search_context_size()) {
    out.Member("search_context_size", options.search_context_size());
  }
  if (options.has_user_location()) {
    const v1::ApproximateLocation& location = options.user_location();
    out.Key("user_location");
    out.BeginObject();
    out.Member("type", "approximate");
    out.Key("approximate");
    out.BeginObject();
    if (location.has_city()) out.Member("city", location.city());
    if (location.has_country()) out.Member("country", location.country());
    if (location.has_region()) out.Member("region", location.region());
    if (location.has_timezone()) out.Member("timezone", location.timezone());
    out.EndObject();
    out.EndObject();
  }
  out.EndObject();
}

void WriteStrings(std::string_view key,
                  const google::protobuf::RepeatedPtrField<std::string>& values, JsonWriter& out) {
  out.Key(key);
  out.BeginArray();
  for (const std::string& value : values) out.String(value);
  out.EndArray();
}

// ---------------------------------------------------------------------------------------------
// Upstream JSON → proto, read with simdjson's DOM (dom_reader.h): every unary answer and every
// stream chunk passes here. Tolerant: a member of the wrong type counts as absent.

using dom::Element;

std::int32_t Int32Member(Element object, std::string_view key) {
  return ClampToInt32(dom::IntegerMember(object, key).value_or(0));
}

// Protobuf's string setters take std::string, not std::string_view.
std::string Text(std::string_view text) { return std::string(text); }

void ParseTokenLogprobs(dom::Array array,
                        google::protobuf::RepeatedPtrField<v1::TokenLogprob>& out) {
  out.Reserve(static_cast<int>(array.size()));
  for (Element entry : array) {
    if (!entry.is_object()) continue;
    v1::TokenLogprob& token = *out.Add();
    if (auto text = dom::StringMember(entry, "token")) token.set_token(Text(*text));
    token.set_logprob(dom::DoubleMember(entry, "logprob"));
    if (std::optional<std::string> bytes = dom::BytesMember(entry, "bytes")) {
      token.set_bytes(*std::move(bytes));
    }
    if (auto top = dom::ArrayMember(entry, "top_logprobs")) {
      for (Element alternative : *top) {
        if (!alternative.is_object()) continue;
        v1::TopLogprob& top_token = *token.add_top_logprobs();
        if (auto text = dom::StringMember(alternative, "token")) top_token.set_token(Text(*text));
        top_token.set_logprob(dom::DoubleMember(alternative, "logprob"));
        if (std::optional<std::string> bytes = dom::BytesMember(alternative, "bytes")) {
          top_token.set_bytes(*std::move(bytes));
        }
      }
    }
  }
}

void ParseLogprobs(Element object, v1::ChatLogprobs& out) {
  if (auto content = dom::ArrayMember(object, "content")) {
    ParseTokenLogprobs(*content, *out.mutable_content());
  }
  if (auto refusal = dom::ArrayMember(object, "refusal")) {
    ParseTokenLogprobs(*refusal, *out.mutable_refusal());
  }
}

void ParseUsage(Element object, v1::CompletionUsage& out) {
  out.set_prompt_tokens(Int32Member(object, "prompt_tokens"));
  out.set_completion_tokens(Int32Member(object, "completion_tokens"));
  out.set_total_tokens(Int32Member(object, "total_tokens"));
  if (auto prompt = dom::ObjectMember(object, "prompt_tokens_details")) {
    v1::PromptTokensDetails& details = *out.mutable_prompt_tokens_details();
    details.set_cached_tokens(Int32Member(*prompt, "cached_tokens"));
    details.set_audio_tokens(Int32Member(*prompt, "audio_tokens"));
  }
  if (auto completion = dom::ObjectMember(object, "completion_tokens_details")) {
    v1::CompletionTokensDetails& details = *out.mutable_completion_tokens_details();
    details.set_reasoning_tokens(Int32Member(*completion, "reasoning_tokens"));
    details.set_audio_tokens(Int32Member(*completion, "audio_tokens"));
    details.set_accepted_prediction_tokens(Int32Member(*completion, "accepted_prediction_tokens"));
    details.set_rejected_prediction_tokens(Int32Member(*completion, "rejected_prediction_tokens"));
  }
}

// Sets both the enum and the raw string; the raw string keeps values the enum lacks.
template <typename Choice>
void ParseFinishReason(Element choice, Choice& out) {
  if (auto reason = dom::StringMember(choice, "finish_reason")) {
    out.set_finish_reason(FinishReasonFromName(*reason));
    out.set_raw_finish_reason(Text(*reason));
  }
}

void ParseContentArray(dom::Array parts, v1::ChatMessage& out) {
  for (Element part : parts) {
    const std::optional<std::string_view> type = dom::StringMember(part, "type");
    if (!type.has_value()) continue;
    if (*type == "text" || *type == "output_text") {
      if (auto text = dom::StringMember(part, "text")) out.add_parts()->set_text(Text(*text));
    } else if (*type == "refusal") {
      if (auto text = dom::StringMember(part, "refusal")) {
        out.add_parts()->set_refusal(Text(*text));
      }
    } else if (*type == "image_url") {
      if (auto image = dom::ObjectMember(part, "image_url")) {
        if (auto url = dom::StringMember(*image, "url")) {
          out.add_parts()->mutable_image_url()->set_url(Text(*url));
        }
      }
    }
  }
}

// DeepSeek and vLLM say `reasoning_content`; some newer servers say `reasoning`.
std::optional<std::string_view> ReasoningMember(Element object) {
  if (auto reasoning = dom::StringMember(object, "reasoning_content")) return reasoning;
  return dom::StringMember(object, "reasoning");
}

void ParseMessage(Element message, v1::ChatMessage& out) {
  const std::optional<std::string_view> role = dom::StringMember(message, "role");
  out.set_role(role.has_value() ? RoleFromName(*role) : v1::ROLE_ASSISTANT);
  if (auto content = dom::Member(message, "content")) {
    std::string_view text;
    dom::Array parts;
    if (content->get_string().get(text) == simdjson::SUCCESS) {
      out.set_content(Text(text));
    } else if (content->get_array().get(parts) == simdjson::SUCCESS) {
      ParseContentArray(parts, out);
    }
  }
  if (auto refusal = dom::StringMember(message, "refusal")) out.set_refusal(Text(*refusal));
  if (auto calls = dom::ArrayMember(message, "tool_calls")) {
    for (Element call : *calls) {
      if (!call.is_object()) continue;
      v1::ToolCall& tool_call = *out.add_tool_calls();
      if (auto id = dom::StringMember(call, "id")) tool_call.set_id(Text(*id));
      if (auto type = dom::StringMember(call, "type")) tool_call.set_type(Text(*type));
      if (auto function = dom::ObjectMember(call, "function")) {
        if (auto name = dom::StringMember(*function, "name")) {
          tool_call.mutable_function()->set_name(Text(*name));
        }
        // The arguments are JSON text; a compat server that sends an object gets it re-written.
        std::optional<Element> arguments = dom::Member(*function, "arguments");
        tool_call.mutable_function()->set_arguments(
            arguments.has_value() ? dom::TextOrJson(*arguments) : std::string());
      }
    }
  }
  if (auto annotations = dom::ArrayMember(message, "annotations")) {
    for (Element annotation : *annotations) {
      if (!annotation.is_object()) continue;
      v1::Annotation& out_annotation = *out.add_annotations();
      if (auto type = dom::StringMember(annotation, "type")) out_annotation.set_type(Text(*type));
      if (auto citation = dom::ObjectMember(annotation, "url_citation")) {
        v1::UrlCitation& url_citation = *out_annotation.mutable_url_citation();
        url_citation.set_start_index(Int32Member(*citation, "start_index"));
        url_citation.set_end_index(Int32Member(*citation, "end_index"));
        if (auto url = dom::StringMember(*citation, "url")) url_citation.set_url(Text(*url));
        if (auto title = dom::StringMember(*citation, "title")) {
          url_citation.set_title(Text(*title));
        }
      }
    }
  }
  if (auto reasoning = ReasoningMember(message)) out.set_reasoning_content(Text(*reasoning));
}

void ParseDelta(Element delta, v1::ChatCompletionDelta& out) {
  if (auto role = dom::StringMember(delta, "role")) out.set_role(RoleFromName(*role));
  if (auto content = dom::StringMember(delta, "content")) out.set_content(Text(*content));
  if (auto refusal = dom::StringMember(delta, "refusal")) out.set_refusal(Text(*refusal));
  if (auto reasoning = ReasoningMember(delta)) out.set_reasoning_content(Text(*reasoning));
  if (auto calls = dom::ArrayMember(delta, "tool_calls")) {
    int position = 0;
    for (Element call : *calls) {
      if (!call.is_object()) continue;
      v1::ToolCallDelta& call_delta = *out.add_tool_calls();
      // OpenAI always sends `index`; fall back to the position for servers that do not.
      call_delta.set_index(ClampToInt32(dom::IntegerMember(call, "index").value_or(position)));
      ++position;
      if (auto id = dom::StringMember(call, "id")) call_delta.set_id(Text(*id));
      if (auto type = dom::StringMember(call, "type")) call_delta.set_type(Text(*type));
      if (auto function = dom::ObjectMember(call, "function")) {
        v1::FunctionCallDelta& function_delta = *call_delta.mutable_function();
        if (auto name = dom::StringMember(*function, "name")) function_delta.set_name(Text(*name));
        if (auto arguments = dom::Member(*function, "arguments")) {
          function_delta.set_arguments(dom::TextOrJson(*arguments));
        }
      }
    }
  }
}

// Fields shared by `chat.completion` and `chat.completion.chunk`.
template <typename Completion>
void ParseCompletionHeader(Element object, Completion& out) {
  if (auto id = dom::StringMember(object, "id")) out.set_id(Text(*id));
  out.set_created(dom::IntegerMember(object, "created").value_or(0));
  if (auto model = dom::StringMember(object, "model")) out.set_model(Text(*model));
  if (auto usage = dom::ObjectMember(object, "usage")) ParseUsage(*usage, *out.mutable_usage());
  if (auto fingerprint = dom::StringMember(object, "system_fingerprint")) {
    out.set_system_fingerprint(Text(*fingerprint));
  }
  if (auto tier = dom::StringMember(object, "service_tier")) out.set_service_tier(Text(*tier));
}

}  // namespace

absl::Status ValidateChatRequest(const v1::CreateChatCompletionRequest& request) {
  if (request.model().empty()) return FieldError("model", "must be set");
  if (request.messages_size() == 0) {
    return FieldError("messages", "at least one message is required");
  }
  for (int i = 0; i < request.messages_size(); ++i) {
    RETURN_IF_ERROR(ValidateMessage(request.messages(i), absl::StrCat("messages[", i, "]")));
  }
  if (request.has_n() && request.n() < 1) return FieldError("n", "must be at least 1");
  RETURN_IF_ERROR(CheckFinite(request.has_temperature(), request.temperature(), "temperature"));
  RETURN_IF_ERROR(CheckFinite(request.has_top_p(), request.top_p(), "top_p"));
  RETURN_IF_ERROR(CheckFinite(request.has_presence_penalty(), request.presence_penalty(),
                              "presence_penalty"));
  RETURN_IF_ERROR(CheckFinite(request.has_frequency_penalty(), request.frequency_penalty(),
                              "frequency_penalty"));
  RETURN_IF_ERROR(CheckFiniteNumbers(request.extra_body(), "extra_body"));
  if (!v1::ReasoningEffort_IsValid(request.reasoning_effort())) {
    return UnknownEnumError("reasoning_effort", request.reasoning_effort());
  }
  for (int i = 0; i < request.tools_size(); ++i) {
    if (request.tools(i).function().name().empty()) {
      return FieldError(absl::StrCat("tools[", i, "].function.name"), "must be set");
    }
    RETURN_IF_ERROR(CheckFiniteNumbers(request.tools(i).function().parameters(),
                                       absl::StrCat("tools[", i, "].function.parameters")));
  }
  if (request.has_tool_choice()) {
    const v1::ToolChoice& choice = request.tool_choice();
    if (choice.has_mode() && !v1::ToolChoiceMode_IsValid(choice.mode())) {
      return UnknownEnumError("tool_choice.mode", choice.mode());
    }
    if (choice.has_function_name() && choice.function_name().empty()) {
      return FieldError("tool_choice.function_name", "must not be empty");
    }
  }
  if (request.has_response_format()) {
    RETURN_IF_ERROR(ValidateResponseFormat(request.response_format()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ChatRequestToUpstreamJson(
    const v1::CreateChatCompletionRequest& request, bool stream) {
  RETURN_IF_ERROR(ValidateChatRequest(request));

  std::string body;
  // The size the gateway's request size check computed already (0 when nothing sized the
  // request), so that a large request lands in one allocation without sizing it twice.
  body.reserve(256 + static_cast<std::size_t>(request.GetCachedSize()) * 5 / 4);
  JsonWriter out(body);
  out.BeginObject();
  out.Member("model", request.model());
  out.Key("messages");
  out.BeginArray();
  for (const v1::ChatMessage& message : request.messages()) WriteMessage(message, out);
  out.EndArray();

  if (request.has_max_tokens()) out.IntMember("max_tokens", request.max_tokens());
  if (request.has_max_completion_tokens()) {
    out.IntMember("max_completion_tokens", request.max_completion_tokens());
  }
  if (request.has_temperature()) out.DoubleMember("temperature", request.temperature());
  if (request.has_top_p()) out.DoubleMember("top_p", request.top_p());
  if (request.has_n()) out.IntMember("n", request.n());
  if (request.stop_size() > 0) WriteStrings("stop", request.stop(), out);
  if (request.has_seed()) out.IntMember("seed", request.seed());
  if (request.has_presence_penalty()) {
    out.DoubleMember("presence_penalty", request.presence_penalty());
  }
  if (request.has_frequency_penalty()) {
    out.DoubleMember("frequency_penalty", request.frequency_penalty());
  }
  if (request.has_logprobs()) out.BoolMember("logprobs", request.logprobs());
  if (request.has_top_logprobs()) out.IntMember("top_logprobs", request.top_logprobs());
  if (request.has_user()) out.Member("user", request.user());
  if (request.reasoning_effort() != v1::REASONING_EFFORT_UNSPECIFIED) {
    out.Member("reasoning_effort", ReasoningEffortName(request.reasoning_effort()));
  }
  if (request.tools_size() > 0) {
    out.Key("tools");
    out.BeginArray();
    for (const v1::Tool& tool : request.tools()) WriteTool(tool, out);
    out.EndArray();
  }
  if (request.has_tool_choice()) WriteToolChoice(request.tool_choice(), out);
  if (request.has_parallel_tool_calls()) {
    out.BoolMember("parallel_tool_calls", request.parallel_tool_calls());
  }
  if (request.has_response_format()) WriteResponseFormat(request.response_format(), out);
  if (!request.logit_bias().empty()) {
    // Sorted, so that the same request always gives the same bytes.
    std::vector<std::pair<std::int32_t, std::int32_t>> bias(request.logit_bias().begin(),
                                                            request.logit_bias().end());
    std::sort(bias.begin(), bias.end());
    out.Key("logit_bias");
    out.BeginObject();
    for (const auto& [token, value] : bias) out.IntMember(absl::StrCat(token), value);
    out.EndObject();
  }
  if (request.modalities_size() > 0) WriteStrings("modalities", request.modalities(), out);
  if (request.has_audio()) {
    out.Key("audio");
    out.BeginObject();
    out.Member("voice", request.audio().voice());
    out.Member("format", request.audio().format());
    out.EndObject();
  }
  if (request.has_prediction()) {
    out.Key("prediction");
    out.BeginObject();
    out.Member("type", "content");
    out.Member("content", request.prediction().content());
    out.EndObject();
  }
  if (request.has_web_search_options()) {
    out.Key("web_search_options");
    WriteWebSearchOptions(request.web_search_options(), out);
  }
  if (request.has_service_tier()) out.Member("service_tier", request.service_tier());
  if (request.has_store()) out.BoolMember("store", request.store());
  if (!request.metadata().empty()) {
    std::vector<std::pair<std::string_view, std::string_view>> metadata(
        request.metadata().begin(), request.metadata().end());
    std::sort(metadata.begin(), metadata.end());
    out.Key("metadata");
    out.BeginObject();
    for (const auto& [key, value] : metadata) out.Member(key, value);
    out.EndObject();
  }
  if (stream) {
    out.BoolMember("stream", true);
    out.Key("stream_options");
    out.BeginObject();
    out.BoolMember("include_usage", true);
    out.EndObject();
  }
  out.EndObject();
  return WithExtraBody(request.extra_body(), std::move(body));
}

absl::StatusOr<v1::ChatCompletion> ChatCompletionFromUpstreamJson(std::string_view body) {
  const dom::Document parsed(body);
  if (!parsed.ok()) {
    return absl::InternalError(
        absl::StrCat("upstream chat completion is not valid JSON (", body.size(), " bytes)"));
  }
  if (!parsed.root().is_object()) {
    return absl::InternalError("upstream chat completion is not a JSON object");
  }
  const std::optional<dom::Array> choices = dom::ArrayMember(parsed.root(), "choices");
  if (!choices.has_value()) {
    return absl::InternalError("upstream chat completion has no choices array");
  }
  if (choices->size() > kMaxAnswerItems) {
    return absl::InternalError(
        absl::StrCat("upstream chat completion has more than ", kMaxAnswerItems, " choices"));
  }

  // `object` is not checked: Ace's gpt-4o-image labels unary answers "chat.completion.chunk".
  v1::ChatCompletion completion;
  ParseCompletionHeader(parsed.root(), completion);
  completion.mutable_choices()->Reserve(static_cast<int>(choices->size()));
  for (Element choice : *choices) {
    if (!choice.is_object()) continue;
    v1::ChatCompletionChoice& out = *completion.add_choices();
    out.set_index(Int32Member(choice, "index"));
    if (auto message = dom::ObjectMember(choice, "message")) {
      ParseMessage(*message, *out.mutable_message());
    } else {
      out.mutable_message()->set_role(v1::ROLE_ASSISTANT);
    }
    ParseFinishReason(choice, out);
    if (auto logprobs = dom::ObjectMember(choice, "logprobs")) {
      ParseLogprobs(*logprobs, *out.mutable_logprobs());
    }
  }
  auto by_index = [](const v1::ChatCompletionChoice* a, const v1::ChatCompletionChoice* b) {
    return a->index() < b->index();
  };
  auto& sorted = *completion.mutable_choices();
  if (!std::is_sorted(sorted.pointer_begin(), sorted.pointer_end(), by_index)) {
    std::stable_sort(sorted.pointer_begin(), sorted.pointer_end(), by_index);
  }
  return completion;
}

absl::StatusOr<ChatStreamEventKind> ParseChatStreamData(std::string_view data,
                                                        v1::ChatCompletionChunk& chunk) {
  const std::string_view trimmed = TrimAsciiWhitespace(data);
  if (trimmed == "[DONE]") return ChatStreamEventKind::kDone;

  const dom::Document parsed(trimmed);
  if (!parsed.ok()) {
    return absl::InternalError(
        absl::StrCat("upstream chat stream event is not valid JSON (", data.size(), " bytes)"));
  }
  if (!parsed.root().is_object()) {
    return absl::InternalError("upstream chat stream event is not a JSON object");
  }
  if (dom::Member(parsed.root(), "error").has_value()) return ChatStreamEventKind::kError;

  chunk.Clear();
  ParseCompletionHeader(parsed.root(), chunk);
  if (auto choices = dom::ArrayMember(parsed.root(), "choices")) {
    if (choices->size() > kMaxAnswerItems) {
      return absl::InternalError(
          absl::StrCat("upstream chat stream event has more than ", kMaxAnswerItems, " choices"));
    }
    for (Element choice : *choices) {
      if (!choice.is_object()) continue;
      v1::ChatCompletionChunkChoice& out = *chunk.add_choices();
      out.set_index(Int32Member(choice, "index"));
      if (auto delta = dom::ObjectMember(choice, "delta")) {
        ParseDelta(*delta, *out.mutable_delta());
      }
      ParseFinishReason(choice, out);
      if (auto logprobs = dom::ObjectMember(choice, "logprobs")) {
        ParseLogprobs(*logprobs, *out.mutable_logprobs());
      }
    }
  }
  return ChatStreamEventKind::kChunk;
}

}  // namespace gengate::translate
