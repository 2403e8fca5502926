// gengate-cli: calls a gengate server from the shell, through gengate::Client.
//
//   gengate-cli [--target=HOST:PORT] [--deadline=60s] [--json] COMMAND [flags] ARGS...
//
// Exit codes: 0 on success, the gRPC status code of a failed call (3 INVALID_ARGUMENT, 4
// DEADLINE_EXCEEDED, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE, ...), and 2 for a usage error
// (an unknown command or flag, a missing argument, an input file that cannot be read).
// `health` exits 14 when the service is not SERVING.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/flag_set.h"
#include "gengate/client.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace gengate::cli {
namespace {

constexpr int kUsageExit = 2;
constexpr char kProgram[] = "gengate-cli";

constexpr char kOverview[] =
    R"(gengate-cli calls a gengate server (the gengate.v1 gRPC API) from the shell.

usage: gengate-cli [global flags] COMMAND [flags] ARGS...

commands:
  chat PROMPT...             chat completion, streamed as it arrives (--no-stream: one answer)
  responses PROMPT...        Responses API, streamed (--no-stream: one answer)
  images generate PROMPT...  generate images and write them to --out
  images edit --image=FILE PROMPT...
                             edit images (files or URLs) and write the results to --out
  embeddings TEXT...         one embedding vector per TEXT argument
  health [SERVICE]           grpc.health.v1 Check; SERVICE e.g. gengate.v1.ChatService

global flags (before or after the command):
  --target=HOST:PORT   gengate address (default $GENGATE_TARGET, else 127.0.0.1:50051)
  --deadline=DURATION  deadline of the call, e.g. 30s or 2m (default 60s)
  --json               machine output: one JSON object per line (proto3 JSON mapping)
  --request_id=ID      x-request-id of the call
  --tls, --tls_ca=FILE, --tls_cert=FILE, --tls_key=FILE, --tls_server_name=NAME
                       TLS (and mTLS with a client certificate) instead of plaintext

`gengate-cli COMMAND --help` lists a command's flags. Exit code: 0 on success, the gRPC
status code of a failed call (e.g. 3 INVALID_ARGUMENT, 4 DEADLINE_EXCEEDED, 14 UNAVAILABLE),
2 for a usage error.

examples:
  gengate-cli chat "Hello there"
  gengate-cli --json chat --no-stream --model=gpt-4o-mini "Hello there"
  gengate-cli images generate --out=/tmp/images "a red bicycle"
  gengate-cli embeddings "first text" "second text"
)";

struct GlobalFlags {
  std::string target;
  absl::Duration deadline = absl::Seconds(60);
  bool json = false;
  std::string request_id;
  bool tls = false;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
};

void AddGlobalFlags(FlagSet& flags, GlobalFlags& global) {
  flags.AddString("target", &global.target,
                  "gengate address (default $GENGATE_TARGET, else 127.0.0.1:50051)", "HOST:PORT");
  flags.AddDuration("deadline", &global.deadline, "deadline of the call");
  flags.AddBool("json", &global.json, "one JSON object per line (proto3 JSON mapping)");
  flags.AddString("request_id", &global.request_id, "x-request-id of the call", "ID");
  flags.AddBool("tls", &global.tls, "use TLS with the default root certificates");
  flags.AddString("tls_ca", &global.tls_ca, "PEM file of the roots that verify the server",
                  "FILE");
  flags.AddString("tls_cert", &global.tls_cert, "PEM client certificate (mTLS)", "FILE");
  flags.AddString("tls_key", &global.tls_key, "PEM client private key (mTLS)", "FILE");
  flags.AddString("tls_server_name", &global.tls_server_name,
                  "name to verify the server certificate against", "NAME");
}

// A usage error: the message, a pointer to --help, exit 2.
int Usage(const std::string& command, const std::string& message) {
  std::cerr << kProgram << ": " << message << "\n";
  std::cerr << "see `" << kProgram << (command.empty() ? "" : " ") << command << " --help`\n";
  return kUsageExit;
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

void PrintJson(const google::protobuf::Message& message) {
  std::cout << ToJson(message) << "\n" << std::flush;
}

google::protobuf::Value StringValue(const std::string& text) {
  google::protobuf::Value value;
  value.set_string_value(text);
  return value;
}

// The exit code for a failed call, after saying why on stderr (and on stdout as JSON).
int Fail(const absl::Status& status, bool json) {
  const std::string reason = ErrorReason(status);
  std::cerr << kProgram << ": " << absl::StatusCodeToString(status.code()) << ": "
            << status.message();
  if (!reason.empty()) std::cerr << " (reason: " << reason << ")";
  std::cerr << "\n";
  if (json) {
    google::protobuf::Struct error;
    auto& fields = *error.mutable_fields();
    fields["code"] = StringValue(absl::StatusCodeToString(status.code()));
    fields["code_number"].set_number_value(static_cast<int>(status.code()));
    fields["message"] = StringValue(std::string(status.message()));
    if (!reason.empty()) fields["reason"] = StringValue(reason);
    google::protobuf::Struct line;
    (*line.mutable_fields())["error"].mutable_struct_value()->Swap(&error);
    PrintJson(line);
  }
  return static_cast<int>(status.code());
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

bool IsUrl(const std::string& text) {
  return absl::StartsWith(text, "http://") || absl::StartsWith(text, "https://") ||
         absl::StartsWith(text, "data:");
}

std::string MimeTypeOf(const std::string& path) {
  const std::string extension =
      absl::AsciiStrToLower(std::filesystem::path(path).extension().string());
  if (extension == ".png") return "image/png";
  if (extension == ".jpg" || extension == ".jpeg") return "image/jpeg";
  if (extension == ".webp") return "image/webp";
  if (extension == ".gif") return "image/gif";
  return "application/octet-stream";
}

// The file extension for image bytes, from their magic number.
std::string ImageExtension(const std::string& data) {
  if (absl::StartsWith(data, "\x89PNG")) return "png";
  if (absl::StartsWith(data, "\xFF\xD8")) return "jpg";
  if (absl::StartsWith(data, "RIFF") && data.size() > 12 && data.substr(8, 4) == "WEBP") {
    return "webp";
  }
  return "bin";
}

class Cli {
 public:
  int Main(const std::vector<std::string>& args);

 private:
  int Chat(const std::vector<std::string>& args);
  int Responses(const std::vector<std::string>& args);
  int Images(const std::vector<std::string>& args);
  int ImagesGenerate(const std::vector<std::string>& args);
  int ImagesEdit(const std::vector<std::string>& args);
  int Embeddings(const std::vector<std::string>& args);
  int Health(const std::vector<std::string>& args);

  // Parses a command's arguments into `flags` (with the global flags added); sets `exit` and
  // returns nullopt when the command should stop (help printed, usage error).
  std::optional<std::vector<std::string>> ParseCommand(const std::string& command,
                                                       FlagSet& flags,
                                                       const std::vector<std::string>& args,
                                                       int& exit);
  // The client for the global flags, or a usage error.
  absl::StatusOr<std::unique_ptr<Client>> MakeClient() const;
  CallOptions Call() const;
  int WriteImages(const v1::ImagesResponse& response, const std::string& out_dir);

  GlobalFlags global_;
  std::unique_ptr<Client> client_;
};

std::optional<std::vector<std::string>> Cli::ParseCommand(const std::string& command,
                                                          FlagSet& flags,
                                                          const std::vector<std::string>& args,
                                                          int& exit) {
  AddGlobalFlags(flags, global_);
  absl::StatusOr<std::vector<std::string>> positional = flags.Parse(args);
  if (!positional.ok()) {
    exit = Usage(command, std::string(positional.status().message()));
    return std::nullopt;
  }
  if (flags.help_requested()) {
    std::cout << flags.Help();
    exit = 0;
    return std::nullopt;
  }
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient();
  if (!client.ok()) {
    exit = Usage(command, std::string(client.status().message()));
    return std::nullopt;
  }
  client_ = *std::move(client);
  return *std::move(positional);
}

absl::StatusOr<std::unique_ptr<Client>> Cli::MakeClient() const {
  std::string target = global_.target;
  if (target.empty()) {
    const char* env = std::getenv("GENGATE_TARGET");
    target = env != nullptr && *env != '\0' ? env : "127.0.0.1:50051";
  }
  ClientOptions options;
  // One call per process: nothing to balance, and a retry would hide what happened.
  options.load_balancing_policy = "pick_first";
  options.retry.enabled = false;
  if (global_.tls || !global_.tls_ca.empty() || !global_.tls_cert.empty()) {
    absl::StatusOr<TlsOptions> tls =
        TlsOptions::FromFiles(global_.tls_ca, global_.tls_cert, global_.tls_key);
    if (!tls.ok()) return tls.status();
    tls->server_name_override = global_.tls_server_name;
    options.tls = *std::move(tls);
  }
  return std::make_unique<Client>(target, options);
}

CallOptions Cli::Call() const {
  CallOptions call;
  call.timeout = global_.deadline;
  call.request_id = global_.request_id;
  return call;
}

int Cli::Main(const std::vector<std::string>& args) {
  FlagSet globals("gengate-cli [global flags] COMMAND [flags] ARGS...", "");
  AddGlobalFlags(globals, global_);
  absl::StatusOr<std::vector<std::string>> rest = globals.Parse(args, /*stop_at_positional=*/true);
  if (!rest.ok()) return Usage("", std::string(rest.status().message()));
  if (globals.help_requested() || (!rest->empty() && (*rest)[0] == "help")) {
    std::cout << kOverview;
    return 0;
  }
  if (rest->empty()) {
    std::cerr << kOverview;
    return kUsageExit;
  }
  const std::string command = (*rest)[0];
  const std::vector<std::string> command_args(rest->begin() + 1, rest->end());
  if (command == "chat") return Chat(command_args);
  if (command == "responses") return Responses(command_args);
  if (command == "images") return Images(command_args);
  if (command == "embeddings") return Embeddings(command_args);
  if (command == "health") return Health(command_args);
  return Usage("", absl::StrCat("unknown command \"", command, "\""));
}

int Cli::Chat(const std::vector<std::string>& args) {
  std::string model = "gpt-4o-mini";
  std::string system;
  std::vector<std::string> images;
  bool no_stream = false;
  std::optional<double> temperature;
  std::optional<int> max_tokens;
  FlagSet flags("gengate-cli chat [flags] PROMPT...",
                "Sends PROMPT (the arguments joined by spaces) as a user message to\n"
                "gengate.v1.ChatService and prints the answer as it streams in. --json prints\n"
                "each ChatCompletionChunk (or, with --no-stream, the ChatCompletion).\n\n"
                "  gengate-cli chat \"Hello there\"\n"
                "  gengate-cli chat --image=photo.png --image=https://example.com/b.jpg "
                "\"What differs?\"");
  flags.AddString("model", &model, "model", "MODEL");
  flags.AddString("system", &system, "system prompt, sent before the user message");
  flags.AddStrings("image", &images, "image part: a file path (sent inline) or an http(s) URL",
                   "FILE_OR_URL");
  flags.AddBool("no-stream", &no_stream, "one unary call instead of a stream");
  flags.AddDouble("temperature", &temperature, "sampling temperature, 0 to 2");
  flags.AddInt("max_tokens", &max_tokens, "most tokens to generate");
  int exit = 0;
  std::optional<std::vector<std::string>> words = ParseCommand("chat", flags, args, exit);
  if (!words.has_value()) return exit;
  const std::string prompt = absl::StrJoin(*words, " ");
  if (prompt.empty()) return Usage("chat", "give a PROMPT");

  v1::CreateChatCompletionRequest request;
  request.set_model(model);
  if (temperature.has_value()) request.set_temperature(*temperature);
  if (max_tokens.has_value()) request.set_max_tokens(*max_tokens);
  if (!system.empty()) {
    v1::ChatMessage* message = request.add_messages();
    message->set_role(v1::ROLE_SYSTEM);
    message->set_content(system);
  }
  v1::ChatMessage* user = request.add_messages();
  user->set_role(v1::ROLE_USER);
  if (images.empty()) {
    user->set_content(prompt);
  } else {
    user->add_parts()->set_text(prompt);
    for (const std::string& image : images) {
      std::string url = image;
      if (!IsUrl(image)) {
        absl::StatusOr<std::string> data = ReadFile(image);
        if (!data.ok()) return Usage("chat", std::string(data.status().message()));
        url = absl::StrCat("data:", MimeTypeOf(image), ";base64,", absl::Base64Escape(*data));
      }
      user->add_parts()->mutable_image_url()->set_url(url);
    }
  }

  if (no_stream) {
    absl::StatusOr<v1::ChatCompletion> completion =
        client_->CreateChatCompletion(request, Call());
    if (!completion.ok()) return Fail(completion.status(), global_.json);
    if (global_.json) {
      PrintJson(*completion);
    } else if (completion->choices_size() > 0) {
      std::cout << completion->choices(0).message().content() << "\n";
    }
    return 0;
  }
  bool printed = false;
  absl::Status status = client_->StreamChatCompletion(
      request,
      [&](const v1::ChatCompletionChunk& chunk) {
        if (global_.json) {
          PrintJson(chunk);
          return true;
        }
        for (const v1::ChatCompletionChunkChoice& choice : chunk.choices()) {
          if (choice.index() == 0 && choice.delta().has_content()) {
            std::cout << choice.delta().content() << std::flush;
            printed = true;
          }
        }
        return true;
      },
      Call());
  if (printed) std::cout << "\n";
  return status.ok() ? 0 : Fail(status, global_.json);
}

int Cli::Responses(const std::vector<std::string>& args) {
  std::string model = "gpt-4o-mini";
  std::string instructions;
  bool no_stream = false;
  std::optional<double> temperature;
  std::optional<int> max_output_tokens;
  FlagSet flags("gengate-cli responses [flags] PROMPT...",
                "Sends PROMPT as the input text to gengate.v1.ResponsesService and prints the\n"
                "output text as it streams in. --json prints each ResponseEvent (or, with\n"
                "--no-stream, the Response).\n\n"
                "  gengate-cli responses --instructions=\"Be brief\" \"Hello there\"");
  flags.AddString("model", &model, "model", "MODEL");
  flags.AddString("instructions", &instructions, "system instructions");
  flags.AddBool("no-stream", &no_stream, "one unary call instead of a stream");
  flags.AddDouble("temperature", &temperature, "sampling temperature, 0 to 2");
  flags.AddInt("max_output_tokens", &max_output_tokens, "most tokens to generate");
  int exit = 0;
  std::optional<std::vector<std::string>> words = ParseCommand("responses", flags, args, exit);
  if (!words.has_value()) return exit;
  const std::string prompt = absl::StrJoin(*words, " ");
  if (prompt.empty()) return Usage("responses", "give a PROMPT");

  v1::CreateResponseRequest request;
  request.set_model(model);
  request.set_input_text(prompt);
  if (!instructions.empty()) request.set_instructions(instructions);
  if (temperature.has_value()) request.set_temperature(*temperature);
  if (max_output_tokens.has_value()) request.set_max_output_tokens(*max_output_tokens);

  if (no_stream) {
    absl::StatusOr<v1::Response> response = client_->CreateResponse(request, Call());
    if (!response.ok()) return Fail(response.status(), global_.json);
    if (global_.json) {
      PrintJson(*response);
    } else {
      std::cout << response->output_text() << "\n";
    }
    return 0;
  }
  bool printed = false;
  absl::Status status = client_->StreamResponse(
      request,
      [&](const v1::ResponseEvent& event) {
        if (global_.json) {
          PrintJson(event);
        } else if (event.type() == "response.output_text.delta") {
          std::cout << event.delta() << std::flush;
          printed = true;
        }
        return true;
      },
      Call());
  if (printed) std::cout << "\n";
  return status.ok() ? 0 : Fail(status, global_.json);
}

int Cli::Images(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "generate") {
    return ImagesGenerate(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (!args.empty() && args[0] == "edit") {
    return ImagesEdit(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::cout << "usage: gengate-cli images generate|edit [flags] PROMPT...\n"
                 "see `gengate-cli images generate --help` and `gengate-cli images edit "
                 "--help`\n";
    return 0;
  }
  return Usage("images", "give a subcommand: images generate or images edit");
}

// Writes each image of `response` to `out_dir`/image-<index>.<ext> and prints the paths (or,
// with --json, one object with the response, image bytes left out, and the files).
int Cli::WriteImages(const v1::ImagesResponse& response, const std::string& out_dir) {
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) return Usage("images", absl::StrCat("cannot create --out=", out_dir, ": ", error.message()));
  v1::ImagesResponse summary = response;
  std::vector<std::string> files;
  for (int i = 0; i < response.data_size(); ++i) {
    const std::string& data = response.data(i).image_data();
    summary.mutable_data(i)->clear_image_data();
    if (data.empty()) {
      if (!global_.json) std::cout << response.data(i).url() << "\n";
      continue;
    }
    const std::string path =
        (std::filesystem::path(out_dir) / absl::StrCat("image-", i, ".", ImageExtension(data)))
            .string();
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file.write(data.data(), static_cast<std::streamsize>(data.size()));
    file.close();
    if (!file) return Fail(absl::InternalError(absl::StrCat("cannot write ", path)), global_.json);
    files.push_back(path);
    if (!global_.json) std::cout << path << "\n";
  }
  if (global_.json) {
    google::protobuf::Struct line;
    auto& fields = *line.mutable_fields();
    (void)google::protobuf::util::JsonStringToMessage(ToJson(summary), &fields["response"]);
    for (const std::string& file : files) {
      *fields["files"].mutable_list_value()->add_values() = StringValue(file);
    }
    if (files.empty()) fields["files"].mutable_list_value();
    PrintJson(line);
  }
  return 0;
}

int Cli::ImagesGenerate(const std::vector<std::string>& args) {
  std::string model = "gpt-image-1";
  std::optional<int> n;
  std::string size;
  std::string quality;
  std::string out = ".";
  FlagSet flags("gengate-cli images generate [flags] PROMPT...",
                "Asks gengate.v1.ImagesService/GenerateImages for images of PROMPT and writes\n"
                "them to --out as image-0.png, image-1.png, ... printing each path.\n\n"
                "  gengate-cli images generate --n=2 --out=/tmp/images \"a red bicycle\"");
  flags.AddString("model", &model, "model", "MODEL");
  flags.AddInt("n", &n, "how many images");
  flags.AddString("size", &size, "size, e.g. 1024x1024", "WxH");
  flags.AddString("quality", &quality, "quality, e.g. low, medium, high");
  flags.AddString("out", &out, "directory the images are written to (made if missing)", "DIR");
  int exit = 0;
  std::optional<std::vector<std::string>> words =
      ParseCommand("images generate", flags, args, exit);
  if (!words.has_value()) return exit;
  const std::string prompt = absl::StrJoin(*words, " ");
  if (prompt.empty()) return Usage("images generate", "give a PROMPT");

  v1::GenerateImagesRequest request;
  request.set_model(model);
  request.set_prompt(prompt);
  request.set_response_format(v1::IMAGE_RESPONSE_FORMAT_IMAGE_DATA);
  if (n.has_value()) request.set_n(*n);
  if (!size.empty()) request.set_size(size);
  if (!quality.empty()) request.set_quality(quality);
  absl::StatusOr<v1::ImagesResponse> response = client_->GenerateImages(request, Call());
  if (!response.ok()) return Fail(response.status(), global_.json);
  return WriteImages(*response, out);
}

int Cli::ImagesEdit(const std::vector<std::string>& args) {
  std::string model = "gpt-image-1";
  std::vector<std::string> images;
  std::string mask;
  std::optional<int> n;
  std::string size;
  std::string out = ".";
  FlagSet flags("gengate-cli images edit --image=FILE_OR_URL... [flags] PROMPT...",
                "Asks gengate.v1.ImagesService/EditImage to edit the --image inputs (files are\n"
                "uploaded, URLs passed on) as PROMPT says, with an optional --mask file, and\n"
                "writes the results to --out as image-0.png, ... printing each path.\n\n"
                "  gengate-cli images edit --image=cat.png --mask=mask.png --out=/tmp/edits "
                "\"add a hat\"");
  flags.AddStrings("image", &images, "input image: a file path or an http(s) URL",
                   "FILE_OR_URL");
  flags.AddString("mask", &mask, "PNG mask file; transparent areas are edited", "FILE");
  flags.AddString("model", &model, "model", "MODEL");
  flags.AddInt("n", &n, "how many images");
  flags.AddString("size", &size, "size, e.g. 1024x1024", "WxH");
  flags.AddString("out", &out, "directory the images are written to (made if missing)", "DIR");
  int exit = 0;
  std::optional<std::vector<std::string>> words = ParseCommand("images edit", flags, args, exit);
  if (!words.has_value()) return exit;
  const std::string prompt = absl::StrJoin(*words, " ");
  if (prompt.empty()) return Usage("images edit", "give a PROMPT");
  if (images.empty()) return Usage("images edit", "give at least one --image");

  v1::EditImageRequest request;
  request.set_model(model);
  request.set_prompt(prompt);
  request.set_response_format(v1::IMAGE_RESPONSE_FORMAT_IMAGE_DATA);
  if (n.has_value()) request.set_n(*n);
  if (!size.empty()) request.set_size(size);
  auto read_image = [](const std::string& source, v1::InputImage& image) -> absl::Status {
    if (IsUrl(source)) {
      image.set_url(source);
      return absl::OkStatus();
    }
    absl::StatusOr<std::string> data = ReadFile(source);
    if (!data.ok()) return data.status();
    image.set_data(*std::move(data));
    image.set_filename(std::filesystem::path(source).filename().string());
    image.set_mime_type(MimeTypeOf(source));
    return absl::OkStatus();
  };
  for (const std::string& source : images) {
    if (absl::Status status = read_image(source, *request.add_images()); !status.ok()) {
      return Usage("images edit", std::string(status.message()));
    }
  }
  if (!mask.empty()) {
    if (absl::Status status = read_image(mask, *request.mutable_mask()); !status.ok()) {
      return Usage("images edit", std::string(status.message()));
    }
  }
  absl::StatusOr<v1::ImagesResponse> response = client_->EditImage(request, Call());
  if (!response.ok()) return Fail(response.status(), global_.json);
  return WriteImages(*response, out);
}

int Cli::Embeddings(const std::vector<std::string>& args) {
  std::string model = "text-embedding-3-small";
  std::optional<int> dimensions;
  std::string out;
  FlagSet flags("gengate-cli embeddings [flags] TEXT...",
                "Asks gengate.v1.EmbeddingsService for one vector per TEXT argument and prints\n"
                "one line per vector, its numbers separated by spaces, in input order (or\n"
                "writes them to --out). --json prints the CreateEmbeddingsResponse.\n\n"
                "  gengate-cli embeddings \"first text\" \"second text\"");
  flags.AddString("model", &model, "model", "MODEL");
  flags.AddInt("dimensions", &dimensions, "length of each vector (models that support it)");
  flags.AddString("out", &out, "file the vectors are written to instead of stdout", "FILE");
  int exit = 0;
  std::optional<std::vector<std::string>> texts = ParseCommand("embeddings", flags, args, exit);
  if (!texts.has_value()) return exit;
  if (texts->empty()) return Usage("embeddings", "give at least one TEXT");

  v1::CreateEmbeddingsRequest request;
  request.set_model(model);
  for (const std::string& text : *texts) request.add_input(text);
  if (dimensions.has_value()) request.set_dimensions(*dimensions);
  absl::StatusOr<v1::CreateEmbeddingsResponse> response =
      client_->CreateEmbeddings(request, Call());
  if (!response.ok()) return Fail(response.status(), global_.json);
  if (global_.json && out.empty()) {
    PrintJson(*response);
    return 0;
  }
  std::string lines;
  for (const v1::Embedding& embedding : response->data()) {
    absl::StrAppend(&lines, absl::StrJoin(embedding.embedding(), " ",
                                          [](std::string* text, float value) {
                                            absl::StrAppend(text, absl::StrFormat("%.9g", value));
                                          }),
                    "\n");
  }
  if (out.empty()) {
    std::cout << lines;
    return 0;
  }
  std::ofstream file(out, std::ios::trunc);
  file << lines;
  file.close();
  if (!file) return Fail(absl::InternalError(absl::StrCat("cannot write ", out)), global_.json);
  if (global_.json) {
    google::protobuf::Struct line;
    (*line.mutable_fields())["file"] = StringValue(out);
    (*line.mutable_fields())["vectors"].set_number_value(response->data_size());
    PrintJson(line);
  } else {
    std::cout << "wrote " << response->data_size() << " vectors to " << out << "\n";
  }
  return 0;
}

int Cli::Health(const std::vector<std::string>& args) {
  FlagSet flags("gengate-cli health [flags] [SERVICE]",
                "Asks grpc.health.v1.Health/Check whether gengate (or one SERVICE, e.g.\n"
                "gengate.v1.ChatService) is serving, and prints SERVING or NOT_SERVING. Exits\n"
                "0 when serving, 14 (UNAVAILABLE) when not, 5 (NOT_FOUND) for an unknown\n"
                "service.\n\n"
                "  gengate-cli health gengate.v1.ChatService");
  int exit = 0;
  std::optional<std::vector<std::string>> services = ParseCommand("health", flags, args, exit);
  if (!services.has_value()) return exit;
  if (services->size() > 1) return Usage("health", "give at most one SERVICE");
  const std::string service = services->empty() ? "" : (*services)[0];
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus> serving =
      client_->CheckHealth(service, Call());
  if (!serving.ok()) return Fail(serving.status(), global_.json);
  const std::string name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(*serving);
  if (global_.json) {
    google::protobuf::Struct line;
    (*line.mutable_fields())["service"] = StringValue(service);
    (*line.mutable_fields())["status"] = StringValue(name);
    PrintJson(line);
  } else {
    std::cout << name << "\n";
  }
  return *serving == grpc::health::v1::HealthCheckResponse::SERVING
             ? 0
             : static_cast<int>(absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace gengate::cli

int main(int argc, char** argv) {
  gengate::cli::Cli cli;
  return cli.Main(std::vector<std::string>(argv + 1, argv + argc));
}
