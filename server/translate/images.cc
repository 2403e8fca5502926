#include "translate/images.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "simdjson.h"
#include "translate/base64.h"
#include "translate/common.h"
#include "translate/struct_json.h"

namespace gengate::translate {
namespace {

using nlohmann::json;
namespace ondemand = simdjson::ondemand;

// The upstream's limit on images per edit.
constexpr int kMaxInputImages = 16;

// Every image goes in an `image[]` part, also a single one: OpenAI and Ace read `image[]` for
// one or many files, and one spelling keeps the body independent of the count.
constexpr char kImagePartName[] = "image[]";
constexpr char kMaskPartName[] = "mask";

std::string_view ResponseFormatName(v1::ImageResponseFormat format) {
  switch (format) {
    case v1::IMAGE_RESPONSE_FORMAT_URL:
      return "url";
    case v1::IMAGE_RESPONSE_FORMAT_IMAGE_DATA:
      return "b64_json";
    default:
      return "";
  }
}

// ---------------------------------------------------------------------------------------------
// Validation.

// What generations and edits share: model, prompt and the numeric ranges.
template <typename Request>
absl::Status ValidateCommon(const Request& request) {
  if (request.model().empty()) return FieldError("model", "must be set");
  if (request.prompt().empty()) return FieldError("prompt", "must be set");
  if (request.has_n() && request.n() < 1) return FieldError("n", "must be at least 1");
  RETURN_IF_ERROR(CheckFiniteNumbers(request.extra_body(), "extra_body"));
  if (!v1::ImageResponseFormat_IsValid(request.response_format())) {
    return FieldError("response_format",
                      absl::StrCat("unknown enum value ", request.response_format()));
  }
  if (request.has_output_compression() &&
      (request.output_compression() < 0 || request.output_compression() > 100)) {
    return FieldError("output_compression", "must be between 0 and 100");
  }
  return absl::OkStatus();
}

absl::Status ValidateInputImage(const v1::InputImage& image, absl::string_view field) {
  switch (image.source_case()) {
    case v1::InputImage::kData:
      if (image.data().empty()) return FieldError(absl::StrCat(field, ".data"), "is empty");
      break;
    case v1::InputImage::kUrl:
      if (image.url().empty()) return FieldError(absl::StrCat(field, ".url"), "is empty");
      break;
    case v1::InputImage::SOURCE_NOT_SET:
      return FieldError(field, "one of data, url must be set");
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Request → upstream body.

// The parameters both endpoints take, as JSON; unset ones are left out.
template <typename Request>
json CommonParameters(const Request& request) {
  json body = json::object();
  body["model"] = request.model();
  body["prompt"] = request.prompt();
  if (request.has_n()) body["n"] = request.n();
  if (request.has_size()) body["size"] = request.size();
  if (request.has_quality()) body["quality"] = request.quality();
  if (request.response_format() != v1::IMAGE_RESPONSE_FORMAT_UNSPECIFIED) {
    body["response_format"] = ResponseFormatName(request.response_format());
  }
  if (request.has_background()) body["background"] = request.background();
  if (request.has_output_format()) body["output_format"] = request.output_format();
  if (request.has_output_compression()) {
    body["output_compression"] = request.output_compression();
  }
  if (request.has_user()) body["user"] = request.user();
  return body;
}

bool AllImagesAreUrls(const v1::EditImageRequest& request) {
  for (const v1::InputImage& image : request.images()) {
    if (!image.has_url()) return false;
  }
  return !request.has_mask() || request.mask().has_url();
}

bool AnyImageIsUrl(const v1::EditImageRequest& request) {
  for (const v1::InputImage& image : request.images()) {
    if (image.has_url()) return true;
  }
  return request.has_mask() && request.mask().has_url();
}

// The image type from the file's first bytes; empty when it is none of the three the upstream
// takes.
std::string SniffImageType(std::string_view bytes) {
  if (bytes.size() >= 8 && bytes.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) {
    return "image/png";
  }
  if (bytes.size() >= 3 && bytes.substr(0, 3) == "\xFF\xD8\xFF") return "image/jpeg";
  if (bytes.size() >= 12 && bytes.substr(0, 4) == "RIFF" && bytes.substr(8, 4) == "WEBP") {
    return "image/webp";
  }
  return "";
}

// The image type a file name's extension implies; empty when it implies none.
std::string TypeFromFilename(const std::string& filename) {
  const std::string lower = absl::AsciiStrToLower(filename);
  if (absl::EndsWith(lower, ".png")) return "image/png";
  if (absl::EndsWith(lower, ".jpg") || absl::EndsWith(lower, ".jpeg")) return "image/jpeg";
  if (absl::EndsWith(lower, ".webp")) return "image/webp";
  return "";
}

std::string ExtensionForType(const std::string& content_type) {
  if (content_type == "image/png") return ".png";
  if (content_type == "image/jpeg" || content_type == "image/jpg") return ".jpg";
  if (content_type == "image/webp") return ".webp";
  return "";
}

// An uploaded file part: the caller's name and type where given, otherwise the type sniffed
// from the bytes (then the name's extension) and a name that matches the type.
MultipartField FilePart(const v1::InputImage& image, const char* part_name,
                        const std::string& default_stem) {
  MultipartField part;
  part.name = part_name;
  part.value = image.data();
  part.content_type = image.mime_type();
  if (part.content_type.empty()) part.content_type = SniffImageType(image.data());
  if (part.content_type.empty()) part.content_type = TypeFromFilename(image.filename());
  // Unknown bytes are sent as what they are; the upstream's error then names the problem.
  if (part.content_type.empty()) part.content_type = "application/octet-stream";
  part.filename = image.filename().empty()
                      ? absl::StrCat(default_stem, ExtensionForType(part.content_type))
                      : image.filename();
  return part;
}

// A form field's text: strings as they are, every other JSON value as its JSON text.
std::string FormFieldValue(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

// ---------------------------------------------------------------------------------------------
// simdjson On Demand: answers carry images as multi-MB base64 strings, which nlohmann would
// copy into a DOM char by char; simdjson reads them in place.

absl::Status Malformed(absl::string_view problem) {
  return absl::InternalError(absl::StrCat("upstream images answer is malformed: ", problem));
}

absl::Status Malformed(absl::string_view problem, simdjson::error_code error) {
  return Malformed(absl::StrCat(problem, " (", simdjson::error_message(error), ")"));
}

// One parser per thread, reused: it keeps its index buffers between answers.
ondemand::parser& ThreadParser() {
  thread_local ondemand::parser parser;
  return parser;
}

// True when the whole document has been read: nothing follows the root value.
bool AtEnd(ondemand::document& document) {
  return document.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

bool IsType(ondemand::value& value, ondemand::json_type type) {
  ondemand::json_type actual;
  return value.type().get(actual) == simdjson::SUCCESS && actual == type;
}

bool IsNull(ondemand::value& value) { return IsType(value, ondemand::json_type::null); }

// The characters between the quotes of a string value, escapes left as they are; nullopt when
// the value is not a string. Copies nothing and does not consume the value.
std::optional<std::string_view> RawStringContent(ondemand::value& value) {
  if (!IsType(value, ondemand::json_type::string)) return std::nullopt;
  // The raw token runs to the next token, so it may end in whitespace after the quote.
  std::string_view token = value.raw_json_token();
  while (!token.empty() && (token.back() == ' ' || token.back() == '\n' ||
                            token.back() == '\r' || token.back() == '\t')) {
    token.remove_suffix(1);
  }
  if (token.size() < 2 || token.front() != '"' || token.back() != '"') return std::nullopt;
  return token.substr(1, token.size() - 2);
}

// The unescaped text of a string value (valid until the next parse on this thread); nullopt
// when the value is not a string.
std::optional<std::string_view> StringValue(ondemand::value& value) {
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) return std::nullopt;
  return text;
}

// An integer; compat servers sometimes send counts as floats (`12.0`), clamped here. nullopt
// when the value is not a number.
std::optional<std::int64_t> IntegerValue(ondemand::value& value) {
  std::int64_t integer = 0;
  if (value.get_int64().get(integer) == simdjson::SUCCESS) return integer;
  double number = 0;
  if (value.get_double().get(number) != simdjson::SUCCESS || !std::isfinite(number)) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(std::clamp(number, -9.2e18, 9.2e18));
}

// ---------------------------------------------------------------------------------------------
// Upstream JSON → proto.

// Sets `image_data` from a `b64_json` value.
absl::Status DecodeImageData(ondemand::value& value, std::size_t position, v1::Image& out) {
  std::optional<std::string_view> base64 = RawStringContent(value);
  if (!base64.has_value()) {
    return Malformed(absl::StrCat("data[", position, "].b64_json is not a string"));
  }
  // Base64 needs no escapes, but a server may write '/' as "\/": only then unescape (a copy).
  if (base64->find('\\') != std::string_view::npos) {
    base64 = StringValue(value);
    if (!base64.has_value()) {
      return Malformed(absl::StrCat("data[", position, "].b64_json is not valid"));
    }
  }
  std::string& bytes = *out.mutable_image_data();
  bytes.resize(Base64MaxDecodedSize(base64->size()));
  const std::optional<std::size_t> size = DecodeBase64(*base64, bytes.data());
  if (!size.has_value()) {
    bytes.clear();
    return Malformed(absl::StrCat("data[", position, "].b64_json is not valid base64"));
  }
  bytes.resize(*size);
  return absl::OkStatus();
}

// One entry of `data`: strict about the image itself, tolerant about null members.
absl::Status ParseImage(ondemand::value& value, std::size_t position, v1::Image& out) {
  ondemand::object image;
  if (simdjson::error_code error = value.get_object().get(image)) {
    return Malformed(absl::StrCat("data[", position, "] is not an object"), error);
  }
  for (auto field_result : image) {
    ondemand::field field;
    if (simdjson::error_code error = std::move(field_result).get(field)) {
      return Malformed(absl::StrCat("data[", position, "] is not a valid object"),
                       error);
    }
    ondemand::value& member = field.value();
    if (IsNull(member)) continue;
    if (field.key() == "b64_json") {
      RETURN_IF_ERROR(DecodeImageData(member, position, out));
    } else if (field.key() == "url") {
      std::optional<std::string_view> url = StringValue(member);
      if (!url.has_value()) {
        return Malformed(absl::StrCat("data[", position, "].url is not a string"));
      }
      out.set_url(std::string(*url));
    } else if (field.key() == "revised_prompt") {
      if (std::optional<std::string_view> prompt = StringValue(member)) {
        out.set_revised_prompt(std::string(*prompt));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ParseImageList(ondemand::value& value, v1::ImagesResponse& out) {
  ondemand::array images;
  if (simdjson::error_code error = value.get_array().get(images)) {
    return Malformed("data is not an array", error);
  }
  std::size_t position = 0;
  for (auto image_result : images) {
    ondemand::value image;
    if (simdjson::error_code error = image_result.get(image)) {
      return Malformed("data is not a valid array", error);
    }
    if (position == kMaxAnswerItems) {
      return Malformed(absl::StrCat("data has more than ", kMaxAnswerItems, " images"));
    }
    RETURN_IF_ERROR(ParseImage(image, position, *out.add_data()));
    ++position;
  }
  return absl::OkStatus();
}

// Tolerant: members that are not numbers count as 0.
void ParseTokensDetails(ondemand::value& value, v1::ImagesTokensDetails& out) {
  ondemand::object details;
  if (value.get_object().get(details) != simdjson::SUCCESS) return;
  for (auto field_result : details) {
    ondemand::field field;
    if (std::move(field_result).get(field) != simdjson::SUCCESS) return;
    std::optional<std::int64_t> count = IntegerValue(field.value());
    if (!count.has_value()) continue;
    if (field.key() == "text_tokens") {
      out.set_text_tokens(ClampToInt32(*count));
    } else if (field.key() == "image_tokens") {
      out.set_image_tokens(ClampToInt32(*count));
    }
  }
}

void ParseUsage(ondemand::value& value, v1::ImagesResponse& response) {
  ondemand::object usage;
  if (value.get_object().get(usage) != simdjson::SUCCESS) return;
  v1::ImagesUsage& out = *response.mutable_usage();
  for (auto field_result : usage) {
    ondemand::field field;
    if (std::move(field_result).get(field) != simdjson::SUCCESS) return;
    ondemand::value& member = field.value();
    if (field.key() == "input_tokens_details") {
      if (IsType(member, ondemand::json_type::object)) {
        ParseTokensDetails(member, *out.mutable_input_tokens_details());
      }
      continue;
    }
    if (field.key() == "output_tokens_details") {
      if (IsType(member, ondemand::json_type::object)) {
        ParseTokensDetails(member, *out.mutable_output_tokens_details());
      }
      continue;
    }
    std::optional<std::int64_t> count = IntegerValue(member);
    if (!count.has_value()) continue;
    if (field.key() == "input_tokens") {
      out.set_input_tokens(ClampToInt32(*count));
    } else if (field.key() == "output_tokens") {
      out.set_output_tokens(ClampToInt32(*count));
    } else if (field.key() == "total_tokens") {
      out.set_total_tokens(ClampToInt32(*count));
    }
  }
}

// The members of an images answer. Ace wraps OpenAI's answer as `data` of an envelope that
// also carries `success`, `task_id` and `trace_id`; `envelope_allowed` lets `data` be that
// inner object once.
absl::Status ParseAnswerObject(ondemand::object& object, bool envelope_allowed,
                               v1::ImagesResponse& out, bool& has_data) {
  for (auto field_result : object) {
    ondemand::field field;
    if (simdjson::error_code error = std::move(field_result).get(field)) {
      return Malformed("not a valid JSON object", error);
    }
    ondemand::value& value = field.value();
    if (field.key() == "data") {
      ondemand::object inner;
      if (envelope_allowed && IsType(value, ondemand::json_type::object)) {
        if (simdjson::error_code error = value.get_object().get(inner)) {
          return Malformed("data is not a valid object", error);
        }
        RETURN_IF_ERROR(ParseAnswerObject(inner, /*envelope_allowed=*/false, out, has_data));
      } else {
        RETURN_IF_ERROR(ParseImageList(value, out));
        has_data = true;
      }
    } else if (field.key() == "created") {
      if (std::optional<std::int64_t> created = IntegerValue(value)) {
        out.set_created(*created);
      }
    } else if (field.key() == "usage") {
      ParseUsage(value, out);
    } else if (field.key() == "success") {
      bool success = true;
      if (value.get_bool().get(success) == simdjson::SUCCESS && !success) {
        return Malformed("success is false");
      }
    } else {
      // The optional strings; values of another type count as absent.
      using Setter = void (v1::ImagesResponse::*)(const std::string&);
      Setter setter = nullptr;
      if (field.key() == "background") {
        setter = &v1::ImagesResponse::set_background;
      } else if (field.key() == "output_format") {
        setter = &v1::ImagesResponse::set_output_format;
      } else if (field.key() == "quality") {
        setter = &v1::ImagesResponse::set_quality;
      } else if (field.key() == "size") {
        setter = &v1::ImagesResponse::set_size;
      } else if (field.key() == "task_id") {
        setter = &v1::ImagesResponse::set_task_id;
      } else if (field.key() == "trace_id") {
        setter = &v1::ImagesResponse::set_trace_id;
      }
      if (setter == nullptr) continue;
      if (std::optional<std::string_view> text = StringValue(value)) {
        (out.*setter)(std::string(*text));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateGenerateImagesRequest(const v1::GenerateImagesRequest& request) {
  return ValidateCommon(request);
}

absl::Status ValidateEditImageRequest(const v1::EditImageRequest& request) {
  RETURN_IF_ERROR(ValidateCommon(request));
  if (request.images_size() == 0) return FieldError("images", "at least one image is required");
  if (request.images_size() > kMaxInputImages) {
    return FieldError("images", absl::StrCat(request.images_size(), " images; at most ",
                                             kMaxInputImages, " are allowed"));
  }
  for (int i = 0; i < request.images_size(); ++i) {
    RETURN_IF_ERROR(ValidateInputImage(request.images(i), absl::StrCat("images[", i, "]")));
  }
  if (request.has_mask()) RETURN_IF_ERROR(ValidateInputImage(request.mask(), "mask"));
  // One body carries them all: a JSON body cannot hold uploads, a form cannot hold URLs.
  if (AnyImageIsUrl(request) && !AllImagesAreUrls(request)) {
    return FieldError("images", "give all images and the mask as bytes or all as URLs, not both");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GenerateImagesRequestToUpstreamJson(
    const v1::GenerateImagesRequest& request) {
  RETURN_IF_ERROR(ValidateGenerateImagesRequest(request));
  json body = CommonParameters(request);
  if (request.has_style()) body["style"] = request.style();
  if (request.has_moderation()) body["moderation"] = request.moderation();
  MergeExtraBody(request.extra_body(), body);
  return body.dump();
}

absl::StatusOr<EditUpstreamBody> EditImageRequestToUpstream(const v1::EditImageRequest& request) {
  RETURN_IF_ERROR(ValidateEditImageRequest(request));
  json parameters = CommonParameters(request);
  if (request.has_input_fidelity()) parameters["input_fidelity"] = request.input_fidelity();

  EditUpstreamBody out;
  if (AllImagesAreUrls(request)) {
    // gpt-image-1's JSON form of an edit: image references instead of uploads.
    json images = json::array();
    for (const v1::InputImage& image : request.images()) {
      images.push_back({{"image_url", image.url()}});
    }
    parameters["images"] = std::move(images);
    if (request.has_mask()) parameters["mask"] = {{"image_url", request.mask().url()}};
    MergeExtraBody(request.extra_body(), parameters);
    out.json = parameters.dump();
    return out;
  }

  // extra_body is merged into the text fields first, so its keys win there as in JSON bodies.
  MergeExtraBody(request.extra_body(), parameters);
  out.form.reserve(parameters.size() + request.images_size() + (request.has_mask() ? 1 : 0));
  for (const auto& [name, value] : parameters.items()) {
    out.form.push_back({name, FormFieldValue(value), "", ""});
  }
  for (int i = 0; i < request.images_size(); ++i) {
    out.form.push_back(FilePart(request.images(i), kImagePartName, absl::StrCat("image-", i)));
  }
  if (request.has_mask()) out.form.push_back(FilePart(request.mask(), kMaskPartName, "mask"));
  return out;
}

absl::StatusOr<v1::ImagesResponse> ImagesResponseFromUpstreamJson(std::string_view body) {
  // simdjson reads up to SIMDJSON_PADDING bytes past the end, which a string_view does not
  // promise; the copy is freed with the answer (images are rare, unlike embeddings).
  const simdjson::padded_string padded(body.data(), body.size());
  ondemand::document document;
  if (simdjson::error_code error = ThreadParser().iterate(padded).get(document)) {
    return Malformed("not valid JSON", error);
  }
  ondemand::object root;
  if (simdjson::error_code error = document.get_object().get(root)) {
    return Malformed("not a JSON object", error);
  }
  v1::ImagesResponse response;
  bool has_data = false;
  RETURN_IF_ERROR(ParseAnswerObject(root, /*envelope_allowed=*/true, response, has_data));
  if (!AtEnd(document)) return Malformed("content after the JSON object");
  if (!has_data) return Malformed("no data array");
  return response;
}

}  // namespace gengate::translate
