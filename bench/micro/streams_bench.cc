// The per-event hot paths of a stream, and the unary chat translation: what the event loop
// does for every upstream SSE event and every unary answer. Part of `bench_micro`.
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "gengate/v1/chat.pb.h"
#include "gengate/v1/responses.pb.h"
#include "sse/parser.h"
#include "translate/chat.h"
#include "translate/responses.h"

namespace gengate {
namespace {

// One chat.completion.chunk as OpenAI sends it, with a few words of content.
std::string ChatChunkJson(int index) {
  return absl::StrCat(
      R"({"id":"chatcmpl-AbCdEf0123456789","object":"chat.completion.chunk","created":1733000000,)",
      R"("model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0123456789",)",
      R"("choices":[{"index":0,"delta":{"content":" word)", index,
      R"( and more"},"logprobs":null,"finish_reason":null}]})");
}

// A whole chat stream: `events` chunks, then [DONE].
std::string ChatStream(int events) {
  std::string stream;
  for (int i = 0; i < events; ++i) absl::StrAppend(&stream, "data: ", ChatChunkJson(i), "\n\n");
  stream += "data: [DONE]\n\n";
  return stream;
}

// The SSE parser over a 200-event chat stream, fed in the 16 KiB pieces curl hands over.
void BM_SseParseChatStream(benchmark::State& state) {
  const std::string stream = ChatStream(200);
  const std::size_t piece = static_cast<std::size_t>(state.range(0));
  std::vector<sse::Event> events;
  std::size_t total = 0;
  for (auto _ : state) {
    sse::Parser parser;
    for (std::size_t offset = 0; offset < stream.size(); offset += piece) {
      events.clear();
      if (!parser.Feed(std::string_view(stream).substr(offset, piece), events)) {
        state.SkipWithError("parse failed");
        return;
      }
      total += events.size();
    }
  }
  benchmark::DoNotOptimize(total);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(stream.size()));
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SseParseChatStream)->Arg(16 << 10)->Arg(64);

// One chunk's data payload into a ChatCompletionChunk: the per-event translation.
void BM_ChatChunkTranslate(benchmark::State& state) {
  const std::string data = ChatChunkJson(7);
  v1::ChatCompletionChunk chunk;
  for (auto _ : state) {
    chunk.Clear();
    absl::StatusOr<translate::ChatStreamEventKind> kind =
        translate::ParseChatStreamData(data, chunk);
    if (!kind.ok()) {
      state.SkipWithError("translate failed");
      return;
    }
    benchmark::DoNotOptimize(chunk.choices_size());
  }
}
BENCHMARK(BM_ChatChunkTranslate);

// A unary chat answer (~0.6 KB, like the benchmark's mock) into a ChatCompletion.
void BM_ChatCompletionTranslate(benchmark::State& state) {
  const std::string body =
      R"({"id":"chatcmpl-AbCdEf0123456789","object":"chat.completion","created":1733000000,)"
      R"("model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0123456789",)"
      R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I )"
      R"(help you today? I can answer questions, write text, translate, summarize and much )"
      R"(more.","refusal":null},"logprobs":null,"finish_reason":"stop"}],)"
      R"("usage":{"prompt_tokens":19,"completion_tokens":24,"total_tokens":43,)"
      R"("prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},)"
      R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,)"
      R"("accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}})";
  for (auto _ : state) {
    absl::StatusOr<v1::ChatCompletion> completion =
        translate::ChatCompletionFromUpstreamJson(body);
    if (!completion.ok()) {
      state.SkipWithError("translate failed");
      return;
    }
    benchmark::DoNotOptimize(completion->choices_size());
  }
}
BENCHMARK(BM_ChatCompletionTranslate);

// A chat request with a system prompt and two turns into the upstream JSON body.
void BM_ChatRequestToJson(benchmark::State& state) {
  v1::CreateChatCompletionRequest request;
  request.set_model("gpt-4o-mini");
  request.set_temperature(0.2);
  request.set_max_completion_tokens(256);
  for (const auto& [role, text] :
       {std::pair{v1::ROLE_SYSTEM, "You are a terse assistant."},
        std::pair{v1::ROLE_USER, "What is the capital of France?"},
        std::pair{v1::ROLE_ASSISTANT, "Paris."}, std::pair{v1::ROLE_USER, "And of Italy?"}}) {
    v1::ChatMessage* message = request.add_messages();
    message->set_role(role);
    message->set_content(text);
  }
  for (auto _ : state) {
    absl::StatusOr<std::string> json = translate::ChatRequestToUpstreamJson(request, true);
    if (!json.ok()) {
      state.SkipWithError(std::string(json.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(json->size());
  }
}
BENCHMARK(BM_ChatRequestToJson);

// One response.output_text.delta event into a ResponseEvent.
void BM_ResponseDeltaTranslate(benchmark::State& state) {
  const std::string data =
      R"({"type":"response.output_text.delta","sequence_number":12,)"
      R"("item_id":"msg_0123456789abcdef","output_index":0,"content_index":0,)"
      R"("delta":" a few more words"})";
  v1::ResponseEvent event;
  for (auto _ : state) {
    event.Clear();
    absl::StatusOr<translate::ResponseStreamEventKind> kind =
        translate::ParseResponseStreamEvent("response.output_text.delta", data, event);
    if (!kind.ok()) {
      state.SkipWithError("translate failed");
      return;
    }
    benchmark::DoNotOptimize(event.sequence_number());
  }
}
BENCHMARK(BM_ResponseDeltaTranslate);

}  // namespace
}  // namespace gengate

BENCHMARK_MAIN();
