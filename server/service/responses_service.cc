#include "service/responses_service.h"

#include <memory>

#include "service/reactors.h"
#include "translate/responses.h"

namespace gengate::service {
namespace {

constexpr char kPath[] = "/responses";

void CountUsage(const v1::Response& response, TokenUsage& out) {
  if (!response.has_usage()) return;
  out.input.store(response.usage().input_tokens());
  out.output.store(response.usage().output_tokens());
}

// A Responses stream: typed events; response.completed / .incomplete end it well,
// response.failed and `error` end it with the upstream's error after passing the event on.
class ResponsesStreamDecoder final : public StreamDecoder<v1::ResponseEvent> {
 public:
  DecodedEvent Decode(const sse::Event& event, v1::ResponseEvent& message,
                      CallContext& call) override {
    if (event.data.find_first_not_of(" \t\r\n") == std::string::npos) return {};
    absl::StatusOr<translate::ResponseStreamEventKind> kind =
        translate::ParseResponseStreamEvent(event.type, event.data, message);
    if (!kind.ok()) {
      return {DecodedEvent::Kind::kError,
              status::MalformedUpstream(std::string(kind.status().message()), call.upstream())};
    }
    if (message.has_response()) CountUsage(message.response(), call.usage());
    switch (*kind) {
      case translate::ResponseStreamEventKind::kEvent:
        return {DecodedEvent::Kind::kMessage, grpc::Status::OK};
      case translate::ResponseStreamEventKind::kTerminalOk:
        return {DecodedEvent::Kind::kMessageThenEnd, grpc::Status::OK};
      case translate::ResponseStreamEventKind::kFailed:
        return {DecodedEvent::Kind::kMessageThenError,
                status::MapStreamError(event.data, call.upstream())};
      case translate::ResponseStreamEventKind::kDone:
        return {DecodedEvent::Kind::kEnd, grpc::Status::OK};
    }
    return {};
  }

  // The stream must end with a terminal event (or [DONE]); a bare EOF is a cut connection.
  bool AcceptsCleanEof() const override { return false; }
};

}  // namespace

grpc::ServerUnaryReactor* ResponsesService::CreateResponse(
    grpc::CallbackServerContext* context, const v1::CreateResponseRequest* request,
    v1::Response* response) {
  return new UnaryUpstreamReactor<v1::Response>(
      env_, context, "/gengate.v1.ResponsesService/CreateResponse", request->model(), kPath,
      JsonBody(*request, env_.settings,
               [&] {
                 return translate::ResponseRequestToUpstreamJson(*request, /*stream=*/false);
               }),
      response, &translate::ResponseFromUpstreamJson, &CountUsage);
}

grpc::ServerWriteReactor<v1::ResponseEvent>* ResponsesService::StreamResponse(
    grpc::CallbackServerContext* context, const v1::CreateResponseRequest* request) {
  return new StreamUpstreamReactor<v1::ResponseEvent>(
      env_, context, "/gengate.v1.ResponsesService/StreamResponse", request->model(), kPath,
      JsonBody(*request, env_.settings,
               [&] { return translate::ResponseRequestToUpstreamJson(*request, /*stream=*/true); }),
      std::make_unique<ResponsesStreamDecoder>());
}

}  // namespace gengate::service
