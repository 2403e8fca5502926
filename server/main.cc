// gengate: wiring only. Reads the config, starts the HTTP event loop and the gRPC server, and
// drains on SIGTERM / SIGINT.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "config/config.h"
#include "fake/fake_upstream.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "http/curl_client.h"
#include "observability/log.h"
#include "service/chat_service.h"
#include "service/upstream_call.h"

namespace {

using gengate::observability::Log;
using gengate::observability::LogLevel;

// The address with the port gRPC actually bound (for --listen=...:0).
std::string BoundAddress(const std::string& listen, int port) {
  const std::size_t colon = listen.rfind(':');
  return absl::StrCat(colon == std::string::npos ? listen : listen.substr(0, colon), ":", port);
}

int Run(int argc, char** argv) {
  // Block the shutdown signals before any thread starts, so only sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<gengate::config::Config> config = gengate::config::LoadConfig(argc, argv);
  if (!config.ok()) {
    std::fprintf(stderr, "gengate: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  gengate::observability::SetLogFormat(config->log_format);

  std::unique_ptr<gengate::fake::FakeUpstream> fake;
  if (config->use_fake_upstream) {
    absl::StatusOr<std::unique_ptr<gengate::fake::FakeUpstream>> started =
        gengate::fake::FakeUpstream::Start("127.0.0.1", 0);
    if (!started.ok()) {
      Log(LogLevel::kError, "cannot start the fake upstream",
          {{"error", std::string(started.status().message())}});
      return 1;
    }
    fake = *std::move(started);
    config->upstream_url = fake->base_url();
  }

  gengate::http::CurlClientOptions http_options;
  http_options.max_host_connections = config->max_upstream_connections;
  absl::StatusOr<std::unique_ptr<gengate::http::Client>> client =
      gengate::http::NewCurlClient(http_options);
  if (!client.ok()) {
    Log(LogLevel::kError, "cannot start the HTTP client",
        {{"error", std::string(client.status().message())}});
    return 1;
  }

  const gengate::service::ServiceEnv env{**client,
                                         gengate::service::UpstreamSettings::FromConfig(*config)};
  gengate::service::ChatService chat(env);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config->listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config->max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config->max_message_bytes));
  builder.RegisterService(&chat);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    Log(LogLevel::kError, "cannot listen", {{"listen", config->listen}});
    return 1;
  }
  Log(LogLevel::kInfo, "serving",
      {{"listen", BoundAddress(config->listen, port)},
       {"upstream", config->use_fake_upstream ? std::string("fake") : config->upstream_url}});

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  Log(LogLevel::kInfo, "draining",
      {{"signal", signal_number},
       {"drain_timeout_ms", absl::ToInt64Milliseconds(config->drain_timeout)}});
  server->GetHealthCheckService()->SetServingStatus(false);
  server->Shutdown(absl::ToChronoTime(absl::Now() + config->drain_timeout));
  server->Wait();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
