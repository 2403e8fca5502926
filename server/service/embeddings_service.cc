#include "service/embeddings_service.h"

#include "service/reactors.h"
#include "translate/embeddings.h"

namespace gengate::service {
namespace {

void CountUsage(const v1::CreateEmbeddingsResponse& response, TokenUsage& out) {
  if (response.has_usage()) out.input.store(response.usage().prompt_tokens());
}

}  // namespace

grpc::ServerUnaryReactor* EmbeddingsService::CreateEmbeddings(
    grpc::CallbackServerContext* context, const v1::CreateEmbeddingsRequest* request,
    v1::CreateEmbeddingsResponse* response) {
  return new UnaryUpstreamReactor<v1::CreateEmbeddingsResponse>(
      env_, context, "/gengate.v1.EmbeddingsService/CreateEmbeddings", request->model(),
      "/embeddings",
      JsonBody(*request, env_.settings,
               [&] { return translate::EmbeddingsRequestToUpstreamJson(*request); }),
      response, &translate::EmbeddingsResponseFromUpstreamJson,
      &CountUsage);
}

}  // namespace gengate::service
