#include "observability/admin_server.h"

#include <pthread.h>
#include <sys/socket.h>

#include <future>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace gengate::observability {
namespace {

// Probes and scrapes are few and short; four workers keep a slow scraper's keep-alive
// connection from starving the kubelet's probes.
constexpr int kWorkerThreads = 4;

struct HostPort {
  std::string host;
  int port = 0;
};

absl::StatusOr<HostPort> SplitAddress(std::string_view address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin address \"", std::string(address), "\" is not host:port"));
  }
  HostPort result;
  result.host = std::string(address.substr(0, colon));
  if (result.host.size() >= 2 && result.host.front() == '[' && result.host.back() == ']') {
    result.host = result.host.substr(1, result.host.size() - 2);
  }
  const std::string port(address.substr(colon + 1));
  if (!absl::SimpleAtoi(port, &result.port) || result.port < 0 || result.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin address \"", std::string(address), "\" has no valid port"));
  }
  return result;
}

class HttplibAdminServer final : public AdminServer {
 public:
  HttplibAdminServer(const MetricsRegistry& registry, const ServingState& state)
      : registry_(registry), state_(state) {}

  ~HttplibAdminServer() override {
    server_.stop();
    if (listener_.joinable()) listener_.join();
  }

  absl::Status Listen(const HostPort& where) {
    Configure();
    port_ = where.port == 0 ? server_.bind_to_any_port(where.host)
                            : (server_.bind_to_port(where.host, where.port) ? where.port : -1);
    if (port_ <= 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on admin address ", where.host, ":", where.port));
    }
    host_ = where.host;
    std::future<void> running = running_.get_future();
    listener_ = std::thread([this] { server_.listen_after_bind(); });
    pthread_setname_np(listener_.native_handle(), "gengate-admin");
    // stop() before the accept loop runs would be ignored, so the destructor must not come
    // first: wait for the loop.
    running.wait();
    return absl::OkStatus();
  }

  int port() const override { return port_; }
  std::string address() const override {
    const bool v6 = host_.find(':') != std::string::npos;
    return absl::StrCat(v6 ? "[" : "", host_, v6 ? "]" : "", ":", port_);
  }

 private:
  void Configure() {
    // httplib creates the task queue once its accept loop runs, and takes ownership of it.
    server_.new_task_queue = [this]() -> httplib::TaskQueue* {
      running_.set_value();
      return std::make_unique<httplib::ThreadPool>(kWorkerThreads).release();
    };
    // SO_REUSEADDR only: httplib's default SO_REUSEPORT would let a second process share the
    // port silently instead of failing to start.
    server_.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    // A worker stays with an idle keep-alive connection until this passes; short, so that
    // shutdown and other probes are not held up.
    server_.set_keep_alive_timeout(2);
    server_.set_read_timeout(5);
    server_.set_write_timeout(5);

    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(registry_.Render(), kPrometheusContentType);
    });
    server_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain; charset=utf-8");
    });
    server_.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
      const ServingPhase phase = state_.phase();
      res.status = phase == ServingPhase::kServing ? 200 : 503;
      res.set_content(absl::StrCat(std::string(PhaseName(phase)), "\n"),
                      "text/plain; charset=utf-8");
    });
  }

  const MetricsRegistry& registry_;
  const ServingState& state_;
  httplib::Server server_;
  std::promise<void> running_;
  std::string host_;
  int port_ = -1;
  std::thread listener_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(std::string_view address,
                                                                const MetricsRegistry& registry,
                                                                const ServingState& state) {
  absl::StatusOr<HostPort> where = SplitAddress(address);
  if (!where.ok()) return where.status();
  auto server = std::make_unique<HttplibAdminServer>(registry, state);
  if (absl::Status listening = server->Listen(*where); !listening.ok()) return listening;
  return std::unique_ptr<AdminServer>(std::move(server));
}

}  // namespace gengate::observability
