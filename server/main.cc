// gengate: wiring only. Reads the config, starts the HTTP event loop, the gRPC server and the
// admin listener, and drains on SIGTERM / SIGINT.
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "config/config.h"
#include "fake/fake_upstream.h"
#include "gengate/v1/chat.grpc.pb.h"
#include "gengate/v1/embeddings.grpc.pb.h"
#include "gengate/v1/images.grpc.pb.h"
#include "gengate/v1/responses.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "grpc/support/log.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/impl/server_builder_plugin.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "http/client.h"
#include "http/curl_client.h"
#include "observability/admin_server.h"
#include "observability/gateway_metrics.h"
#include "observability/log.h"
#include "observability/serving_state.h"
#include "service/chat_service.h"
#include "service/embeddings_service.h"
#include "service/gateway_client.h"
#include "service/images_service.h"
#include "service/responses_service.h"
#include "service/upstream_call.h"

namespace {

using gengate::observability::GatewayMetrics;
using gengate::observability::Log;
using gengate::observability::LogLevel;
using gengate::observability::ServingPhase;
using gengate::observability::ServingState;

// After the drain, calls cut off at its end get this long to send their status before gRPC
// cancels whatever is left.
constexpr absl::Duration kShutdownGrace = absl::Seconds(2);
// Clients may ping idle connections this often without being told "too many pings" (gRPC's
// default is 5 minutes, stricter than many client keepalive settings).
constexpr absl::Duration kMinClientPingInterval = absl::Seconds(10);

// gRPC's own log lines (errors only, unless GRPC_VERBOSITY asks for more) go through our
// logger, so the process writes one format. While the listener is being built they are kept
// instead, to explain a failure in the one-line exit message.
ABSL_CONST_INIT absl::Mutex g_grpc_log_mu(absl::kConstInit);
std::vector<std::string>* g_kept_grpc_errors ABSL_GUARDED_BY(g_grpc_log_mu) = nullptr;

void LogFromGrpc(gpr_log_func_args* args) {
  const LogLevel level = args->severity == GPR_LOG_SEVERITY_ERROR  ? LogLevel::kError
                         : args->severity == GPR_LOG_SEVERITY_INFO ? LogLevel::kInfo
                                                                   : LogLevel::kDebug;
  {
    absl::MutexLock lock(&g_grpc_log_mu);
    if (g_kept_grpc_errors != nullptr && level == LogLevel::kError) {
      g_kept_grpc_errors->push_back(args->message);
      return;
    }
  }
  Log(level, args->message,
      {{"source", "grpc"},
       {"file", args->file == nullptr ? "" : args->file},
       {"line", args->line}});
}

// Builds the server with gRPC's errors kept in `errors` rather than logged.
std::unique_ptr<grpc::Server> BuildAndStartKeepingErrors(grpc::ServerBuilder& builder,
                                                         std::vector<std::string>& errors) {
  {
    absl::MutexLock lock(&g_grpc_log_mu);
    g_kept_grpc_errors = &errors;
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  absl::MutexLock lock(&g_grpc_log_mu);
  g_kept_grpc_errors = nullptr;
  return server;
}

std::vector<std::string> ServiceNames() {
  return {gengate::v1::ChatService::service_full_name(),
          gengate::v1::ResponsesService::service_full_name(),
          gengate::v1::ImagesService::service_full_name(),
          gengate::v1::EmbeddingsService::service_full_name()};
}

// Every RPC of the four services, from their descriptors, so the metrics know them up front.
std::vector<gengate::observability::RpcMethod> ServedMethods() {
  std::vector<gengate::observability::RpcMethod> methods;
  for (const std::string& name : ServiceNames()) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* method = service->method(i);
      methods.push_back({absl::StrCat("/", service->full_name(), "/", method->name()),
                         method->server_streaming()});
    }
  }
  return methods;
}

// The address with the port gRPC actually bound (for --listen=...:0).
std::string BoundAddress(const std::string& listen, int port) {
  const std::size_t colon = listen.rfind(':');
  return absl::StrCat(colon == std::string::npos ? listen : listen.substr(0, colon), ":", port);
}

int ClampedMilliseconds(absl::Duration duration) {
  if (duration >= absl::Milliseconds(INT_MAX)) return INT_MAX;  // gRPC reads INT_MAX as never
  return static_cast<int>(absl::ToInt64Milliseconds(duration));
}

// Linking grpc++_reflection registers its plugin with every ServerBuilder at static
// initialization, so --reflection=false has to take it out again.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    auto is_reflection = [](const std::unique_ptr<grpc::ServerBuilderPlugin>& plugin) {
      return dynamic_cast<grpc::reflection::ProtoServerReflectionPlugin*>(plugin.get()) !=
             nullptr;
    };
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(), is_reflection),
                   plugins->end());
  }
};

std::shared_ptr<grpc::ServerCredentials> ListenerCredentials(
    const gengate::config::Config& config) {
  if (!config.tls()) return grpc::InsecureServerCredentials();
  // With a client CA, a client without a certificate it signed is refused in the handshake.
  const grpc_ssl_client_certificate_request_type client_certificates =
      config.tls_client_ca_pem.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  grpc::SslServerCredentialsOptions options(client_certificates);
  options.pem_root_certs = config.tls_client_ca_pem;
  options.pem_key_cert_pairs.push_back({config.tls_key_pem, config.tls_cert_pem});
  return grpc::SslServerCredentials(options);
}

std::string_view TlsMode(const gengate::config::Config& config) {
  if (!config.tls()) return "off";
  return config.tls_client_ca_pem.empty() ? "tls" : "mtls";
}

// What an https upstream's certificate is verified against, for the serving line.
std::string UpstreamCa(const gengate::config::Config& config) {
  if (!absl::StartsWith(config.upstream_url, "https://")) return "none";
  return config.upstream_ca_file.empty() ? "system" : config.upstream_ca_file;
}

void SetHealth(grpc::Server& server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus("", serving);
  for (const std::string& name : ServiceNames()) health->SetServingStatus(name, serving);
}

// The upstream connection pool, where calls wait when it is full: each connection carries one
// call, so requests in flight above the maximum are waiting for one.
void AddUpstreamMetrics(gengate::observability::MetricsRegistry& registry,
                        const gengate::service::GatewayClient& upstream, int max_connections) {
  registry.AddCallbackGauge(
      "gengate_upstream_connections",
      "Upstream connections open, carrying a request or idle in the pool.",
      [&upstream] { return static_cast<double>(upstream.Connections().open); });
  registry.AddCallbackCounter(
      "gengate_upstream_connections_opened_total",
      "Upstream connections opened (sockets, so failed connection attempts count too).",
      [&upstream] { return static_cast<double>(upstream.Connections().opened); });
  registry.AddCallbackGauge("gengate_upstream_connections_max",
                            "Upstream connections allowed per host (--max_upstream_connections).",
                            [max_connections] { return static_cast<double>(max_connections); });
  registry.AddCallbackGauge(
      "gengate_upstream_requests_in_flight",
      "Upstream requests started and not yet complete, each on a connection or waiting for one.",
      [&upstream] { return static_cast<double>(upstream.running()); });
}

// Puts the calling thread, and so every thread started after it, under SCHED_BATCH (see
// Config::sched_batch). Measured on two cores at 64 concurrent calls: 1.9 context switches per
// unary call fell to 0.4 and streams of 20 chunks from 10.5 to 0.4, for about a quarter more
// calls per second (README, Benchmarks). Returns the policy the threads run under, for the log.
std::string ApplySchedulingPolicy(bool batch) {
  if (!batch) return "other";
  const sched_param param{};
  if (sched_setscheduler(0, SCHED_BATCH, &param) != 0) {
    Log(LogLevel::kWarning, "cannot run the threads as SCHED_BATCH; they stay SCHED_OTHER",
        {{"error", std::string(std::strerror(errno))}});
    return "other";
  }
  return "batch";
}

int Run(int argc, char** argv) {
  // Debian's abseil is built with deadlock detection on, which records a stack trace and
  // updates a global lock graph on every contended Mutex acquisition: a cost per call that
  // buys nothing in production (the sanitizer and test builds keep it).
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
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
  gengate::observability::SetLogPayloads(config->log_payloads);
  gpr_set_log_function(&LogFromGrpc);
  // Before any other thread starts: they inherit it.
  const std::string scheduling = ApplySchedulingPolicy(config->sched_batch);

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

  ServingState state;
  GatewayMetrics metrics(ServedMethods());

  gengate::http::CurlClientOptions http_options;
  http_options.max_host_connections = config->max_upstream_connections;
  http_options.ca_file = config->upstream_ca_file;
  absl::StatusOr<std::unique_ptr<gengate::http::Client>> curl =
      gengate::http::NewCurlClient(http_options);
  if (!curl.ok()) {
    Log(LogLevel::kError, "cannot start the HTTP client",
        {{"error", std::string(curl.status().message())}});
    return 1;
  }
  gengate::service::GatewayClient upstream(*std::move(curl), metrics, state, config->upstream_url);
  // The admin server, which renders these, stops before `upstream` goes.
  AddUpstreamMetrics(metrics.registry(), upstream, config->max_upstream_connections);

  const gengate::service::ServiceEnv env{
      upstream, gengate::service::UpstreamSettings::FromConfig(*config), &metrics};
  gengate::service::ChatService chat(env);
  gengate::service::ResponsesService responses(env);
  gengate::service::ImagesService images(env);
  gengate::service::EmbeddingsService embeddings(env);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!config->reflection) builder.SetOption(std::make_unique<WithoutReflection>());
  int port = 0;
  builder.AddListeningPort(config->listen, ListenerCredentials(*config), &port);
  // gRPC admits requests up to twice the limit so that the services can refuse the ones over
  // it with INVALID_ARGUMENT naming the limit, instead of a bare RESOURCE_EXHAUSTED.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<std::int64_t>(2 * config->max_message_bytes, INT32_MAX)));
  builder.SetMaxSendMessageSize(static_cast<int>(config->max_message_bytes));
  // Keepalive: ping connections idle for --keepalive_time, also those without calls, and drop
  // the ones that do not answer, so that the streams of a client that vanished (a NAT or load
  // balancer timeout) end. Clients may ping every 10 s without a "too many pings" GOAWAY.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             ClampedMilliseconds(config->keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             ClampedMilliseconds(config->keepalive_timeout));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             ClampedMilliseconds(kMinClientPingInterval));
  // gRPC clients keep one connection for hours, so pods added by a scale-up would get no
  // traffic from them: a GOAWAY at --max_connection_age (gRPC adds +-10% jitter) makes them
  // reconnect through the load balancer, and calls running then get the grace to finish.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             ClampedMilliseconds(config->max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             ClampedMilliseconds(config->max_connection_age_grace));
  builder.RegisterService(&chat);
  builder.RegisterService(&responses);
  builder.RegisterService(&images);
  builder.RegisterService(&embeddings);
  std::vector<std::string> grpc_errors;
  std::unique_ptr<grpc::Server> server = BuildAndStartKeepingErrors(builder, grpc_errors);
  if (server == nullptr || port == 0) {
    const std::string reason = grpc_errors.empty() ? "" : grpc_errors.front();
    const bool credentials_refused =
        std::any_of(grpc_errors.begin(), grpc_errors.end(), [](const std::string& error) {
          return absl::StrContains(error, "secure server with credentials");
        });
    if (config->tls() && credentials_refused) {
      // Files that hold PEM blocks but no usable certificate or key, or a key that is not the
      // certificate's: a configuration error like any other, so one line and exit 2.
      std::fprintf(stderr, "gengate: --tls_cert=%s / --tls_key=%s cannot be used: %s\n",
                   config->tls_cert_file.c_str(), config->tls_key_file.c_str(), reason.c_str());
      return 2;
    }
    Log(LogLevel::kError, "cannot listen", {{"listen", config->listen}, {"error", reason}});
    return 1;
  }
  // NOT_SERVING until everything is up, then SERVING for the server and each service.
  SetHealth(*server, false);

  absl::StatusOr<std::unique_ptr<gengate::observability::AdminServer>> admin =
      gengate::observability::AdminServer::Start(config->admin_listen, metrics.registry(), state);
  if (!admin.ok()) {
    Log(LogLevel::kError, "cannot start the admin listener",
        {{"admin_listen", config->admin_listen}, {"error", std::string(admin.status().message())}});
    server->Shutdown(absl::ToChronoTime(absl::Now()));
    return 1;
  }

  state.Set(ServingPhase::kServing);
  SetHealth(*server, true);
  Log(LogLevel::kInfo, "serving",
      {{"listen", BoundAddress(config->listen, port)},
       {"admin_listen", (*admin)->address()},
       {"upstream", config->use_fake_upstream ? std::string("fake") : config->upstream_url},
       {"tls", TlsMode(*config)},
       {"upstream_ca", UpstreamCa(*config)},
       {"reflection", config->reflection},
       {"scheduling", scheduling}});

  int signal_number = 0;
  sigwait(&signals, &signal_number);

  // Drain. Readiness fails at once (/readyz 503; health NOT_SERVING, which Watch streams see
  // now), new upstream requests are refused, and Shutdown sends GOAWAY right away so clients
  // move new calls to other pods while running calls continue. Those still running when
  // --drain_timeout is up are ended with UNAVAILABLE (shutting_down) and their upstream
  // requests aborted; gRPC cancels anything left after kShutdownGrace more.
  const absl::Time drain_deadline = absl::Now() + config->drain_timeout;
  state.Set(ServingPhase::kDraining);
  SetHealth(*server, false);
  Log(LogLevel::kInfo, "draining",
      {{"signal", signal_number},
       {"drain_timeout_ms", absl::ToInt64Milliseconds(config->drain_timeout)},
       {"active_calls", metrics.active_calls()}});
  std::thread shutdown(
      [&] { server->Shutdown(absl::ToChronoTime(drain_deadline + kShutdownGrace)); });
  const bool drained = metrics.WaitForNoActiveCalls(drain_deadline);
  const int aborted = drained ? 0 : upstream.AbortAll();
  shutdown.join();
  server->Wait();
  Log(LogLevel::kInfo, "stopped", {{"drained", drained}, {"aborted_calls", aborted}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
