#include "service/gateway_client.h"

#include <cstdint>
#include <string_view>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gengate::service {

using observability::GatewayMetrics;
using status::TransportFailure;

// Wraps the caller's handler for one transfer and counts what passes through it. Callbacks
// come from the inner client's event loop, one at a time.
class GatewayClient::Transfer final : public http::ResponseHandler {
 public:
  Transfer(GatewayClient& owner, http::ResponseHandler& handler,
           const GatewayMetrics::Endpoint& endpoint, std::uint64_t sent)
      : owner_(owner), handler_(handler), endpoint_(endpoint), sent_(sent),
        start_(absl::Now()) {}

  void OnResponseHead(http::ResponseHead head) override {
    status_ = head.status;
    time_to_headers_ = absl::Now() - start_;
    handler_.OnResponseHead(std::move(head));
  }

  void OnBody(std::string_view bytes) override {
    received_ += bytes.size();
    handler_.OnBody(bytes);
  }

  void OnComplete(const http::TransferResult& result) override {
    owner_.metrics_.UpstreamTransferFinished(endpoint_, status_, time_to_headers_,
                                             absl::Now() - start_, sent_, received_);
    owner_.running_.fetch_sub(1, std::memory_order_acq_rel);
    // The caller's handler is told last: it may delete itself, and the owner with it.
    http::ResponseHandler& handler = handler_;
    delete this;
    handler.OnComplete(result);
  }

 private:
  GatewayClient& owner_;
  http::ResponseHandler& handler_;
  const GatewayMetrics::Endpoint& endpoint_;
  const std::uint64_t sent_;
  const absl::Time start_;
  int status_ = 0;
  absl::Duration time_to_headers_;
  std::uint64_t received_ = 0;
};

GatewayClient::GatewayClient(std::unique_ptr<http::Client> inner, GatewayMetrics& metrics,
                             const observability::ServingState& state, std::string base_url)
    : inner_(std::move(inner)), metrics_(metrics), state_(state),
      base_url_(std::move(base_url)) {}

GatewayClient::~GatewayClient() { inner_.reset(); }

void GatewayClient::StartTransfer(http::TransferId id, http::Request request,
                                  http::ResponseHandler& handler) {
  if (state_.draining()) {
    handler.OnComplete({TransportFailure::kShuttingDown, "the gateway is shutting down"});
    return;
  }
  std::uint64_t sent = request.body.size();
  if (!request.form.empty()) {
    sent = 0;
    for (const http::FormPart& part : request.form) sent += part.value.size();
  }
  std::string_view path = request.url;
  if (path.starts_with(base_url_)) path.remove_prefix(base_url_.size());
  const GatewayMetrics::Endpoint& endpoint = metrics_.ForEndpoint(path);
  running_.fetch_add(1, std::memory_order_acq_rel);
  // Owned by the inner client's callbacks from here on: it deletes itself in OnComplete.
  auto* transfer = new Transfer(*this, handler, endpoint, sent);
  inner_->StartTransfer(id, std::move(request), *transfer);
}

void GatewayClient::Cancel(http::TransferId id, TransportFailure reason) {
  inner_->Cancel(id, reason);
}

void GatewayClient::CancelAll(TransportFailure reason) { inner_->CancelAll(reason); }

int GatewayClient::AbortAll() {
  const int running = this->running();
  CancelAll(TransportFailure::kShuttingDown);
  return running;
}

}  // namespace gengate::service
