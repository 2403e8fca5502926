#include "service/chat_service.h"

#include <memory>

#include "service/reactors.h"
#include "translate/chat.h"

namespace gengate::service {
namespace {

constexpr char kPath[] = "/chat/completions";

void CountUsage(const v1::CompletionUsage& usage, TokenUsage& out) {
  out.input.store(usage.prompt_tokens());
  out.output.store(usage.completion_tokens());
}

void ChatCompletionUsage(const v1::ChatCompletion& completion, TokenUsage& out) {
  if (completion.has_usage()) CountUsage(completion.usage(), out);
}

// A chat stream: `[DONE]` ends it, an `error` payload fails it, and a clean EOF is fine once
// every choice seen has its finish_reason.
class ChatStreamDecoder final : public StreamDecoder<v1::ChatCompletionChunk> {
 public:
  DecodedEvent Decode(const sse::Event& event, v1::ChatCompletionChunk& chunk,
                      CallContext& call) override {
    if (event.data.find_first_not_of(" \t\r\n") == std::string::npos) return {};
    absl::StatusOr<translate::ChatStreamEventKind> kind =
        translate::ParseChatStreamData(event.data, chunk);
    if (!kind.ok()) {
      return {DecodedEvent::Kind::kError,
              status::MalformedUpstream(std::string(kind.status().message()), call.upstream())};
    }
    switch (*kind) {
      case translate::ChatStreamEventKind::kDone:
        return {DecodedEvent::Kind::kEnd, grpc::Status::OK};
      case translate::ChatStreamEventKind::kError:
        return {DecodedEvent::Kind::kError, status::MapStreamError(event.data, call.upstream())};
      case translate::ChatStreamEventKind::kChunk:
        break;
    }
    for (const v1::ChatCompletionChunkChoice& choice : chunk.choices()) {
      if (choice.finish_reason() != v1::FINISH_REASON_UNSPECIFIED ||
          !choice.raw_finish_reason().empty()) {
        finished_ = true;
      }
    }
    if (chunk.has_usage()) CountUsage(chunk.usage(), call.usage());
    return {DecodedEvent::Kind::kMessage, grpc::Status::OK};
  }

  bool AcceptsCleanEof() const override { return finished_; }

 private:
  bool finished_ = false;
};

}  // namespace

grpc::ServerUnaryReactor* ChatService::CreateChatCompletion(
    grpc::CallbackServerContext* context, const v1::CreateChatCompletionRequest* request,
    v1::ChatCompletion* response) {
  return new UnaryUpstreamReactor<v1::ChatCompletion>(
      env_, context, "/gengate.v1.ChatService/CreateChatCompletion", request->model(), kPath,
      JsonBody(*request, env_.settings,
               [&] { return translate::ChatRequestToUpstreamJson(*request, /*stream=*/false); }),
      response, &translate::ChatCompletionFromUpstreamJson, &ChatCompletionUsage);
}

grpc::ServerWriteReactor<v1::ChatCompletionChunk>* ChatService::StreamChatCompletion(
    grpc::CallbackServerContext* context, const v1::CreateChatCompletionRequest* request) {
  return new StreamUpstreamReactor<v1::ChatCompletionChunk>(
      env_, context, "/gengate.v1.ChatService/StreamChatCompletion", request->model(), kPath,
      JsonBody(*request, env_.settings,
               [&] { return translate::ChatRequestToUpstreamJson(*request, /*stream=*/true); }),
      std::make_unique<ChatStreamDecoder>());
}

}  // namespace gengate::service
