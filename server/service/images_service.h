// gengate.v1.ImagesService: /images/generations and /images/edits (multipart uploads).
#pragma once

#include "gengate/v1/images.grpc.pb.h"
#include "service/upstream_call.h"

namespace gengate::service {

class ImagesService final : public v1::ImagesService::CallbackService {
 public:
  // `env` must outlive the service.
  explicit ImagesService(const ServiceEnv& env) : env_(env) {}

  grpc::ServerUnaryReactor* GenerateImages(grpc::CallbackServerContext* context,
                                           const v1::GenerateImagesRequest* request,
                                           v1::ImagesResponse* response) override;

  grpc::ServerUnaryReactor* EditImage(grpc::CallbackServerContext* context,
                                      const v1::EditImageRequest* request,
                                      v1::ImagesResponse* response) override;

 private:
  const ServiceEnv& env_;
};

}  // namespace gengate::service
