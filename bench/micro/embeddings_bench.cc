// Times EmbeddingsResponseFromUpstreamJson on realistic answers; DESIGN.md section 6 wants a
// 2,048 x 1,536 base64 answer (~16.8 MB of JSON) decoded in at most 5 ms. Part of `bench_micro`
// (`make bench-micro`); the nlohmann and base64-only cases show where the time goes.
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "nlohmann/json.hpp"
#include "simdjson.h"
#include "translate/base64.h"
#include "translate/embeddings.h"

namespace gengate::translate {
namespace {

// Unit-length-ish components like a real model's, from a fixed seed.
std::vector<float> RandomVector(std::mt19937& random, int dimensions) {
  std::normal_distribution<float> normal(0.0f, 0.025f);
  std::vector<float> vector(dimensions);
  for (float& component : vector) component = normal(random);
  return vector;
}

// An answer as OpenAI writes it: `encoding_format` base64 or float.
std::string EmbeddingsAnswer(int inputs, int dimensions, bool base64) {
  std::mt19937 random(42);
  std::string body = R"({"object":"list","data":[)";
  for (int i = 0; i < inputs; ++i) {
    const std::vector<float> vector = RandomVector(random, dimensions);
    absl::StrAppend(&body, i == 0 ? "" : ",", R"({"object":"embedding","index":)", i,
                    R"(,"embedding":)");
    if (base64) {
      absl::StrAppend(&body, "\"",
                      absl::Base64Escape(absl::string_view(
                          reinterpret_cast<const char*>(vector.data()),
                          vector.size() * sizeof(float))),
                      "\"}");
    } else {
      body += nlohmann::json(vector).dump();
      body += "}";
    }
  }
  absl::StrAppend(&body, R"(],"model":"text-embedding-3-small","usage":{"prompt_tokens":)",
                  inputs * 8, R"(,"total_tokens":)", inputs * 8, "}}");
  return body;
}

void RunTranslation(benchmark::State& state, const std::string& body, int inputs) {
  for (auto _ : state) {
    absl::StatusOr<v1::CreateEmbeddingsResponse> response =
        EmbeddingsResponseFromUpstreamJson(body);
    if (!response.ok() || response->data_size() != inputs) {
      state.SkipWithError("translation failed");
      break;
    }
    benchmark::DoNotOptimize(response->data(inputs - 1).embedding(0));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(body.size()));
  state.counters["body_MB"] = static_cast<double>(body.size()) / 1e6;
}

void BM_Base64Answer2048x1536(benchmark::State& state) {
  static const std::string* const body = new std::string(EmbeddingsAnswer(2048, 1536, true));
  RunTranslation(state, *body, 2048);
}
BENCHMARK(BM_Base64Answer2048x1536)->Unit(benchmark::kMillisecond);

void BM_FloatAnswer2048x1536(benchmark::State& state) {
  static const std::string* const body = new std::string(EmbeddingsAnswer(2048, 1536, false));
  RunTranslation(state, *body, 2048);
}
BENCHMARK(BM_FloatAnswer2048x1536)->Unit(benchmark::kMillisecond);

void BM_Base64Answer1x1536(benchmark::State& state) {
  static const std::string* const body = new std::string(EmbeddingsAnswer(1, 1536, true));
  RunTranslation(state, *body, 1);
}
BENCHMARK(BM_Base64Answer1x1536)->Unit(benchmark::kMicrosecond);

void BM_FloatAnswer1x1536(benchmark::State& state) {
  static const std::string* const body = new std::string(EmbeddingsAnswer(1, 1536, false));
  RunTranslation(state, *body, 1);
}
BENCHMARK(BM_FloatAnswer1x1536)->Unit(benchmark::kMicrosecond);

// For comparison: only building nlohmann's DOM of the same base64 answer, no decoding.
void BM_NlohmannDomOfBase64Answer2048x1536(benchmark::State& state) {
  static const std::string* const body = new std::string(EmbeddingsAnswer(2048, 1536, true));
  for (auto _ : state) {
    nlohmann::json parsed = nlohmann::json::parse(*body, nullptr, /*allow_exceptions=*/false);
    benchmark::DoNotOptimize(parsed.is_discarded());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(body->size()));
}
BENCHMARK(BM_NlohmannDomOfBase64Answer2048x1536)->Unit(benchmark::kMillisecond);

// For comparison: the same answer through simdjson On Demand (padded copy, structural index,
// then each raw base64 token decoded into one reused buffer) — the route embeddings.cc does
// not take, because the copy and the index pass each cost about as much as the decode.
void BM_SimdjsonOnDemandOfBase64Answer2048x1536(benchmark::State& state) {
  static const std::string* const body = new std::string(EmbeddingsAnswer(2048, 1536, true));
  simdjson::ondemand::parser parser;
  std::vector<char> floats(Base64MaxDecodedSize(8192));
  for (auto _ : state) {
    const simdjson::padded_string padded(*body);
    simdjson::ondemand::document document;
    if (parser.iterate(padded).get(document) != simdjson::SUCCESS) {
      state.SkipWithError("parse failed");
      break;
    }
    std::size_t decoded = 0;
    for (auto item : document["data"]) {
      std::string_view token;
      if (item["embedding"].raw_json_token().get(token) != simdjson::SUCCESS) {
        state.SkipWithError("no embedding");
        break;
      }
      // The raw token is the quoted string; the closing quote is its last character here.
      token = token.substr(1, token.rfind('"') - 1);
      decoded += DecodeBase64(token, floats.data()).value_or(0);
    }
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(body->size()));
}
BENCHMARK(BM_SimdjsonOnDemandOfBase64Answer2048x1536)->Unit(benchmark::kMillisecond);

// The base64 decoder alone, on one 2,048 x 1,536 answer's worth of text (12.6 MB of floats).
void BM_DecodeBase64_16MB(benchmark::State& state) {
  std::mt19937 random(7);
  const std::vector<float> floats = RandomVector(random, 2048 * 1536);
  const std::string text = absl::Base64Escape(absl::string_view(
      reinterpret_cast<const char*>(floats.data()), floats.size() * sizeof(float)));
  std::string out(Base64MaxDecodedSize(text.size()), '\0');
  for (auto _ : state) {
    if (!DecodeBase64(text, out.data()).has_value()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_DecodeBase64_16MB)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gengate::translate
