#include "translate/responses.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "translate/common.h"
#include "translate/struct_json.h"

namespace gengate::translate {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Enum names, both ways.

// The roles a Responses input message may have; ROLE_TOOL has no Responses equivalent.
std::string_view MessageRoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_SYSTEM:
      return "system";
    case v1::ROLE_DEVELOPER:
      return "developer";
    case v1::ROLE_USER:
      return "user";
    case v1::ROLE_ASSISTANT:
      return "assistant";
    default:
      return "";
  }
}

std::string_view ReasoningSummaryName(v1::ReasoningSummary summary) {
  switch (summary) {
    case v1::REASONING_SUMMARY_AUTO:
      return "auto";
    case v1::REASONING_SUMMARY_CONCISE:
      return "concise";
    case v1::REASONING_SUMMARY_DETAILED:
      return "detailed";
    default:
      return "";
  }
}

v1::ResponseStatus ResponseStatusFromName(std::string_view name) {
  if (name == "completed") return v1::RESPONSE_STATUS_COMPLETED;
  if (name == "incomplete") return v1::RESPONSE_STATUS_INCOMPLETE;
  if (name == "in_progress") return v1::RESPONSE_STATUS_IN_PROGRESS;
  if (name == "queued") return v1::RESPONSE_STATUS_QUEUED;
  if (name == "failed") return v1::RESPONSE_STATUS_FAILED;
  if (name == "cancelled") return v1::RESPONSE_STATUS_CANCELLED;
  return v1::RESPONSE_STATUS_UNSPECIFIED;
}

// ---------------------------------------------------------------------------------------------
// Validation.

// Items and tools passed through as Structs must name their own type, or the upstream cannot
// tell what they are.
absl::Status ValidateOther(const google::protobuf::Struct& other, absl::string_view field) {
  auto type = other.fields().find("type");
  if (type == other.fields().end() || !type->second.has_string_value() ||
      type->second.string_value().empty()) {
    return FieldError(absl::StrCat(field, ".type"), "must be set to the upstream type");
  }
  return CheckFiniteNumbers(other, field);
}

absl::Status ValidateInputContent(const v1::ResponseInputContent& part, absl::string_view field) {
  switch (part.part_case()) {
    case v1::ResponseInputContent::PART_NOT_SET:
      return FieldError(field, "one of input_text, input_image, output_text, input_file, "
                               "refusal must be set");
    case v1::ResponseInputContent::kInputImage: {
      const v1::ResponseInputImage& image = part.input_image();
      if (!image.has_image_url() && !image.has_file_id()) {
        return FieldError(absl::StrCat(field, ".input_image"), "set image_url or file_id");
      }
      if (!v1::ImageDetail_IsValid(image.detail())) {
        return UnknownEnumError(absl::StrCat(field, ".input_image.detail"), image.detail());
      }
      break;
    }
    case v1::ResponseInputContent::kInputFile: {
      const v1::ResponseInputFile& file = part.input_file();
      if (!file.has_file_id() && !file.has_file_data() && !file.has_file_url()) {
        return FieldError(absl::StrCat(field, ".input_file"),
                          "set file_id, file_data or file_url");
      }
      break;
    }
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status ValidateInputMessage(const v1::ResponseInputMessage& message,
                                  absl::string_view field) {
  const std::string role_field = absl::StrCat(field, ".role");
  if (message.role() == v1::ROLE_UNSPECIFIED) return FieldError(role_field, "must be set");
  if (!v1::Role_IsValid(message.role())) return UnknownEnumError(role_field, message.role());
  if (message.role() == v1::ROLE_TOOL) {
    return FieldError(role_field, "ROLE_TOOL is not a Responses role; send a "
                                  "function_call_output item instead");
  }
  if (message.has_text() && message.content_size() > 0) {
    return FieldError(field, "text and content are both set; set one of them");
  }
  if (!message.has_text() && message.content_size() == 0) {
    return FieldError(field, "set text or content");
  }
  for (int j = 0; j < message.content_size(); ++j) {
    RETURN_IF_ERROR(
        ValidateInputContent(message.content(j), absl::StrCat(field, ".content[", j, "]")));
  }
  return absl::OkStatus();
}

absl::Status ValidateInputItem(const v1::ResponseInputItem& item, absl::string_view field) {
  switch (item.item_case()) {
    case v1::ResponseInputItem::ITEM_NOT_SET:
      return FieldError(field, "one of message, function_call_output, function_call, "
                               "reasoning, item_reference_id, other must be set");
    case v1::ResponseInputItem::kMessage:
      return ValidateInputMessage(item.message(), absl::StrCat(field, ".message"));
    case v1::ResponseInputItem::kFunctionCallOutput:
      if (item.function_call_output().call_id().empty()) {
        return FieldError(absl::StrCat(field, ".function_call_output.call_id"), "must be set");
      }
      break;
    case v1::ResponseInputItem::kFunctionCall:
      if (item.function_call().call_id().empty()) {
        return FieldError(absl::StrCat(field, ".function_call.call_id"), "must be set");
      }
      if (item.function_call().name().empty()) {
        return FieldError(absl::StrCat(field, ".function_call.name"), "must be set");
      }
      break;
    case v1::ResponseInputItem::kReasoning:
      if (item.reasoning().id().empty()) {
        return FieldError(absl::StrCat(field, ".reasoning.id"), "must be set");
      }
      break;
    case v1::ResponseInputItem::kItemReferenceId:
      if (item.item_reference_id().empty()) {
        return FieldError(absl::StrCat(field, ".item_reference_id"), "must not be empty");
      }
      break;
    case v1::ResponseInputItem::kOther:
      return ValidateOther(item.other(), absl::StrCat(field, ".other"));
  }
  return absl::OkStatus();
}

absl::Status ValidateTool(const v1::ResponseTool& tool, absl::string_view field) {
  switch (tool.tool_case()) {
    case v1::ResponseTool::TOOL_NOT_SET:
      return FieldError(field, "one of function, web_search, other must be set");
    case v1::ResponseTool::kFunction:
      if (tool.function().name().empty()) {
        return FieldError(absl::StrCat(field, ".function.name"), "must be set");
      }
      return CheckFiniteNumbers(tool.function().parameters(),
                                absl::StrCat(field, ".function.parameters"));
    case v1::ResponseTool::kWebSearch:
      if (tool.web_search().has_tool_type() && tool.web_search().tool_type().empty()) {
        return FieldError(absl::StrCat(field, ".web_search.tool_type"), "must not be empty");
      }
      break;
    case v1::ResponseTool::kOther:
      return ValidateOther(tool.other(), absl::StrCat(field, ".other"));
  }
  return absl::OkStatus();
}

absl::Status ValidateToolChoice(const v1::ResponseToolChoice& choice) {
  switch (choice.choice_case()) {
    case v1::ResponseToolChoice::kMode:
      if (!v1::ToolChoiceMode_IsValid(choice.mode())) {
        return UnknownEnumError("tool_choice.mode", choice.mode());
      }
      break;
    case v1::ResponseToolChoice::kFunctionName:
      if (choice.function_name().empty()) {
        return FieldError("tool_choice.function_name", "must not be empty");
      }
      break;
    case v1::ResponseToolChoice::kBuiltinTool:
      if (choice.builtin_tool().empty()) {
        return FieldError("tool_choice.builtin_tool", "must not be empty");
      }
      break;
    case v1::ResponseToolChoice::CHOICE_NOT_SET:
      break;
  }
  return absl::OkStatus();
}

absl::Status ValidateTextFormat(const v1::ResponseFormat& format) {
  if (!v1::ResponseFormatType_IsValid(format.type())) {
    return UnknownEnumError("text.format.type", format.type());
  }
  // A schema with no type would silently be dropped; say so instead.
  if (format.type() == v1::RESPONSE_FORMAT_TYPE_UNSPECIFIED && format.has_json_schema()) {
    return FieldError("text.format.type", "must be set when json_schema is given");
  }
  if (format.type() == v1::RESPONSE_FORMAT_TYPE_JSON_SCHEMA &&
      format.json_schema().name().empty()) {
    return FieldError("text.format.json_schema.name",
                      "must be set for RESPONSE_FORMAT_TYPE_JSON_SCHEMA");
  }
  return CheckFiniteNumbers(format.json_schema().schema(), "text.format.json_schema.schema");
}

// ---------------------------------------------------------------------------------------------
// Request → upstream JSON.

json InputContentToJson(const v1::ResponseInputContent& part) {
  switch (part.part_case()) {
    case v1::ResponseInputContent::kInputText:
      return {{"type", "input_text"}, {"text", part.input_text()}};
    case v1::ResponseInputContent::kInputImage: {
      const v1::ResponseInputImage& image = part.input_image();
      json out = {{"type", "input_image"}};
      if (image.has_image_url()) out["image_url"] = image.image_url();
      if (image.has_file_id()) out["file_id"] = image.file_id();
      if (image.detail() != v1::IMAGE_DETAIL_UNSPECIFIED) {
        out["detail"] = ImageDetailName(image.detail());
      }
      return out;
    }
    case v1::ResponseInputContent::kOutputText:
      // The upstream's output_text schema requires `annotations`, also when replayed as input.
      return {{"type", "output_text"},
              {"text", part.output_text()},
              {"annotations", json::array()}};
    case v1::ResponseInputContent::kInputFile: {
      const v1::ResponseInputFile& file = part.input_file();
      json out = {{"type", "input_file"}};
      if (file.has_file_id()) out["file_id"] = file.file_id();
      if (file.has_file_data()) out["file_data"] = file.file_data();
      if (file.has_file_url()) out["file_url"] = file.file_url();
      if (file.has_filename()) out["filename"] = file.filename();
      return out;
    }
    case v1::ResponseInputContent::kRefusal:
      return {{"type", "refusal"}, {"refusal", part.refusal()}};
    case v1::ResponseInputContent::PART_NOT_SET:
      break;  // rejected by validation
  }
  return json::object();
}

// Sent in the short form `{role, content}` (no `"type":"message"`), which every compatible
// server accepts.
json InputMessageToJson(const v1::ResponseInputMessage& message) {
  json out = {{"role", MessageRoleName(message.role())}};
  if (message.has_text()) {
    out["content"] = message.text();
  } else {
    json parts = json::array();
    for (const v1::ResponseInputContent& part : message.content()) {
      parts.push_back(InputContentToJson(part));
    }
    out["content"] = std::move(parts);
  }
  return out;
}

json FunctionCallToJson(const v1::ResponseFunctionCall& call) {
  json out = {{"type", "function_call"},
              {"call_id", call.call_id()},
              {"name", call.name()},
              {"arguments", call.arguments()}};
  if (!call.id().empty()) out["id"] = call.id();
  if (!call.status().empty()) out["status"] = call.status();
  return out;
}

json ReasoningToJson(const v1::ResponseReasoning& reasoning) {
  // `summary` is required by the upstream even when empty.
  json summary = json::array();
  for (const std::string& text : reasoning.summary()) {
    summary.push_back({{"type", "summary_text"}, {"text", text}});
  }
  json out = {{"type", "reasoning"}, {"id", reasoning.id()}, {"summary", std::move(summary)}};
  if (reasoning.content_size() > 0) {
    json content = json::array();
    for (const std::string& text : reasoning.content()) {
      content.push_back({{"type", "reasoning_text"}, {"text", text}});
    }
    out["content"] = std::move(content);
  }
  if (reasoning.has_encrypted_content()) out["encrypted_content"] = reasoning.encrypted_content();
  if (!reasoning.status().empty()) out["status"] = reasoning.status();
  return out;
}

json InputItemToJson(const v1::ResponseInputItem& item) {
  switch (item.item_case()) {
    case v1::ResponseInputItem::kMessage:
      return InputMessageToJson(item.message());
    case v1::ResponseInputItem::kFunctionCallOutput:
      return {{"type", "function_call_output"},
              {"call_id", item.function_call_output().call_id()},
              {"output", item.function_call_output().output()}};
    case v1::ResponseInputItem::kFunctionCall:
      return FunctionCallToJson(item.function_call());
    case v1::ResponseInputItem::kReasoning:
      return ReasoningToJson(item.reasoning());
    case v1::ResponseInputItem::kItemReferenceId:
      return {{"type", "item_reference"}, {"id", item.item_reference_id()}};
    case v1::ResponseInputItem::kOther:
      return StructToJson(item.other());
    case v1::ResponseInputItem::ITEM_NOT_SET:
      break;  // rejected by validation
  }
  return json::object();
}

json WebSearchToolToJson(const v1::WebSearchTool& tool) {
  json out = {{"type", tool.has_tool_type() ? tool.tool_type() : std::string("web_search")}};
  if (tool.has_search_context_size()) out["search_context_size"] = tool.search_context_size();
  if (tool.has_user_location()) {
    const v1::ApproximateLocation& location = tool.user_location();
    // Flat here, unlike chat's `web_search_options.user_location.approximate`.
    json location_json = {{"type", "approximate"}};
    if (location.has_city()) location_json["city"] = location.city();
    if (location.has_country()) location_json["country"] = location.country();
    if (location.has_region()) location_json["region"] = location.region();
    if (location.has_timezone()) location_json["timezone"] = location.timezone();
    out["user_location"] = std::move(location_json);
  }
  if (tool.allowed_domains_size() > 0) {
    out["filters"] = {{"allowed_domains", std::vector<std::string>(tool.allowed_domains().begin(),
                                                                   tool.allowed_domains().end())}};
  }
  return out;
}

json ToolToJson(const v1::ResponseTool& tool) {
  switch (tool.tool_case()) {
    case v1::ResponseTool::kFunction: {
      // Flat: `{"type":"function","name":...}`, not chat's nested `function` object.
      const v1::FunctionDefinition& function = tool.function();
      json out = {{"type", "function"}, {"name", function.name()}};
      if (function.has_description()) out["description"] = function.description();
      if (function.has_parameters()) out["parameters"] = StructToJson(function.parameters());
      if (function.has_strict()) out["strict"] = function.strict();
      return out;
    }
    case v1::ResponseTool::kWebSearch:
      return WebSearchToolToJson(tool.web_search());
    case v1::ResponseTool::kOther:
      return StructToJson(tool.other());
    case v1::ResponseTool::TOOL_NOT_SET:
      break;  // rejected by validation
  }
  return json::object();
}

std::optional<json> ToolChoiceToJson(const v1::ResponseToolChoice& choice) {
  switch (choice.choice_case()) {
    case v1::ResponseToolChoice::kMode:
      if (choice.mode() == v1::TOOL_CHOICE_MODE_UNSPECIFIED) return std::nullopt;
      return json(ToolChoiceModeName(choice.mode()));
    case v1::ResponseToolChoice::kFunctionName:
      return json{{"type", "function"}, {"name", choice.function_name()}};
    case v1::ResponseToolChoice::kBuiltinTool:
      return json{{"type", choice.builtin_tool()}};
    case v1::ResponseToolChoice::CHOICE_NOT_SET:
      break;
  }
  return std::nullopt;
}

// `text.format`: the json_schema fields sit next to `type`, not under a `json_schema` key.
std::optional<json> TextFormatToJson(const v1::ResponseFormat& format) {
  if (format.type() == v1::RESPONSE_FORMAT_TYPE_UNSPECIFIED) return std::nullopt;
  json out = {{"type", ResponseFormatTypeName(format.type())}};
  if (format.type() == v1::RESPONSE_FORMAT_TYPE_JSON_SCHEMA) {
    const v1::JsonSchemaFormat& schema = format.json_schema();
    out["name"] = schema.name();
    if (schema.has_description()) out["description"] = schema.description();
    if (schema.has_schema()) out["schema"] = StructToJson(schema.schema());
    if (schema.has_strict()) out["strict"] = schema.strict();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Upstream JSON → proto. Tolerant: a member of the wrong type counts as absent.

std::optional<std::int32_t> Int32Member(const json& object, const char* key) {
  std::optional<std::int64_t> value = IntegerMember(object, key);
  if (!value.has_value()) return std::nullopt;
  return ClampToInt32(*value);
}

std::int32_t Int32OrZero(const json& object, const char* key) {
  return Int32Member(object, key).value_or(0);
}

std::optional<double> DoubleMember(const json& object, const char* key) {
  const json* value = Member(object, key);
  if (value == nullptr || !value->is_number()) return std::nullopt;
  return value->get<double>();
}

std::optional<bool> BoolMember(const json& object, const char* key) {
  const json* value = Member(object, key);
  if (value == nullptr || !value->is_boolean()) return std::nullopt;
  return value->get<bool>();
}

// Text that should be a string; a compat server that sends a number or an object (error codes,
// arguments) gets it as its JSON text rather than losing it.
std::optional<std::string> TextMember(const json& object, const char* key) {
  const json* value = Member(object, key);
  if (value == nullptr) return std::nullopt;
  if (value->is_string()) return value->get_ref<const std::string&>();
  return value->dump();
}

template <typename Logprob>
void ParseLogprobFields(const json& entry, Logprob& out) {
  if (const std::string* token = StringMember(entry, "token")) out.set_token(*token);
  out.set_logprob(DoubleMember(entry, "logprob").value_or(0.0));
  if (std::optional<std::string> bytes = BytesMember(entry, "bytes")) {
    out.set_bytes(*std::move(bytes));
  }
}

void ParseLogprobs(const json& array, google::protobuf::RepeatedPtrField<v1::TokenLogprob>& out) {
  out.Reserve(static_cast<int>(array.size()));
  for (const json& entry : array) {
    if (!entry.is_object()) continue;
    v1::TokenLogprob& token = *out.Add();
    ParseLogprobFields(entry, token);
    if (const json* top = ArrayMember(entry, "top_logprobs")) {
      for (const json& alternative : *top) {
        if (alternative.is_object()) ParseLogprobFields(alternative, *token.add_top_logprobs());
      }
    }
  }
}

void ParseAnnotation(const json& object, v1::ResponseAnnotation& out) {
  if (const std::string* type = StringMember(object, "type")) out.set_type(*type);
  out.set_start_index(Int32OrZero(object, "start_index"));
  out.set_end_index(Int32OrZero(object, "end_index"));
  if (const std::string* url = StringMember(object, "url")) out.set_url(*url);
  if (const std::string* title = StringMember(object, "title")) out.set_title(*title);
  if (const std::string* file_id = StringMember(object, "file_id")) out.set_file_id(*file_id);
  if (const std::string* filename = StringMember(object, "filename")) out.set_filename(*filename);
  out.set_index(Int32OrZero(object, "index"));
  if (const std::string* container = StringMember(object, "container_id")) {
    out.set_container_id(*container);
  }
}

void ParseOutputText(const json& part, v1::ResponseOutputText& out) {
  if (const std::string* text = StringMember(part, "text")) out.set_text(*text);
  if (const json* annotations = ArrayMember(part, "annotations")) {
    for (const json& annotation : *annotations) {
      if (annotation.is_object()) ParseAnnotation(annotation, *out.add_annotations());
    }
  }
  if (const json* logprobs = ArrayMember(part, "logprobs")) {
    ParseLogprobs(*logprobs, *out.mutable_logprobs());
  }
}

// False when the part's type has no typed field (the part is then left unset).
bool ParseOutputContent(const json& part, v1::ResponseOutputContent& out) {
  const std::string* type = StringMember(part, "type");
  if (type == nullptr) return false;
  if (*type == "output_text") {
    ParseOutputText(part, *out.mutable_output_text());
  } else if (*type == "refusal") {
    const std::string* refusal = StringMember(part, "refusal");
    out.set_refusal(refusal != nullptr ? *refusal : std::string());
  } else if (*type == "summary_text") {
    const std::string* text = StringMember(part, "text");
    out.set_summary_text(text != nullptr ? *text : std::string());
  } else if (*type == "reasoning_text") {
    const std::string* text = StringMember(part, "text");
    out.set_reasoning_text(text != nullptr ? *text : std::string());
  } else {
    return false;
  }
  return true;
}

void ParseMessageItem(const json& item, v1::ResponseOutputMessage& out) {
  if (const std::string* id = StringMember(item, "id")) out.set_id(*id);
  if (const std::string* role = StringMember(item, "role")) out.set_role(*role);
  if (const std::string* status = StringMember(item, "status")) out.set_status(*status);
  if (const json* content = ArrayMember(item, "content")) {
    out.mutable_content()->Reserve(static_cast<int>(content->size()));
    for (const json& part : *content) {
      if (!part.is_object()) continue;
      v1::ResponseOutputContent parsed;
      if (ParseOutputContent(part, parsed)) *out.add_content() = std::move(parsed);
    }
  }
}

void ParseFunctionCallItem(const json& item, v1::ResponseFunctionCall& out) {
  if (const std::string* id = StringMember(item, "id")) out.set_id(*id);
  if (const std::string* call_id = StringMember(item, "call_id")) out.set_call_id(*call_id);
  if (const std::string* name = StringMember(item, "name")) out.set_name(*name);
  if (std::optional<std::string> arguments = TextMember(item, "arguments")) {
    out.set_arguments(*std::move(arguments));
  }
  if (const std::string* status = StringMember(item, "status")) out.set_status(*status);
}

// The `text` of every entry of `array` (summary_text / reasoning_text parts).
void ParseTexts(const json& array, google::protobuf::RepeatedPtrField<std::string>& out) {
  for (const json& entry : array) {
    if (!entry.is_object()) continue;
    if (const std::string* text = StringMember(entry, "text")) out.Add(std::string(*text));
  }
}

void ParseReasoningItem(const json& item, v1::ResponseReasoning& out) {
  if (const std::string* id = StringMember(item, "id")) out.set_id(*id);
  if (const json* summary = ArrayMember(item, "summary")) {
    ParseTexts(*summary, *out.mutable_summary());
  }
  if (const json* content = ArrayMember(item, "content")) {
    ParseTexts(*content, *out.mutable_content());
  }
  if (const std::string* encrypted = StringMember(item, "encrypted_content")) {
    out.set_encrypted_content(*encrypted);
  }
  if (const std::string* status = StringMember(item, "status")) out.set_status(*status);
}

void ParseWebSearchCallItem(const json& item, v1::ResponseWebSearchCall& out) {
  if (const std::string* id = StringMember(item, "id")) out.set_id(*id);
  if (const std::string* status = StringMember(item, "status")) out.set_status(*status);
  const json* action = ObjectMember(item, "action");
  if (action == nullptr) return;
  if (const std::string* type = StringMember(*action, "type")) out.set_action_type(*type);
  if (const std::string* query = StringMember(*action, "query")) out.set_query(*query);
  if (const std::string* url = StringMember(*action, "url")) out.set_url(*url);
  if (const std::string* pattern = StringMember(*action, "pattern")) out.set_pattern(*pattern);
  if (const json* sources = ArrayMember(*action, "sources")) {
    for (const json& source : *sources) {
      if (!source.is_object()) continue;
      if (const std::string* url = StringMember(source, "url")) out.add_source_urls(*url);
    }
  }
}

void ParseOutputItem(const json& item, v1::ResponseOutputItem& out) {
  const std::string* type = StringMember(item, "type");
  if (type != nullptr) out.set_type(*type);
  if (type != nullptr && *type == "message") {
    ParseMessageItem(item, *out.mutable_message());
  } else if (type != nullptr && *type == "function_call") {
    ParseFunctionCallItem(item, *out.mutable_function_call());
  } else if (type != nullptr && *type == "reasoning") {
    ParseReasoningItem(item, *out.mutable_reasoning());
  } else if (type != nullptr && *type == "web_search_call") {
    ParseWebSearchCallItem(item, *out.mutable_web_search_call());
  } else {
    *out.mutable_other() = JsonToStruct(item);
  }
}

void AppendOutputText(const v1::ResponseOutputItem& item, std::string& text) {
  if (!item.has_message()) return;
  for (const v1::ResponseOutputContent& part : item.message().content()) {
    if (part.has_output_text()) text.append(part.output_text().text());
  }
}

void ParseError(const json& object, v1::ResponseError& out) {
  if (std::optional<std::string> code = TextMember(object, "code")) out.set_code(*std::move(code));
  if (const std::string* message = StringMember(object, "message")) out.set_message(*message);
  if (const std::string* param = StringMember(object, "param")) out.set_param(*param);
  if (const std::string* type = StringMember(object, "type")) out.set_type(*type);
}

void ParseUsage(const json& object, v1::ResponseUsage& out) {
  out.set_input_tokens(Int32OrZero(object, "input_tokens"));
  out.set_output_tokens(Int32OrZero(object, "output_tokens"));
  out.set_total_tokens(Int32OrZero(object, "total_tokens"));
  if (const json* input = ObjectMember(object, "input_tokens_details")) {
    out.mutable_input_tokens_details()->set_cached_tokens(Int32OrZero(*input, "cached_tokens"));
  }
  if (const json* output = ObjectMember(object, "output_tokens_details")) {
    out.mutable_output_tokens_details()->set_reasoning_tokens(
        Int32OrZero(*output, "reasoning_tokens"));
  }
}

void SetStatus(std::string_view status, v1::Response& out) {
  out.set_status(ResponseStatusFromName(status));
  out.set_raw_status(std::string(status));
}

// A real Responses object (`"object": "response"`).
void ParseResponseObject(const json& object, v1::Response& out) {
  if (const std::string* id = StringMember(object, "id")) out.set_id(*id);
  out.set_created_at(IntegerMember(object, "created_at").value_or(0));
  if (const std::string* model = StringMember(object, "model")) out.set_model(*model);
  if (const std::string* status = StringMember(object, "status")) SetStatus(*status, out);
  if (const json* output = ArrayMember(object, "output")) {
    out.mutable_output()->Reserve(static_cast<int>(output->size()));
    std::string text;
    for (const json& item : *output) {
      if (!item.is_object()) continue;
      v1::ResponseOutputItem& parsed = *out.add_output();
      ParseOutputItem(item, parsed);
      AppendOutputText(parsed, text);
    }
    out.set_output_text(std::move(text));
  }
  if (const json* usage = ObjectMember(object, "usage")) ParseUsage(*usage, *out.mutable_usage());
  if (const json* error = ObjectMember(object, "error")) ParseError(*error, *out.mutable_error());
  if (const json* details = ObjectMember(object, "incomplete_details")) {
    v1::ResponseIncompleteDetails& incomplete = *out.mutable_incomplete_details();
    if (const std::string* reason = StringMember(*details, "reason")) {
      incomplete.set_reason(*reason);
    }
  }
  if (std::optional<std::int64_t> completed = IntegerMember(object, "completed_at")) {
    out.set_completed_at(*completed);
  }
  if (const std::string* instructions = StringMember(object, "instructions")) {
    out.set_instructions(*instructions);
  }
  if (const std::string* previous = StringMember(object, "previous_response_id")) {
    out.set_previous_response_id(*previous);
  }
  if (std::optional<std::int32_t> limit = Int32Member(object, "max_output_tokens")) {
    out.set_max_output_tokens(*limit);
  }
  if (std::optional<double> temperature = DoubleMember(object, "temperature")) {
    out.set_temperature(*temperature);
  }
  if (std::optional<double> top_p = DoubleMember(object, "top_p")) out.set_top_p(*top_p);
  if (const std::string* tier = StringMember(object, "service_tier")) out.set_service_tier(*tier);
  if (std::optional<bool> background = BoolMember(object, "background")) {
    out.set_background(*background);
  }
  if (std::optional<bool> store = BoolMember(object, "store")) out.set_store(*store);
  if (const json* metadata = ObjectMember(object, "metadata")) {
    for (const auto& [key, value] : metadata->items()) {
      if (value.is_null()) continue;
      (*out.mutable_metadata())[key] =
          value.is_string() ? value.get_ref<const std::string&>() : value.dump();
    }
  }
}

// The text of a chat message's `content`: a string, or the texts of a parts array joined.
std::optional<std::string> ChatContentText(const json& message) {
  const json* content = Member(message, "content");
  if (content == nullptr) return std::nullopt;
  if (content->is_string()) return content->get_ref<const std::string&>();
  if (!content->is_array()) return std::nullopt;
  std::string text;
  for (const json& part : *content) {
    if (!part.is_object()) continue;
    if (const std::string* part_text = StringMember(part, "text")) text.append(*part_text);
  }
  return text;
}

// Ace's chat-completion shaped answer (UPSTREAM.md): each choice becomes an assistant message
// item, its tool calls function_call items; `length` on any choice makes it incomplete.
void ParseChatShapedResponse(const json& object, const json& choices, v1::Response& out) {
  if (const std::string* id = StringMember(object, "id")) out.set_id(*id);
  out.set_created_at(IntegerMember(object, "created").value_or(0));
  if (const std::string* model = StringMember(object, "model")) out.set_model(*model);

  std::vector<const json*> ordered;
  ordered.reserve(choices.size());
  for (const json& choice : choices) {
    if (choice.is_object()) ordered.push_back(&choice);
  }
  std::stable_sort(ordered.begin(), ordered.end(), [](const json* a, const json* b) {
    return IntegerMember(*a, "index").value_or(0) < IntegerMember(*b, "index").value_or(0);
  });

  bool incomplete = false;
  std::string text;
  for (const json* choice : ordered) {
    const std::string* finish = StringMember(*choice, "finish_reason");
    const bool truncated = finish != nullptr && *finish == "length";
    incomplete = incomplete || truncated;
    const std::string item_status = truncated ? "incomplete" : "completed";

    static const json kEmptyMessage = json::object();
    const json* message = ObjectMember(*choice, "message");
    if (message == nullptr) message = &kEmptyMessage;
    const std::optional<std::string> content = ChatContentText(*message);
    const std::string* refusal = StringMember(*message, "refusal");
    const json* calls = ArrayMember(*message, "tool_calls");
    const bool has_calls = calls != nullptr && !calls->empty();

    // A choice that only calls tools has no message item (there is nothing to say).
    if (content.has_value() || refusal != nullptr || !has_calls) {
      v1::ResponseOutputItem& item = *out.add_output();
      item.set_type("message");
      v1::ResponseOutputMessage& out_message = *item.mutable_message();
      out_message.set_role("assistant");
      out_message.set_status(item_status);
      if (content.has_value() || refusal == nullptr) {
        out_message.add_content()->mutable_output_text()->set_text(content.value_or(""));
      }
      if (refusal != nullptr) out_message.add_content()->set_refusal(*refusal);
      AppendOutputText(item, text);
    }
    if (has_calls) {
      for (const json& call : *calls) {
        if (!call.is_object()) continue;
        v1::ResponseOutputItem& item = *out.add_output();
        item.set_type("function_call");
        v1::ResponseFunctionCall& function_call = *item.mutable_function_call();
        if (const std::string* id = StringMember(call, "id")) function_call.set_call_id(*id);
        if (const json* function = ObjectMember(call, "function")) {
          if (const std::string* name = StringMember(*function, "name")) {
            function_call.set_name(*name);
          }
          if (std::optional<std::string> arguments = TextMember(*function, "arguments")) {
            function_call.set_arguments(*std::move(arguments));
          }
        }
        function_call.set_status("completed");
      }
    }
  }
  out.set_output_text(std::move(text));
  if (incomplete) {
    SetStatus("incomplete", out);
    out.mutable_incomplete_details()->set_reason("max_output_tokens");
  } else {
    SetStatus("completed", out);
  }

  if (const json* usage = ObjectMember(object, "usage")) {
    v1::ResponseUsage& out_usage = *out.mutable_usage();
    out_usage.set_input_tokens(Int32OrZero(*usage, "prompt_tokens"));
    out_usage.set_output_tokens(Int32OrZero(*usage, "completion_tokens"));
    out_usage.set_total_tokens(Int32OrZero(*usage, "total_tokens"));
    if (const json* prompt = ObjectMember(*usage, "prompt_tokens_details")) {
      out_usage.mutable_input_tokens_details()->set_cached_tokens(
          Int32OrZero(*prompt, "cached_tokens"));
    }
    if (const json* completion = ObjectMember(*usage, "completion_tokens_details")) {
      out_usage.mutable_output_tokens_details()->set_reasoning_tokens(
          Int32OrZero(*completion, "reasoning_tokens"));
    }
  }
  if (const std::string* tier = StringMember(object, "service_tier")) out.set_service_tier(*tier);
}

// Event types whose every field has a typed home in ResponseEvent; other types also keep the
// whole event in `other`.
bool IsTypedEvent(std::string_view type) {
  static constexpr std::string_view kTyped[] = {
      "error",
      "response.completed",
      "response.content_part.added",
      "response.content_part.done",
      "response.created",
      "response.failed",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.in_progress",
      "response.incomplete",
      "response.output_item.added",
      "response.output_item.done",
      "response.output_text.annotation.added",
      "response.output_text.delta",
      "response.output_text.done",
      "response.queued",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_part.done",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done",
      "response.reasoning_text.delta",
      "response.reasoning_text.done",
      "response.refusal.delta",
      "response.refusal.done",
      "response.web_search_call.completed",
      "response.web_search_call.in_progress",
      "response.web_search_call.searching",
  };
  return std::binary_search(std::begin(kTyped), std::end(kTyped), type);
}

void SetOptionalInt32(const json& object, const char* key,
                      void (v1::ResponseEvent::*setter)(std::int32_t), v1::ResponseEvent& event) {
  if (std::optional<std::int32_t> value = Int32Member(object, key)) (event.*setter)(*value);
}

}  // namespace

absl::Status ValidateResponseRequest(const v1::CreateResponseRequest& request) {
  if (request.model().empty()) return FieldError("model", "must be set");
  if (request.has_input_text() && request.input_size() > 0) {
    return FieldError("input_text", "input_text and input are both set; set exactly one");
  }
  if (!request.has_input_text() && request.input_size() == 0) {
    return FieldError("input", "set input_text or input (exactly one)");
  }
  for (int i = 0; i < request.input_size(); ++i) {
    RETURN_IF_ERROR(ValidateInputItem(request.input(i), absl::StrCat("input[", i, "]")));
  }
  if (request.has_max_output_tokens() && request.max_output_tokens() < 1) {
    return FieldError("max_output_tokens", "must be at least 1");
  }
  RETURN_IF_ERROR(CheckFinite(request.has_temperature(), request.temperature(), "temperature"));
  RETURN_IF_ERROR(CheckFinite(request.has_top_p(), request.top_p(), "top_p"));
  RETURN_IF_ERROR(CheckFiniteNumbers(request.extra_body(), "extra_body"));
  for (int i = 0; i < request.tools_size(); ++i) {
    RETURN_IF_ERROR(ValidateTool(request.tools(i), absl::StrCat("tools[", i, "]")));
  }
  if (request.has_tool_choice()) RETURN_IF_ERROR(ValidateToolChoice(request.tool_choice()));
  if (!v1::ReasoningEffort_IsValid(request.reasoning().effort())) {
    return UnknownEnumError("reasoning.effort", request.reasoning().effort());
  }
  if (!v1::ReasoningSummary_IsValid(request.reasoning().summary())) {
    return UnknownEnumError("reasoning.summary", request.reasoning().summary());
  }
  if (request.text().has_format()) RETURN_IF_ERROR(ValidateTextFormat(request.text().format()));
  for (int i = 0; i < request.include_size(); ++i) {
    if (request.include(i).empty()) {
      return FieldError(absl::StrCat("include[", i, "]"), "must not be empty");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ResponseRequestToUpstreamJson(const v1::CreateResponseRequest& request,
                                                          bool stream) {
  RETURN_IF_ERROR(ValidateResponseRequest(request));

  json body = json::object();
  body["model"] = request.model();
  if (request.has_input_text()) {
    body["input"] = request.input_text();
  } else {
    json items = json::array();
    for (const v1::ResponseInputItem& item : request.input()) {
      items.push_back(InputItemToJson(item));
    }
    body["input"] = std::move(items);
  }
  if (request.has_instructions()) body["instructions"] = request.instructions();
  if (request.has_max_output_tokens()) body["max_output_tokens"] = request.max_output_tokens();
  if (request.has_temperature()) body["temperature"] = request.temperature();
  if (request.has_top_p()) body["top_p"] = request.top_p();
  if (request.tools_size() > 0) {
    json tools = json::array();
    for (const v1::ResponseTool& tool : request.tools()) tools.push_back(ToolToJson(tool));
    body["tools"] = std::move(tools);
  }
  if (request.has_tool_choice()) {
    if (std::optional<json> choice = ToolChoiceToJson(request.tool_choice())) {
      body["tool_choice"] = *std::move(choice);
    }
  }
  if (request.has_parallel_tool_calls()) {
    body["parallel_tool_calls"] = request.parallel_tool_calls();
  }
  if (request.has_reasoning()) {
    json reasoning = json::object();
    if (request.reasoning().effort() != v1::REASONING_EFFORT_UNSPECIFIED) {
      reasoning["effort"] = ReasoningEffortName(request.reasoning().effort());
    }
    if (request.reasoning().summary() != v1::REASONING_SUMMARY_UNSPECIFIED) {
      reasoning["summary"] = ReasoningSummaryName(request.reasoning().summary());
    }
    if (!reasoning.empty()) body["reasoning"] = std::move(reasoning);
  }
  if (request.has_text()) {
    json text = json::object();
    if (std::optional<json> format = TextFormatToJson(request.text().format())) {
      text["format"] = *std::move(format);
    }
    if (request.text().has_verbosity()) text["verbosity"] = request.text().verbosity();
    if (!text.empty()) body["text"] = std::move(text);
  }
  if (request.has_background()) body["background"] = request.background();
  if (request.has_store()) body["store"] = request.store();
  if (request.has_previous_response_id()) {
    body["previous_response_id"] = request.previous_response_id();
  }
  if (!request.metadata().empty()) {
    json metadata = json::object();
    for (const auto& [key, value] : request.metadata()) metadata[key] = value;
    body["metadata"] = std::move(metadata);
  }
  if (request.include_size() > 0) {
    body["include"] =
        json(std::vector<std::string>(request.include().begin(), request.include().end()));
  }
  if (request.has_top_logprobs()) body["top_logprobs"] = request.top_logprobs();
  if (request.has_max_tool_calls()) body["max_tool_calls"] = request.max_tool_calls();
  if (request.has_truncation()) body["truncation"] = request.truncation();
  if (request.has_service_tier()) body["service_tier"] = request.service_tier();
  if (request.has_user()) body["user"] = request.user();
  if (request.has_safety_identifier()) body["safety_identifier"] = request.safety_identifier();
  if (request.has_prompt_cache_key()) body["prompt_cache_key"] = request.prompt_cache_key();
  if (stream) body["stream"] = true;
  MergeExtraBody(request.extra_body(), body);
  return body.dump();
}

absl::StatusOr<v1::Response> ResponseFromUpstreamJson(std::string_view body) {
  const absl::StatusOr<json> document = ParseJson(body);
  if (!document.ok()) {
    return absl::InternalError(absl::StrCat("upstream response ", document.status().message(),
                                            " (", body.size(), " bytes)"));
  }
  const json& parsed = *document;
  if (!parsed.is_object()) return absl::InternalError("upstream response is not a JSON object");

  v1::Response response;
  const std::string* object_type = StringMember(parsed, "object");
  if (ArrayMember(parsed, "output") != nullptr ||
      (object_type != nullptr && *object_type == "response")) {
    ParseResponseObject(parsed, response);
    return response;
  }
  if (const json* choices = ArrayMember(parsed, "choices")) {
    ParseChatShapedResponse(parsed, *choices, response);
    return response;
  }
  return absl::InternalError("upstream response has neither output nor choices");
}

absl::StatusOr<ResponseStreamEventKind> ParseResponseStreamEvent(std::string_view sse_type,
                                                                 std::string_view data,
                                                                 v1::ResponseEvent& event) {
  event.Clear();
  const std::string_view trimmed = TrimAsciiWhitespace(data);
  if (trimmed == "[DONE]") return ResponseStreamEventKind::kDone;

  const absl::StatusOr<json> document = ParseJson(trimmed);
  if (!document.ok()) {
    return absl::InternalError(absl::StrCat("upstream responses stream event ",
                                            document.status().message(), " (", data.size(),
                                            " bytes)"));
  }
  const json& parsed = *document;
  if (!parsed.is_object()) {
    return absl::InternalError("upstream responses stream event is not a JSON object");
  }

  if (const std::string* type = StringMember(parsed, "type"); type != nullptr && !type->empty()) {
    event.set_type(*type);
  } else if (!sse_type.empty()) {
    event.set_type(std::string(sse_type));
  } else if (ObjectMember(parsed, "error") != nullptr) {
    // A chat-style `{"error": {...}}` payload, as some proxies send mid-stream.
    event.set_type("error");
  } else {
    return absl::InternalError("upstream responses stream event has no type");
  }
  const std::string& type = event.type();

  if (std::optional<std::int64_t> sequence = IntegerMember(parsed, "sequence_number")) {
    event.set_sequence_number(*sequence);
  }
  if (std::optional<std::string> delta = TextMember(parsed, "delta")) {
    event.set_delta(*std::move(delta));
  }
  if (const std::string* item_id = StringMember(parsed, "item_id")) event.set_item_id(*item_id);
  SetOptionalInt32(parsed, "output_index", &v1::ResponseEvent::set_output_index, event);
  SetOptionalInt32(parsed, "content_index", &v1::ResponseEvent::set_content_index, event);
  SetOptionalInt32(parsed, "summary_index", &v1::ResponseEvent::set_summary_index, event);
  SetOptionalInt32(parsed, "annotation_index", &v1::ResponseEvent::set_annotation_index, event);
  if (const json* item = ObjectMember(parsed, "item")) {
    ParseOutputItem(*item, *event.mutable_item());
  }
  if (const json* response = ObjectMember(parsed, "response")) {
    ParseResponseObject(*response, *event.mutable_response());
  }
  if (const json* part = ObjectMember(parsed, "part")) {
    v1::ResponseOutputContent content;
    if (ParseOutputContent(*part, content)) *event.mutable_part() = std::move(content);
  }
  if (const std::string* text = StringMember(parsed, "text")) {
    event.set_text(*text);
  } else if (const std::string* refusal = StringMember(parsed, "refusal")) {
    event.set_text(*refusal);
  }
  if (std::optional<std::string> arguments = TextMember(parsed, "arguments")) {
    event.set_arguments(*std::move(arguments));
  }
  if (const json* logprobs = ArrayMember(parsed, "logprobs")) {
    ParseLogprobs(*logprobs, *event.mutable_logprobs());
  }
  if (const json* annotation = ObjectMember(parsed, "annotation")) {
    ParseAnnotation(*annotation, *event.mutable_annotation());
  }
  if (type == "error") {
    // The documented event has code/message at the top; OpenAI also sends them under `error`.
    if (Member(parsed, "code") != nullptr || Member(parsed, "message") != nullptr) {
      ParseError(parsed, *event.mutable_error());
      // The top-level `type` is the event's, not the error's.
      event.mutable_error()->clear_type();
    } else if (const json* error = ObjectMember(parsed, "error")) {
      ParseError(*error, *event.mutable_error());
    } else {
      event.mutable_error();
    }
  }
  if (!IsTypedEvent(type)) *event.mutable_other() = JsonToStruct(parsed);

  if (type == "response.completed" || type == "response.incomplete") {
    return ResponseStreamEventKind::kTerminalOk;
  }
  if (type == "response.failed" || type == "error") return ResponseStreamEventKind::kFailed;
  return ResponseStreamEventKind::kEvent;
}

}  // namespace gengate::translate
