// gengate's metric set: what a call, a stream and an upstream transfer leave in /metrics, the
// caps on caller-chosen labels, and the drain wait on active calls.
#include "observability/gateway_metrics.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gengate::observability {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kStream[] = "/gengate.v1.ChatService/StreamChatCompletion";
constexpr char kUnary[] = "/gengate.v1.ChatService/CreateChatCompletion";

std::vector<RpcMethod> ChatMethods() { return {{kUnary, false}, {kStream, true}}; }

TEST(GatewayMetricsTest, KnownMethodsStartWithAnOkSeriesAtZero) {
  GatewayMetrics metrics(ChatMethods());

  const std::string text = metrics.registry().Render();

  EXPECT_THAT(text, HasSubstr("gengate_requests_total{service=\"gengate.v1.ChatService\","
                              "method=\"CreateChatCompletion\",code=\"OK\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("gengate_requests_total{service=\"gengate.v1.ChatService\","
                              "method=\"StreamChatCompletion\",code=\"OK\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("gengate_active_calls 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE gengate_request_duration_seconds histogram\n"));
}

TEST(GatewayMetricsTest, CountsFinishedCallsByCodeWithTheirLatency) {
  GatewayMetrics metrics(ChatMethods());
  const GatewayMetrics::Method& unary = metrics.ForMethod(kUnary);

  metrics.CallStarted(unary);
  metrics.CallStarted(unary);
  EXPECT_EQ(metrics.active_calls(), 2);
  metrics.CallFinished(unary, 0, absl::Milliseconds(30));
  metrics.CallFinished(unary, 3, absl::Milliseconds(2));

  const std::string text = metrics.registry().Render();
  const std::string labels = "service=\"gengate.v1.ChatService\",method=\"CreateChatCompletion\"";
  EXPECT_THAT(text,
              HasSubstr(absl::StrCat("gengate_requests_total{", labels, ",code=\"OK\"} 1\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_requests_total{", labels,
                                           ",code=\"INVALID_ARGUMENT\"} 1\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_request_duration_seconds_bucket{", labels,
                                           ",le=\"0.005\"} 1\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_request_duration_seconds_bucket{", labels,
                                           ",le=\"0.05\"} 2\n")));
  EXPECT_THAT(text,
              HasSubstr(absl::StrCat("gengate_request_duration_seconds_count{", labels, "} 2\n")));
  EXPECT_THAT(text, HasSubstr("gengate_active_calls 0\n"));
  EXPECT_EQ(metrics.active_calls(), 0);
}

TEST(GatewayMetricsTest, StreamsRecordTimeToFirstMessageBytesAndSlowReaders) {
  GatewayMetrics metrics(ChatMethods());
  const GatewayMetrics::Method& stream = metrics.ForMethod(kStream);

  metrics.CallStarted(stream);
  EXPECT_THAT(metrics.registry().Render(), HasSubstr("gengate_active_streams 1\n"));
  metrics.StreamMessageQueued(stream, 100, /*first=*/true, absl::Microseconds(400));
  metrics.StreamMessageQueued(stream, 50, /*first=*/false, absl::Milliseconds(20));
  metrics.SlowReaderAborted(stream);
  metrics.CallFinished(stream, 8, absl::Milliseconds(25));

  const std::string text = metrics.registry().Render();
  const std::string labels = "service=\"gengate.v1.ChatService\",method=\"StreamChatCompletion\"";
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_stream_first_message_seconds_bucket{", labels,
                                           ",le=\"0.001\"} 1\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_stream_first_message_seconds_count{", labels,
                                           "} 1\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_stream_messages_total{", labels, "} 2\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_stream_sent_bytes_total{", labels, "} 150\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_slow_reader_aborts_total{", labels, "} 1\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_requests_total{", labels,
                                           ",code=\"RESOURCE_EXHAUSTED\"} 1\n")));
  EXPECT_THAT(text, HasSubstr("gengate_active_streams 0\n"));
}

TEST(GatewayMetricsTest, UnaryCallsRecordTheirAnswerDecodeAndStreamsDoNot) {
  GatewayMetrics metrics(ChatMethods());
  metrics.AnswerDecoded(metrics.ForMethod(kUnary), absl::Microseconds(3));
  metrics.AnswerDecoded(metrics.ForMethod(kUnary), absl::Milliseconds(4));
  metrics.AnswerDecoded(metrics.ForMethod(kStream), absl::Milliseconds(1));

  const std::string text = metrics.registry().Render();
  const std::string unary = "service=\"gengate.v1.ChatService\",method=\"CreateChatCompletion\"";
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_answer_decode_seconds_bucket{", unary,
                                           ",le=\"1e-05\"} 1\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_answer_decode_seconds_bucket{", unary,
                                           ",le=\"0.005\"} 2\n")));
  EXPECT_THAT(text,
              HasSubstr(absl::StrCat("gengate_answer_decode_seconds_count{", unary, "} 2\n")));
  EXPECT_THAT(text, Not(HasSubstr("gengate_answer_decode_seconds_count{service=\"gengate.v1."
                                  "ChatService\",method=\"StreamChatCompletion\"}")));
}

TEST(GatewayMetricsTest, UnknownMethodsGetTheirOwnSeries) {
  GatewayMetrics metrics({});
  const GatewayMetrics::Method& method = metrics.ForMethod("/pkg.Other/StreamThings");

  EXPECT_EQ(&method, &metrics.ForMethod("/pkg.Other/StreamThings"));
  EXPECT_EQ(method.service(), "pkg.Other");
  EXPECT_EQ(method.method(), "StreamThings");
  EXPECT_TRUE(method.streaming());
  metrics.CallStarted(method);
  metrics.CallFinished(method, 99, absl::Seconds(1));  // out of range: UNKNOWN

  EXPECT_THAT(metrics.registry().Render(),
              HasSubstr("gengate_requests_total{service=\"pkg.Other\",method=\"StreamThings\","
                        "code=\"UNKNOWN\"} 1\n"));
}

TEST(GatewayMetricsTest, CountsTokensByModelAndDirection) {
  GatewayMetrics metrics({});

  metrics.TokensUsed("gpt-4o-mini", 12, 30);
  metrics.TokensUsed("gpt-4o-mini", 3, 0);
  metrics.TokensUsed("text-embedding-3-small", 8, 0);
  metrics.TokensUsed("nothing-reported", 0, 0);

  const std::string text = metrics.registry().Render();
  EXPECT_THAT(text,
              HasSubstr("gengate_tokens_total{model=\"gpt-4o-mini\",direction=\"input\"} 15\n"));
  EXPECT_THAT(text,
              HasSubstr("gengate_tokens_total{model=\"gpt-4o-mini\",direction=\"output\"} 30\n"));
  EXPECT_THAT(text, HasSubstr("gengate_tokens_total{model=\"text-embedding-3-small\","
                              "direction=\"input\"} 8\n"));
  EXPECT_THAT(text, Not(HasSubstr("nothing-reported")));
}

TEST(GatewayMetricsTest, ModelsPastTheCapCountAsOther) {
  GatewayMetrics metrics({});
  for (std::size_t i = 0; i < GatewayMetrics::kMaxModels; ++i) {
    metrics.TokensUsed(absl::StrCat("model-", i), 1, 1);
  }

  metrics.TokensUsed("one-too-many", 5, 7);
  metrics.TokensUsed("and-another", 1, 1);

  const std::string text = metrics.registry().Render();
  EXPECT_THAT(text, Not(HasSubstr("one-too-many")));
  EXPECT_THAT(text, HasSubstr("gengate_tokens_total{model=\"other\",direction=\"input\"} 6\n"));
  EXPECT_THAT(text, HasSubstr("gengate_tokens_total{model=\"other\",direction=\"output\"} 8\n"));
  EXPECT_THAT(text, HasSubstr("gengate_tokens_total{model=\"model-0\",direction=\"input\"} 1\n"));
}

TEST(GatewayMetricsTest, LongLabelValuesAreCutOnACharacterBoundary) {
  GatewayMetrics metrics({});
  // 127 ASCII bytes and then a two-byte character that straddles the 128-byte cap.
  const std::string model = std::string(127, 'm') + "\xc3\xbc" + "tail";

  metrics.TokensUsed(model, 1, 0);

  EXPECT_THAT(metrics.registry().Render(),
              HasSubstr(absl::StrCat("{model=\"", std::string(127, 'm'), "\",direction")));
}

TEST(GatewayMetricsTest, RecordsUpstreamTransfersByEndpointAndStatus) {
  GatewayMetrics metrics({});
  const GatewayMetrics::Endpoint& chat = metrics.ForEndpoint("/chat/completions");
  EXPECT_EQ(&chat, &metrics.ForEndpoint("/chat/completions"));

  metrics.UpstreamTransferFinished(chat, 200, absl::Milliseconds(40), absl::Milliseconds(90), 300,
                                   1200);
  metrics.UpstreamTransferFinished(chat, 429, absl::Milliseconds(5), absl::Milliseconds(6), 300,
                                   80);
  metrics.UpstreamTransferFinished(chat, 0, absl::ZeroDuration(), absl::Seconds(10), 300, 0);
  metrics.UpstreamError("rate_limit_exceeded");
  metrics.UpstreamError("upstream_unreachable");

  const std::string text = metrics.registry().Render();
  const std::string endpoint = "endpoint=\"/chat/completions\"";
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_upstream_requests_total{", endpoint,
                                           ",status=\"200\"} 1\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_upstream_requests_total{", endpoint,
                                           ",status=\"429\"} 1\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_upstream_requests_total{", endpoint,
                                           ",status=\"none\"} 1\n")));
  // Time to headers only for the two that got an answer; duration for all three.
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_upstream_time_to_headers_seconds_count{",
                                           endpoint, "} 2\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_upstream_duration_seconds_count{", endpoint,
                                           "} 3\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_upstream_bytes_total{", endpoint,
                                           ",direction=\"sent\"} 900\n")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("gengate_upstream_bytes_total{", endpoint,
                                           ",direction=\"received\"} 1280\n")));
  EXPECT_THAT(text, HasSubstr("gengate_upstream_errors_total{reason=\"rate_limit_exceeded\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("gengate_upstream_errors_total{reason=\"upstream_unreachable\"} 1\n"));
}

TEST(GatewayMetricsTest, ExposesProcessMetrics) {
  GatewayMetrics metrics({});

  const std::string text = metrics.registry().Render();

  for (const char* name : {"process_resident_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_cpu_seconds_total", "process_start_time_seconds",
                           "process_threads", "process_virtual_memory_bytes"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("\n", name, " "))) << name;
  }
}

TEST(GatewayMetricsTest, WaitForNoActiveCallsReturnsAtOnceWhenIdle) {
  GatewayMetrics metrics({});

  EXPECT_TRUE(metrics.WaitForNoActiveCalls(absl::Now()));
}

TEST(GatewayMetricsTest, WaitForNoActiveCallsTimesOutWhileACallRuns) {
  GatewayMetrics metrics(ChatMethods());
  const GatewayMetrics::Method& stream = metrics.ForMethod(kStream);
  metrics.CallStarted(stream);

  const absl::Time start = absl::Now();
  EXPECT_FALSE(metrics.WaitForNoActiveCalls(start + absl::Milliseconds(50)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  metrics.CallFinished(stream, 0, absl::Milliseconds(50));
}

TEST(GatewayMetricsTest, WaitForNoActiveCallsWakesWhenTheLastCallEnds) {
  GatewayMetrics metrics(ChatMethods());
  const GatewayMetrics::Method& stream = metrics.ForMethod(kStream);
  metrics.CallStarted(stream);
  metrics.CallStarted(stream);
  absl::Notification waiting;
  bool drained = false;
  std::thread waiter([&] {
    waiting.Notify();
    drained = metrics.WaitForNoActiveCalls(absl::Now() + absl::Seconds(60));
  });
  waiting.WaitForNotification();

  metrics.CallFinished(stream, 0, absl::Milliseconds(1));
  metrics.CallFinished(stream, 0, absl::Milliseconds(1));
  waiter.join();  // returns long before the 60 s deadline only if it was woken

  EXPECT_TRUE(drained);
  EXPECT_EQ(metrics.active_calls(), 0);
}

TEST(GrpcCodeNameTest, NamesEveryCode) {
  EXPECT_EQ(GrpcCodeName(0), "OK");
  EXPECT_EQ(GrpcCodeName(3), "INVALID_ARGUMENT");
  EXPECT_EQ(GrpcCodeName(14), "UNAVAILABLE");
  EXPECT_EQ(GrpcCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcCodeName(17), "UNKNOWN");
  EXPECT_EQ(GrpcCodeName(-1), "UNKNOWN");
}

}  // namespace
}  // namespace gengate::observability
