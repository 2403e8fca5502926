// Chat requests and upstream stream chunks that the chat and the TLS upstream integration
// tests both build.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "gengate/v1/chat.pb.h"
#include "nlohmann/json.hpp"

namespace gengate::integration {

// One user message to `model`.
gengate::v1::CreateChatCompletionRequest UserRequest(std::string model, std::string text);

// An upstream chat.completion.chunk carrying `content` as choice 0's delta.
nlohmann::json ContentChunk(absl::string_view content, absl::string_view id = "chatcmpl-test");

}  // namespace gengate::integration
