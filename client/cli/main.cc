// gengate-cli: calls a gengate server from the shell. The exit code is the gRPC status code.
//
//   gengate-cli [--target=HOST:PORT] [--deadline=60s] [--json] chat [--model=M] [--system=S]
//               [--no-stream] PROMPT
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gengate/v1/chat.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

ABSL_FLAG(std::string, target, "", "gengate address (default: $GENGATE_TARGET or 127.0.0.1:50051)");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(60), "deadline of the call");
ABSL_FLAG(bool, json, false, "print one JSON object per message (proto3 JSON mapping)");
ABSL_FLAG(std::string, model, "gpt-4o-mini", "model");
ABSL_FLAG(std::string, system, "", "system prompt (chat)");
ABSL_FLAG(bool, no_stream, false, "make a unary call instead of streaming");

namespace {

using gengate::v1::ChatService;

std::string Target() {
  std::string target = absl::GetFlag(FLAGS_target);
  if (target.empty()) {
    const char* env = std::getenv("GENGATE_TARGET");
    target = env != nullptr && *env != '\0' ? env : "127.0.0.1:50051";
  }
  return target;
}

void PrintJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  std::cout << json << "\n";
}

int Fail(const grpc::Status& status) {
  std::cerr << "gengate-cli: " << status.error_code() << " " << status.error_message() << "\n";
  return status.error_code();
}

int Chat(ChatService::Stub& stub, const std::string& prompt) {
  gengate::v1::CreateChatCompletionRequest request;
  request.set_model(absl::GetFlag(FLAGS_model));
  if (!absl::GetFlag(FLAGS_system).empty()) {
    auto* system = request.add_messages();
    system->set_role(gengate::v1::ROLE_SYSTEM);
    system->set_content(absl::GetFlag(FLAGS_system));
  }
  auto* user = request.add_messages();
  user->set_role(gengate::v1::ROLE_USER);
  user->set_content(prompt);

  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_deadline)));
  const bool json = absl::GetFlag(FLAGS_json);
  if (absl::GetFlag(FLAGS_no_stream)) {
    gengate::v1::ChatCompletion completion;
    grpc::Status status = stub.CreateChatCompletion(&context, request, &completion);
    if (!status.ok()) return Fail(status);
    if (json) {
      PrintJson(completion);
    } else if (completion.choices_size() > 0) {
      std::cout << completion.choices(0).message().content() << "\n";
    }
    return 0;
  }
  auto reader = stub.StreamChatCompletion(&context, request);
  gengate::v1::ChatCompletionChunk chunk;
  while (reader->Read(&chunk)) {
    if (json) {
      PrintJson(chunk);
      continue;
    }
    for (const auto& choice : chunk.choices()) {
      if (choice.index() == 0 && choice.delta().has_content()) {
        std::cout << choice.delta().content() << std::flush;
      }
    }
  }
  grpc::Status status = reader->Finish();
  if (!json) std::cout << "\n";
  return status.ok() ? 0 : Fail(status);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "calls gengate.\n"
      "  gengate-cli [--target=HOST:PORT] [--deadline=60s] [--json] chat [--model=M] "
      "[--system=S] [--no-stream] PROMPT");
  // Accept --no-stream style names for the flags (abseil names use underscores).
  std::vector<std::string> storage(argv, argv + argc);
  std::vector<char*> normalized;
  for (std::string& arg : storage) {
    if (arg.rfind("--", 0) == 0) {
      const std::size_t end = std::min(arg.find('='), arg.size());
      std::replace(arg.begin() + 2, arg.begin() + static_cast<std::ptrdiff_t>(end), '-', '_');
    }
    normalized.push_back(arg.data());
  }
  std::vector<char*> args =
      absl::ParseCommandLine(static_cast<int>(normalized.size()), normalized.data());
  if (args.size() < 2) {
    std::cerr << "usage: gengate-cli [flags] chat PROMPT   (see --help)\n";
    return 2;
  }
  const std::string command = args[1];
  const std::string text = absl::StrJoin(args.begin() + 2, args.end(), " ");
  auto channel = grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials());
  if (command == "chat") {
    if (text.empty()) {
      std::cerr << "gengate-cli chat: give a PROMPT\n";
      return 2;
    }
    auto stub = ChatService::NewStub(channel);
    return Chat(*stub, text);
  }
  std::cerr << "gengate-cli: unknown command \"" << command << "\" (see --help)\n";
  return 2;
}
