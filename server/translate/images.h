// Images (generations and edits): proto ⇄ upstream JSON / multipart (pure; no I/O).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gengate/v1/images.pb.h"

namespace gengate::translate {

// One multipart/form-data field; file fields have a filename and content type.
struct MultipartField {
  std::string name;  // "image[]", "mask", "prompt", "model", "n", ...
  std::string value;
  std::string filename;
  std::string content_type;
};

// The upstream body of an edit: multipart when the images (and mask) are bytes, JSON when they
// are all URLs (gpt-image-1's `images: [{"image_url": ...}]`, `mask: {"image_url": ...}`).
// In a form, text fields come first (numbers and booleans as their JSON text), then one
// `image[]` file part per image (also for a single one) and a `mask` part.
struct EditUpstreamBody {
  std::string json;                   // set when `form` is empty
  std::vector<MultipartField> form;   // set for uploads
};

// INVALID_ARGUMENT when the request cannot be sent: no model or prompt, n < 1, an unknown
// response_format, output_compression outside 0-100; for edits also 0 or more than 16 images,
// an image without data or URL, or bytes and URLs mixed.
absl::Status ValidateGenerateImagesRequest(const v1::GenerateImagesRequest& request);
absl::Status ValidateEditImageRequest(const v1::EditImageRequest& request);

// Validated first; unset optional fields absent; extra_body merged last.
absl::StatusOr<std::string> GenerateImagesRequestToUpstreamJson(
    const v1::GenerateImagesRequest& request);
absl::StatusOr<EditUpstreamBody> EditImageRequestToUpstream(const v1::EditImageRequest& request);

// Parses an images answer (OpenAI's, or Ace's success envelope); b64_json is decoded into
// image_data. INTERNAL when it is not an images answer (no `data` array, invalid base64, Ace's
// `success: false`).
absl::StatusOr<v1::ImagesResponse> ImagesResponseFromUpstreamJson(std::string_view body);

}  // namespace gengate::translate
