// The admin HTTP listener: /metrics (Prometheus text), /healthz (the process is alive) and
// /readyz (200 while serving, 503 while starting or draining). Plain HTTP on its own port, so
// probes and scrapes never compete with gRPC traffic and need no TLS client setup.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "observability/metrics.h"
#include "observability/serving_state.h"

namespace gengate::observability {

class AdminServer {
 public:
  // Binds `address` ("host:port", "[v6]:port"; port 0 picks one) and serves on a background
  // thread. `registry` and `state` must outlive the server.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(std::string_view address,
                                                            const MetricsRegistry& registry,
                                                            const ServingState& state);
  virtual ~AdminServer() = default;

  // The port actually bound.
  virtual int port() const = 0;
  // "host:port" with the bound port, for the serving log line.
  virtual std::string address() const = 0;
};

}  // namespace gengate::observability
