#include "canned.h"

#include "absl/strings/str_cat.h"

namespace gengate::bench {

const std::string& ChatAnswerJson() {
  static const std::string answer =
      R"({"id":"chatcmpl-bench","object":"chat.completion","created":1764547200,)"
      R"("model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":)"
      R"("Hello, benchmark! This is a fixed answer of about the length a short reply has.",)"
      R"("refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],)"
      R"("usage":{"prompt_tokens":24,"completion_tokens":18,"total_tokens":42,)"
      R"("prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},)"
      R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,)"
      R"("accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},)"
      R"("service_tier":"default","system_fingerprint":"fp_bench"})";
  return answer;
}

std::string ChatChunkJson(int64_t index, int64_t total) {
  const bool last = index + 1 == total;
  std::string event = absl::StrCat(
      R"({"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1764547200,)",
      R"("model":"bench","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":)",
      last ? "{}" : R"({"role":"assistant","content":"token "})",
      R"(,"logprobs":null,"finish_reason":)", last ? R"("stop")" : "null", "}]");
  if (last) {
    absl::StrAppend(&event, R"(,"usage":{"prompt_tokens":24,"completion_tokens":)", total,
                    R"(,"total_tokens":)", total + 24, "}");
  }
  event.push_back('}');
  return event;
}

}  // namespace gengate::bench
