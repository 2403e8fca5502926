// gengate.v1.EmbeddingsService: /embeddings, asked for base64 and decoded into floats.
#pragma once

#include "gengate/v1/embeddings.grpc.pb.h"
#include "service/upstream_call.h"

namespace gengate::service {

class EmbeddingsService final : public v1::EmbeddingsService::CallbackService {
 public:
  // `env` must outlive the service.
  explicit EmbeddingsService(const ServiceEnv& env) : env_(env) {}

  grpc::ServerUnaryReactor* CreateEmbeddings(grpc::CallbackServerContext* context,
                                             const v1::CreateEmbeddingsRequest* request,
                                             v1::CreateEmbeddingsResponse* response) override;

 private:
  const ServiceEnv& env_;
};

}  // namespace gengate::service
