// GatewayClient: the drain gate, id forwarding, AbortAll and the upstream metrics, against a
// recording inner client whose callbacks the test plays itself.
#include "service/gateway_client.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http/client.h"
#include "observability/gateway_metrics.h"
#include "observability/serving_state.h"

namespace gengate::service {
namespace {

using observability::GatewayMetrics;
using observability::ServingPhase;
using observability::ServingState;
using status::TransportFailure;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// Records what reaches it; the test plays the callbacks through handler(i).
class RecordingClient final : public http::Client {
 public:
  struct Started {
    http::TransferId id;
    http::Request request;
    http::ResponseHandler* handler;
  };

  void StartTransfer(http::TransferId id, http::Request request,
                     http::ResponseHandler& handler) override {
    started.push_back({id, std::move(request), &handler});
  }
  void Cancel(http::TransferId id, TransportFailure reason) override {
    cancels.emplace_back(id, reason);
  }
  void CancelAll(TransportFailure reason) override { cancel_all.push_back(reason); }

  std::vector<Started> started;
  std::vector<std::pair<http::TransferId, TransportFailure>> cancels;
  std::vector<TransportFailure> cancel_all;
};

class RecordingHandler final : public http::ResponseHandler {
 public:
  void OnResponseHead(http::ResponseHead head) override { status = head.status; }
  void OnBody(std::string_view bytes) override { body.append(bytes); }
  void OnComplete(const http::TransferResult& result) override {
    ++completions;
    last = result;
  }

  int status = 0;
  std::string body;
  int completions = 0;
  http::TransferResult last;
};

class GatewayClientTest : public ::testing::Test {
 protected:
  GatewayClientTest() {
    auto inner = std::make_unique<RecordingClient>();
    inner_ = inner.get();
    state_.Set(ServingPhase::kServing);
    client_ = std::make_unique<GatewayClient>(std::move(inner), metrics_, state_,
                                              "http://upstream.test/v1");
  }

  http::Request ChatRequest(std::string body = "{}") {
    http::Request request;
    request.url = "http://upstream.test/v1/chat/completions";
    request.body = std::move(body);
    return request;
  }

  std::string Metrics() { return metrics_.registry().Render(); }

  GatewayMetrics metrics_{{}};
  ServingState state_;
  RecordingClient* inner_ = nullptr;
  std::unique_ptr<GatewayClient> client_;
};

TEST_F(GatewayClientTest, ForwardsTheSameIdAndEveryCallbackInOrder) {
  RecordingHandler handler;
  http::TransferId id = 0;
  client_->Start(ChatRequest(), handler, id);
  ASSERT_EQ(inner_->started.size(), 1u);
  EXPECT_NE(id, 0u);
  EXPECT_EQ(inner_->started[0].id, id);
  EXPECT_EQ(client_->running(), 1);

  client_->Cancel(id, TransportFailure::kCancelled);
  EXPECT_THAT(inner_->cancels,
              ElementsAre(std::make_pair(id, TransportFailure::kCancelled)));

  http::ResponseHandler& wrapped = *inner_->started[0].handler;
  EXPECT_NE(&wrapped, &handler) << "the metrics wrapper sits between the two";
  http::ResponseHead head;
  head.status = 200;
  wrapped.OnResponseHead(head);
  wrapped.OnBody("abc");
  wrapped.OnBody("de");
  wrapped.OnComplete({});
  EXPECT_EQ(handler.status, 200);
  EXPECT_EQ(handler.body, "abcde");
  EXPECT_EQ(handler.completions, 1);
  EXPECT_FALSE(handler.last.failure.has_value());
  EXPECT_EQ(client_->running(), 0);
}

TEST_F(GatewayClientTest, IdsAreUniqueAcrossTransfers) {
  RecordingHandler first, second;
  http::TransferId a = 0, b = 0;
  client_->Start(ChatRequest(), first, a);
  client_->Start(ChatRequest(), second, b);
  EXPECT_NE(a, b);
  EXPECT_EQ(client_->running(), 2);
  for (const auto& started : inner_->started) started.handler->OnComplete({});
  EXPECT_EQ(client_->running(), 0);
}

TEST_F(GatewayClientTest, RecordsTheUpstreamMetricsPerEndpoint) {
  RecordingHandler handler;
  http::TransferId id = 0;
  client_->Start(ChatRequest("0123456789"), handler, id);
  http::ResponseHandler& wrapped = *inner_->started[0].handler;
  http::ResponseHead head;
  head.status = 429;
  wrapped.OnResponseHead(head);
  wrapped.OnBody("rate limited");
  wrapped.OnComplete({});

  const std::string text = Metrics();
  const std::string endpoint = "endpoint=\"/chat/completions\"";
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_upstream_requests_total{", endpoint,
                                           ",status=\"429\"} 1\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_upstream_bytes_total{", endpoint,
                                           ",direction=\"sent\"} 10\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_upstream_bytes_total{", endpoint,
                                           ",direction=\"received\"} 12\n")));
}

TEST_F(GatewayClientTest, CountsFormPartsAsTheBytesSent) {
  RecordingHandler handler;
  http::Request request;
  request.url = "http://upstream.test/v1/images/edits";
  request.form = {{"prompt", "cat", "", ""}, {"image[]", "PNGDATA", "a.png", "image/png"}};
  http::TransferId id = 0;
  client_->Start(std::move(request), handler, id);
  inner_->started[0].handler->OnComplete({TransportFailure::kReset, "reset"});
  EXPECT_EQ(handler.last.failure, TransportFailure::kReset);
  EXPECT_THAT(Metrics(), HasSubstr("gengate_upstream_bytes_total{endpoint=\"/images/edits\","
                                   "direction=\"sent\"} 10\n"));
  EXPECT_THAT(Metrics(), HasSubstr("gengate_upstream_requests_total{endpoint=\"/images/edits\","
                                   "status=\"none\"} 1\n"));
}

TEST_F(GatewayClientTest, RefusesNewTransfersWhileDrainingWithoutCallingTheUpstream) {
  state_.Set(ServingPhase::kDraining);
  RecordingHandler handler;
  http::TransferId id = 0;
  client_->Start(ChatRequest(), handler, id);
  EXPECT_TRUE(inner_->started.empty());
  EXPECT_EQ(handler.completions, 1);
  EXPECT_EQ(handler.last.failure, TransportFailure::kShuttingDown);
  EXPECT_EQ(client_->running(), 0);
  EXPECT_THAT(Metrics(), Not(HasSubstr("gengate_upstream_requests_total{endpoint=")));
}

TEST_F(GatewayClientTest, AbortAllCancelsWhatRunsAndSaysHowMany) {
  RecordingHandler first, second;
  http::TransferId a = 0, b = 0;
  client_->Start(ChatRequest(), first, a);
  client_->Start(ChatRequest(), second, b);
  inner_->started[0].handler->OnComplete({});  // one is over before the drain ends
  EXPECT_EQ(client_->AbortAll(), 1);
  EXPECT_THAT(inner_->cancel_all, ElementsAre(TransportFailure::kShuttingDown));
  inner_->started[1].handler->OnComplete({TransportFailure::kShuttingDown, "aborted"});
  EXPECT_EQ(second.last.failure, TransportFailure::kShuttingDown);
  EXPECT_EQ(client_->running(), 0);
}

}  // namespace
}  // namespace gengate::service
