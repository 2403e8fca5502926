// gengate.v1.ResponsesService: the Responses API, unary and streamed, over /responses.
#pragma once

#include "gengate/v1/responses.grpc.pb.h"
#include "service/upstream_call.h"

namespace gengate::service {

class ResponsesService final : public v1::ResponsesService::CallbackService {
 public:
  // `env` must outlive the service.
  explicit ResponsesService(const ServiceEnv& env) : env_(env) {}

  grpc::ServerUnaryReactor* CreateResponse(grpc::CallbackServerContext* context,
                                           const v1::CreateResponseRequest* request,
                                           v1::Response* response) override;

  grpc::ServerWriteReactor<v1::ResponseEvent>* StreamResponse(
      grpc::CallbackServerContext* context, const v1::CreateResponseRequest* request) override;

 private:
  const ServiceEnv& env_;
};

}  // namespace gengate::service
