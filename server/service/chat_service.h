// gengate.v1.ChatService: chat completions, unary and streamed, over the upstream's
// /chat/completions.
#pragma once

#include "gengate/v1/chat.grpc.pb.h"
#include "service/upstream_call.h"

namespace gengate::service {

class ChatService final : public v1::ChatService::CallbackService {
 public:
  // `env` must outlive the service.
  explicit ChatService(const ServiceEnv& env) : env_(env) {}

  grpc::ServerUnaryReactor* CreateChatCompletion(grpc::CallbackServerContext* context,
                                                 const v1::CreateChatCompletionRequest* request,
                                                 v1::ChatCompletion* response) override;

  grpc::ServerWriteReactor<v1::ChatCompletionChunk>* StreamChatCompletion(
      grpc::CallbackServerContext* context,
      const v1::CreateChatCompletionRequest* request) override;

 private:
  const ServiceEnv& env_;
};

}  // namespace gengate::service
