// Embeddings: proto ⇄ upstream JSON (pure; no I/O). The hot path: a 2,048 x 1,536 answer.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gengate/v1/embeddings.pb.h"

namespace gengate::translate {

// INVALID_ARGUMENT when the request cannot be sent: no model, no inputs or more than 2,048,
// input and input_token_ids both set, an empty token array, dimensions < 1.
absl::Status ValidateEmbeddingsRequest(const v1::CreateEmbeddingsRequest& request);

// Validated first; always asks for `"encoding_format": "base64"`; extra_body merged last.
absl::StatusOr<std::string> EmbeddingsRequestToUpstreamJson(
    const v1::CreateEmbeddingsRequest& request);

// Parses the answer (base64 little-endian float32 or float arrays), ordered by index.
// INTERNAL when it is not an embeddings answer: no `data` array, an item without index or
// embedding, indexes that are not exactly 0..n-1, base64 that is not whole float32 values.
// Reads the body in one pass, decoding base64 straight into the float fields (no copy).
absl::StatusOr<v1::CreateEmbeddingsResponse> EmbeddingsResponseFromUpstreamJson(
    std::string_view body);

}  // namespace gengate::translate
