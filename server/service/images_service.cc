#include "service/images_service.h"

#include <utility>

#include "service/reactors.h"
#include "translate/images.h"

namespace gengate::service {
namespace {

void CountUsage(const v1::ImagesResponse& response, TokenUsage& out) {
  if (!response.has_usage()) return;
  out.input.store(response.usage().input_tokens());
  out.output.store(response.usage().output_tokens());
}

absl::StatusOr<UpstreamBody> EditBody(const v1::EditImageRequest& request,
                                      const UpstreamSettings& settings) {
  if (absl::Status size = CheckRequestSize(request, settings); !size.ok()) return size;
  absl::StatusOr<translate::EditUpstreamBody> edit = translate::EditImageRequestToUpstream(request);
  if (!edit.ok()) return edit.status();
  UpstreamBody body;
  body.json = std::move(edit->json);
  body.form.reserve(edit->form.size());
  for (translate::MultipartField& field : edit->form) {
    // Moved, not copied: the image bytes are copied once out of the request, and curl reads
    // them in place from here.
    body.form.push_back({std::move(field.name), std::move(field.value), std::move(field.filename),
                         std::move(field.content_type)});
  }
  return body;
}

}  // namespace

grpc::ServerUnaryReactor* ImagesService::GenerateImages(grpc::CallbackServerContext* context,
                                                        const v1::GenerateImagesRequest* request,
                                                        v1::ImagesResponse* response) {
  return new UnaryUpstreamReactor<v1::ImagesResponse>(
      env_, context, "/gengate.v1.ImagesService/GenerateImages", request->model(),
      "/images/generations",
      JsonBody(*request, env_.settings,
               [&] { return translate::GenerateImagesRequestToUpstreamJson(*request); }),
      response, &translate::ImagesResponseFromUpstreamJson,
      &CountUsage);
}

grpc::ServerUnaryReactor* ImagesService::EditImage(grpc::CallbackServerContext* context,
                                                   const v1::EditImageRequest* request,
                                                   v1::ImagesResponse* response) {
  return new UnaryUpstreamReactor<v1::ImagesResponse>(
      env_, context, "/gengate.v1.ImagesService/EditImage", request->model(), "/images/edits",
      EditBody(*request, env_.settings), response, &translate::ImagesResponseFromUpstreamJson,
      &CountUsage);
}

}  // namespace gengate::service
