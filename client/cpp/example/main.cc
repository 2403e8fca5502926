// Asks gengate for one chat completion and then streams another, printing the answers.
//
//   GENGATE_TARGET=127.0.0.1:50051 build/client/gengate-client-example Hello there
#include <cstdlib>
#include <iostream>
#include <string>

#include "absl/strings/str_join.h"
#include "gengate/client.h"

int main(int argc, char** argv) {
  const char* env = std::getenv("GENGATE_TARGET");
  const std::string target = env != nullptr ? env : "127.0.0.1:50051";
  std::string prompt = absl::StrJoin(argv + 1, argv + argc, " ");
  if (prompt.empty()) prompt = "Hello there";

  gengate::v1::CreateChatCompletionRequest request;
  request.set_model("gpt-4o-mini");
  gengate::v1::ChatMessage* message = request.add_messages();
  message->set_role(gengate::v1::ROLE_USER);
  message->set_content(prompt);

  // Default options: round_robin, keepalive, 64 MiB messages, retries of UNAVAILABLE.
  gengate::Client client(target);

  // Unary: the whole answer at once; CallInfo receives the request id gengate used.
  gengate::CallInfo info;
  gengate::CallOptions options;
  options.timeout = absl::Seconds(30);
  options.request_id = "example-cpp";
  options.info = &info;
  absl::StatusOr<gengate::v1::ChatCompletion> completion =
      client.CreateChatCompletion(request, options);
  if (!completion.ok()) {
    std::cerr << "CreateChatCompletion: " << completion.status()
              << " (reason: " << gengate::ErrorReason(completion.status()) << ")\n";
    return static_cast<int>(completion.status().code());
  }
  std::cout << "unary: " << completion->choices(0).message().content() << "\n";
  std::cout << "request id: " << info.request_id << "\n";

  // Streaming: the callback runs once per chunk; returning false would stop the stream.
  std::cout << "stream: ";
  absl::Status status = client.StreamChatCompletion(
      request,
      [](const gengate::v1::ChatCompletionChunk& chunk) {
        for (const auto& choice : chunk.choices()) std::cout << choice.delta().content();
        std::cout << std::flush;
        if (chunk.has_usage()) {
          std::cout << "\nusage: " << chunk.usage().total_tokens() << " tokens\n";
        }
        return true;
      },
      options);
  if (!status.ok()) {
    std::cerr << "StreamChatCompletion: " << status << "\n";
    return static_cast<int>(status.code());
  }
  return 0;
}
