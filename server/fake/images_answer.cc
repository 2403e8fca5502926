// POST /images/generations and /images/edits: `n` images as URLs or as base64 of a small real
// PNG whose colour comes from the prompt, with gpt-image-style extras and usage.
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fake/answer_parts.h"
#include "fake/answers.h"
#include "fake/png.h"

namespace gengate::fake {
namespace {

constexpr int64_t kMaxImages = 10;        // OpenAI's limit for n
constexpr int64_t kMaxInputImages = 16;   // per edit, as on the upstream
constexpr uint32_t kImageSidePixels = 8;  // whatever `size` says: the fake stays small
constexpr int64_t kOutputTokensPerImage = 272;
constexpr int64_t kInputTokensPerImage = 85;
constexpr std::string_view kImageUrlBase = "https://fake.gengate.local/images/";

// A colour per prompt and image, so different prompts look different and repeats match.
Rgba ImageColor(std::string_view prompt, int64_t index) {
  const uint64_t hash = StableHash(absl::StrCat(ToAbsl(prompt), "#", index));
  return {static_cast<uint8_t>(hash), static_cast<uint8_t>(hash >> 8),
          static_cast<uint8_t>(hash >> 16), 255};
}

// The count of input images an edit names in `image` (and the JSON API's `images`).
int64_t CountInputImages(const Json& request) {
  int64_t count = 0;
  for (std::string_view key : {"image", "images"}) {
    const Json* images = Field(request, key);
    if (images == nullptr) continue;
    if (images->is_array()) {
      count += static_cast<int64_t>(images->size());
    } else if (!images->is_null()) {
      ++count;
    }
  }
  return count;
}

// The answer for both endpoints; `input_images` is 0 for generations.
Answer ImagesAnswer(const Json& request, int64_t input_images, bool has_mask) {
  const std::string prompt = StringField(request, "prompt");
  if (prompt.empty()) return MissingParameterAnswer("prompt");
  const int64_t count = IntField(request, "n").value_or(1);
  if (count < 1 || count > kMaxImages) {
    return InvalidValueAnswer("n", absl::StrCat("n must be between 1 and ", kMaxImages, "."));
  }
  const std::string model = StringField(request, "model");
  const bool gpt_image = absl::StrContains(model, "gpt-image");
  const std::string format = StringField(request, "response_format");
  if (!format.empty() && format != "url" && format != "b64_json") {
    return InvalidValueAnswer("response_format", "response_format must be 'url' or 'b64_json'.");
  }
  // As on OpenAI: dall-e models answer with URLs unless asked otherwise, gpt-image with base64.
  const bool as_url = format == "url" || (format.empty() && !gpt_image);

  std::string revised_prompt = absl::StrCat("A fake image of: ", prompt);
  if (input_images > 0) {
    revised_prompt =
        absl::StrCat("A fake edit of ", input_images, input_images == 1 ? " image" : " images",
                     has_mask ? " with a mask" : "", ": ", prompt);
  }
  const std::string request_hash =
      absl::StrCat(absl::Hex(StableHash(Dump(request)), absl::kZeroPad16));
  Json data = Json::array();
  for (int64_t index = 0; index < count; ++index) {
    Json item = Json::object();
    if (as_url) {
      item["url"] = absl::StrCat(ToAbsl(kImageUrlBase), request_hash, "-", index, ".png");
    } else {
      item["b64_json"] = absl::Base64Escape(
          EncodeSolidPng(kImageSidePixels, kImageSidePixels, ImageColor(prompt, index)));
    }
    item["revised_prompt"] = revised_prompt;
    data.push_back(std::move(item));
  }

  Json body = {{"created", kCreatedAt}};
  if (gpt_image) {
    body["background"] = FieldOr(request, "background", "opaque");
    body["data"] = std::move(data);
    body["output_format"] = "png";
    body["quality"] = FieldOr(request, "quality", "medium");
    body["size"] = FieldOr(request, "size", "1024x1024");
    const int64_t text_tokens = CountWords(prompt);
    const int64_t image_tokens = input_images * kInputTokensPerImage;
    const int64_t output_tokens = count * kOutputTokensPerImage;
    body["usage"] = {
        {"input_tokens", text_tokens + image_tokens},
        {"input_tokens_details", {{"image_tokens", image_tokens}, {"text_tokens", text_tokens}}},
        {"output_tokens", output_tokens},
        {"output_tokens_details", {{"image_tokens", output_tokens}, {"text_tokens", 0}}},
        {"total_tokens", text_tokens + image_tokens + output_tokens}};
  } else {
    body["data"] = std::move(data);
  }
  return JsonAnswer(body);
}

}  // namespace

Answer AnswerImageGeneration(const Json& request) {
  return ImagesAnswer(request, /*input_images=*/0, /*has_mask=*/false);
}

Answer AnswerImageEdit(const Json& request) {
  const int64_t input_images = CountInputImages(request);
  if (input_images == 0) return MissingParameterAnswer("image");
  if (input_images > kMaxInputImages) {
    return InvalidValueAnswer(
        "image", absl::StrCat("At most ", kMaxInputImages, " images can be edited at once."));
  }
  const Json* mask = Field(request, "mask");
  return ImagesAnswer(request, input_images, mask != nullptr && !mask->is_null());
}

}  // namespace gengate::fake
