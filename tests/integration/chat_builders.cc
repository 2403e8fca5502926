#include "integration/chat_builders.h"

#include <utility>

namespace gengate::integration {

gengate::v1::CreateChatCompletionRequest UserRequest(std::string model, std::string text) {
  gengate::v1::CreateChatCompletionRequest request;
  request.set_model(std::move(model));
  gengate::v1::ChatMessage* message = request.add_messages();
  message->set_role(gengate::v1::ROLE_USER);
  message->set_content(std::move(text));
  return request;
}

nlohmann::json ContentChunk(absl::string_view content, absl::string_view id) {
  using json = nlohmann::json;
  return json{{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", 1700000000},
              {"model", "gpt-test"},
              {"choices", json::array({json{{"index", 0},
                                            {"delta", {{"content", content}}},
                                            {"finish_reason", nullptr}}})}};
}

}  // namespace gengate::integration
