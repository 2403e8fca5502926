// The http::Client the services see: another client (curl) plus what belongs to the process
// rather than to one call.
//
// - While the process drains it refuses new upstream requests: the handler's OnComplete runs
//   at once, on the calling thread, with kShuttingDown, and the upstream is never called (the
//   reactors allow that: they finish from their constructors on validation errors too).
// - AbortAll ends the transfers still running when the drain time is up.
// - It records the upstream metrics of every transfer per endpoint.
//
// Ids are the inner client's own (Client::NewTransferId is process-wide), so Cancel forwards
// as it is, and nothing here takes a lock: the per-transfer state lives in a small wrapper
// around the caller's handler that deletes itself after OnComplete.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "http/client.h"
#include "observability/gateway_metrics.h"
#include "observability/serving_state.h"

namespace gengate::service {

class GatewayClient final : public http::Client {
 public:
  // `base_url` is stripped from request URLs to name the endpoint in metrics.
  GatewayClient(std::unique_ptr<http::Client> inner, observability::GatewayMetrics& metrics,
                const observability::ServingState& state, std::string base_url);
  // The inner client goes first: its destructor completes the transfers still running, and
  // their wrappers report to the metrics.
  ~GatewayClient() override;

  void StartTransfer(http::TransferId id, http::Request request,
                     http::ResponseHandler& handler) override;
  void Cancel(http::TransferId id, status::TransportFailure reason) override;
  void CancelAll(status::TransportFailure reason) override;
  http::ConnectionStats Connections() const override { return inner_->Connections(); }

  // Ends every transfer still running with kShuttingDown; returns how many were running.
  int AbortAll();
  // Transfers started and not yet complete.
  int running() const { return running_.load(std::memory_order_acquire); }

 private:
  class Transfer;

  std::unique_ptr<http::Client> inner_;
  observability::GatewayMetrics& metrics_;
  const observability::ServingState& state_;
  const std::string base_url_;
  std::atomic<int> running_{0};
};

}  // namespace gengate::service
