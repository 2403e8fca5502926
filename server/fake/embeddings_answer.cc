// POST /embeddings: for each input a unit vector derived from a hash of its text, as float
// arrays or as base64 of little-endian float32 (encoding_format "base64").
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "fake/answer_parts.h"
#include "fake/answers.h"

namespace gengate::fake {
namespace {

constexpr int64_t kMaxInputs = 2048;
constexpr int64_t kMaxDimensions = 8192;
constexpr int64_t kDefaultDimensions = 1536;     // text-embedding-3-small, ada-002
constexpr int64_t kLargeModelDimensions = 3072;  // text-embedding-3-large

// One input as the fake sees it: the text its vector derives from, and its token count.
struct EmbeddingInput {
  std::string text;
  int64_t tokens = 0;
};

bool IsTokenArray(const Json& value) {
  if (!value.is_array() || value.empty()) return false;
  for (const Json& token : value) {
    if (!token.is_number_integer()) return false;
  }
  return true;
}

// The inputs of `input`: a string, an array of strings, a token array, or an array of token
// arrays. nullopt when it is none of these.
std::optional<std::vector<EmbeddingInput>> ReadInputs(const Json& input) {
  std::vector<EmbeddingInput> inputs;
  auto add = [&inputs](const Json& one) {
    if (one.is_string()) {
      const std::string text = one.get<std::string>();
      inputs.push_back({text, CountWords(text)});
      return true;
    }
    if (IsTokenArray(one)) {
      inputs.push_back({Dump(one), static_cast<int64_t>(one.size())});
      return true;
    }
    return false;
  };
  if (input.is_string() || IsTokenArray(input)) {
    add(input);
    return inputs;
  }
  if (!input.is_array() || input.empty()) return std::nullopt;
  for (const Json& one : input) {
    if (!add(one)) return std::nullopt;
  }
  return inputs;
}

// splitmix64: a small, well-mixed generator, seeded by the text's hash.
uint64_t NextRandom(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::vector<float> UnitVector(std::string_view text, int64_t dimensions) {
  uint64_t state = StableHash(text);
  std::vector<double> values(static_cast<size_t>(dimensions));
  double norm_squared = 0;
  for (double& value : values) {
    // The top 53 bits as a double in [0, 1), moved to [-1, 1).
    value = static_cast<double>(NextRandom(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0;
    norm_squared += value * value;
  }
  const double scale = norm_squared > 0 ? 1.0 / std::sqrt(norm_squared) : 0.0;
  std::vector<float> vector;
  vector.reserve(values.size());
  for (double value : values) vector.push_back(static_cast<float>(value * scale));
  return vector;
}

std::string LittleEndianBase64(const std::vector<float>& vector) {
  std::string bytes;
  bytes.reserve(vector.size() * 4);
  for (float value : vector) {
    const auto bits = std::bit_cast<uint32_t>(value);
    for (int shift = 0; shift < 32; shift += 8) bytes.push_back(static_cast<char>(bits >> shift));
  }
  return absl::Base64Escape(bytes);
}

}  // namespace

Answer AnswerEmbeddings(const Json& request) {
  const Json* input = Field(request, "input");
  if (input == nullptr || input->is_null()) return MissingParameterAnswer("input");
  std::optional<std::vector<EmbeddingInput>> inputs = ReadInputs(*input);
  if (!inputs.has_value()) {
    return InvalidValueAnswer(
        "input", "input must be a string, an array of strings, or an array of token arrays.");
  }
  if (static_cast<int64_t>(inputs->size()) > kMaxInputs) {
    return InvalidValueAnswer("input",
                              absl::StrCat("At most ", kMaxInputs, " inputs are allowed."));
  }
  const std::string model = StringField(request, "model");
  const int64_t dimensions =
      IntField(request, "dimensions")
          .value_or(absl::StrContains(model, "3-large") ? kLargeModelDimensions
                                                        : kDefaultDimensions);
  if (dimensions < 1 || dimensions > kMaxDimensions) {
    return InvalidValueAnswer(
        "dimensions", absl::StrCat("dimensions must be between 1 and ", kMaxDimensions, "."));
  }
  const std::string encoding = StringField(request, "encoding_format", "float");
  if (encoding != "float" && encoding != "base64") {
    return InvalidValueAnswer("encoding_format", "encoding_format must be 'float' or 'base64'.");
  }

  Json data = Json::array();
  int64_t tokens = 0;
  for (size_t index = 0; index < inputs->size(); ++index) {
    const EmbeddingInput& one = (*inputs)[index];
    tokens += one.tokens;
    const std::vector<float> vector = UnitVector(one.text, dimensions);
    Json embedding = encoding == "base64" ? Json(LittleEndianBase64(vector)) : Json(vector);
    data.push_back(
        {{"object", "embedding"}, {"index", index}, {"embedding", std::move(embedding)}});
  }
  return JsonAnswer({{"object", "list"},
                     {"data", std::move(data)},
                     {"model", model},
                     {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

}  // namespace gengate::fake
