// ChatService's reactors against a scripted http::Client: what they send upstream, how they
// turn answers, streams and failures into messages and statuses, and that they abort the
// transfer when the caller goes away.
#include "service/chat_service.h"

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gengate/v1/chat.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gengate::service {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(10);

// A strict scripted upstream: records every Start, runs the test's callbacks on its own thread
// (as the real client runs them on its event loop) and completes cancelled transfers.
class ScriptedClient final : public http::Client {
 public:
  ScriptedClient() : thread_([this] { Loop(); }) {}
  ~ScriptedClient() override {
    Post(nullptr);
    thread_.join();
  }

  // Tests name transfers by their 1-based start order ("transfer 1"), not by their ids.
  void StartTransfer(http::TransferId id, http::Request request,
                     http::ResponseHandler& handler) override {
    absl::MutexLock lock(&mu_);
    transfers_.push_back({id, std::move(request), &handler, false});
    ++started_;
  }

  void Cancel(http::TransferId id, status::TransportFailure reason) override {
    EXPECT_NE(id, 0u) << "a reactor cancelled without knowing its transfer";
    std::size_t number = 0;
    {
      absl::MutexLock lock(&mu_);
      cancels_.push_back({id, reason});
      for (std::size_t i = 0; i < transfers_.size(); ++i) {
        if (transfers_[i].id == id) number = i + 1;
      }
    }
    if (number != 0) Post([this, number, reason] { Complete(number, {reason, "cancelled"}); });
  }

  void CancelAll(status::TransportFailure reason) override {
    std::size_t count;
    {
      absl::MutexLock lock(&mu_);
      count = transfers_.size();
    }
    for (std::size_t number = 1; number <= count; ++number) {
      Post([this, number, reason] { Complete(number, {reason, "cancelled"}); });
    }
  }

  // Blocks until `count` transfers were started.
  bool WaitForStarts(std::size_t count) {
    absl::MutexLock lock(&mu_);
    auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return started_ >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&ready), kWait);
  }
  bool WaitForCancel() {
    absl::MutexLock lock(&mu_);
    auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !cancels_.empty(); };
    return mu_.AwaitWithTimeout(absl::Condition(&ready), kWait);
  }

  http::Request request(std::size_t index) {
    absl::MutexLock lock(&mu_);
    return transfers_.at(index).request;
  }
  std::size_t starts() {
    absl::MutexLock lock(&mu_);
    return started_;
  }
  std::vector<status::TransportFailure> cancel_reasons() {
    absl::MutexLock lock(&mu_);
    std::vector<status::TransportFailure> reasons;
    for (const auto& [id, reason] : cancels_) reasons.push_back(reason);
    return reasons;
  }

  // Plays an answer for transfer number `id` on the loop thread: head, body pieces, then
  // completion with `result` unless the transfer is to stay open.
  void Answer(std::size_t id, int status, std::string content_type,
              std::vector<std::string> pieces, http::TransferResult result = {},
              bool stay_open = false) {
    Post([this, id, status, content_type, pieces, result, stay_open] {
      http::ResponseHandler* handler = Handler(id);
      if (handler == nullptr) return;
      http::ResponseHead head;
      head.status = status;
      head.headers = {{"content-type", content_type}, {"x-request-id", "upstream-7"}};
      handler->OnResponseHead(head);
      for (const std::string& piece : pieces) handler->OnBody(piece);
      if (!stay_open) Complete(id, result);
    });
  }

 private:
  struct Transfer {
    http::TransferId id = 0;
    http::Request request;
    http::ResponseHandler* handler = nullptr;
    bool completed = false;
  };

  http::ResponseHandler* Handler(std::size_t id) {
    absl::MutexLock lock(&mu_);
    Transfer& transfer = transfers_.at(id - 1);
    return transfer.completed ? nullptr : transfer.handler;
  }

  // Completes once; later completions of the same transfer are dropped, as in the real client.
  void Complete(std::size_t id, const http::TransferResult& result) {
    http::ResponseHandler* handler;
    {
      absl::MutexLock lock(&mu_);
      Transfer& transfer = transfers_.at(id - 1);
      if (transfer.completed) return;
      transfer.completed = true;
      handler = transfer.handler;
    }
    handler->OnComplete(result);
  }

  void Post(std::function<void()> task) {
    absl::MutexLock lock(&queue_mu_);
    tasks_.push_back(std::move(task));
  }

  void Loop() {
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&queue_mu_);
        queue_mu_.Await(absl::Condition(
            +[](std::deque<std::function<void()>>* tasks) { return !tasks->empty(); }, &tasks_));
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      if (!task) return;
      task();
    }
  }

  absl::Mutex mu_;
  std::vector<Transfer> transfers_ ABSL_GUARDED_BY(mu_);
  std::size_t started_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<http::TransferId, status::TransportFailure>> cancels_ ABSL_GUARDED_BY(mu_);
  absl::Mutex queue_mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(queue_mu_);
  std::thread thread_;
};

// One chat chunk event with `content` (and a finish_reason when given).
std::string Chunk(std::string_view content, std::string_view finish = "") {
  nlohmann::json chunk = {{"id", "c1"}, {"object", "chat.completion.chunk"}, {"created", 5},
                          {"model", "gpt-4o-mini"}};
  nlohmann::json choice = {{"index", 0}, {"delta", {{"content", content}}}};
  choice["finish_reason"] = finish.empty() ? nlohmann::json(nullptr) : nlohmann::json(finish);
  chunk["choices"] = nlohmann::json::array({choice});
  return "data: " + chunk.dump() + "\n\n";
}


class ChatServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    UpstreamSettings settings;
    settings.base_url = "http://upstream.test/openai";
    settings.host = "upstream.test";
    settings.api_key = "sk-unit-SECRET";
    settings.stream_idle_timeout = absl::Seconds(7);
    env_ = std::make_unique<ServiceEnv>(ServiceEnv{client_, settings});
    service_ = std::make_unique<ChatService>(*env_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::ChatService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override { server_->Shutdown(absl::ToChronoTime(absl::Now())); }

  static v1::CreateChatCompletionRequest Hello() {
    v1::CreateChatCompletionRequest request;
    request.set_model("gpt-4o-mini");
    auto* message = request.add_messages();
    message->set_role(v1::ROLE_USER);
    message->set_content("Hello");
    return request;
  }

  // Reads a whole stream; returns the contents of each chunk and the final status.
  struct StreamResult {
    std::vector<std::string> contents;
    grpc::Status status;
  };
  StreamResult ReadAll(grpc::ClientContext& context, const v1::CreateChatCompletionRequest& request) {
    StreamResult result;
    auto reader = stub_->StreamChatCompletion(&context, request);
    v1::ChatCompletionChunk chunk;
    while (reader->Read(&chunk)) {
      result.contents.push_back(chunk.choices_size() > 0 ? chunk.choices(0).delta().content()
                                                         : "<usage>");
    }
    result.status = reader->Finish();
    return result;
  }

  ScriptedClient client_;
  std::unique_ptr<ServiceEnv> env_;
  std::unique_ptr<ChatService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::ChatService::Stub> stub_;
};

// With other transfers running on the loop a large answer is concluded on a gRPC thread; the
// caller must see the same answer, status and trailers either way.
TEST_F(ChatServiceTest, UnaryAnswerConcludedOffTheLoopWhenItIsBusy) {
  const std::string content =
      "Busy" + std::string(UpstreamSettings{}.conclude_in_place_bytes, 'y');
  std::thread upstream([&] {
    ASSERT_TRUE(client_.WaitForStarts(1));
    http::TransferResult busy;
    busy.client_busy = true;
    client_.Answer(1, 200, "application/json",
                   {R"({"id":"chatcmpl-9","object":"chat.completion","created":7,)",
                    R"("model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":)",
                    R"("assistant","content":")" + content + R"("},"finish_reason":"stop"}]})"},
                   busy);
  });
  grpc::ClientContext context;
  v1::ChatCompletion completion;
  const grpc::Status status = stub_->CreateChatCompletion(&context, Hello(), &completion);
  upstream.join();

  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(completion.id(), "chatcmpl-9");
  EXPECT_EQ(completion.choices(0).message().content(), content);
  const auto& trailers = context.GetServerTrailingMetadata();
  auto upstream_id = trailers.find("x-upstream-request-id");
  ASSERT_NE(upstream_id, trailers.end());
  EXPECT_EQ(std::string(upstream_id->second.data(), upstream_id->second.size()), "upstream-7");
}

TEST_F(ChatServiceTest, UnaryFailureConcludedOffTheLoopWhenItIsBusy) {
  std::thread upstream([&] {
    ASSERT_TRUE(client_.WaitForStarts(1));
    http::TransferResult reset{status::TransportFailure::kReset, "reset", /*client_busy=*/true};
    client_.Answer(1, 200, "application/json",
                   {R"({"id":")" + std::string(UpstreamSettings{}.conclude_in_place_bytes, 'x')},
                   reset);
  });
  grpc::ClientContext context;
  v1::ChatCompletion completion;
  const grpc::Status status = stub_->CreateChatCompletion(&context, Hello(), &completion);
  upstream.join();

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

// Concluding small answers on a busy loop pays only when the threads run as SCHED_BATCH.
TEST(UpstreamSettingsTest, SmallAnswersAreConcludedInPlaceOnlyUnderSchedBatch) {
  config::Config config;
  EXPECT_EQ(UpstreamSettings::FromConfig(config).conclude_in_place_bytes, 64u << 10);
  config.sched_batch = false;
  EXPECT_EQ(UpstreamSettings::FromConfig(config).conclude_in_place_bytes, 0u);
}

TEST_F(ChatServiceTest, UnaryCallSendsTheRequestAndReturnsTheAnswer) {
  std::thread upstream([&] {
    ASSERT_TRUE(client_.WaitForStarts(1));
    client_.Answer(1, 200, "application/json",
                   {R"({"id":"chatcmpl-1","object":"chat.completion","created":42,)",
                    R"("model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":)",
                    R"("assistant","content":"Hi!"},"finish_reason":"stop"}],)",
                    R"("usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})"});
  });
  grpc::ClientContext context;
  context.AddMetadata("x-request-id", "req-abc");
  context.AddMetadata("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  v1::ChatCompletion completion;
  const grpc::Status status = stub_->CreateChatCompletion(&context, Hello(), &completion);
  upstream.join();

  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(completion.id(), "chatcmpl-1");
  EXPECT_EQ(completion.created(), 42);
  ASSERT_EQ(completion.choices_size(), 1);
  EXPECT_EQ(completion.choices(0).message().content(), "Hi!");
  EXPECT_EQ(completion.choices(0).finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(completion.usage().total_tokens(), 5);

  const http::Request request = client_.request(0);
  EXPECT_EQ(request.url, "http://upstream.test/openai/chat/completions");
  const nlohmann::json body = nlohmann::json::parse(request.body);
  EXPECT_EQ(body, nlohmann::json::parse(
                      R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]})"));
  std::map<std::string, std::string> headers;
  for (const auto& header : request.headers) headers[header.name] = header.value;
  EXPECT_EQ(headers["Authorization"], "Bearer sk-unit-SECRET");
  EXPECT_EQ(headers["X-Request-Id"], "req-abc");
  EXPECT_EQ(headers["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(request.idle_timeout, absl::InfiniteDuration());  // unary: deadline only
  EXPECT_LT(request.deadline, absl::InfiniteFuture());

  const auto& initial = context.GetServerInitialMetadata();
  ASSERT_EQ(initial.count("x-request-id"), 1u);
  EXPECT_EQ(initial.find("x-request-id")->second, "req-abc");
  const auto& trailing = context.GetServerTrailingMetadata();
  ASSERT_EQ(trailing.count("x-upstream-request-id"), 1u);
  EXPECT_EQ(trailing.find("x-upstream-request-id")->second, "upstream-7");
}

TEST_F(ChatServiceTest, InvalidRequestNeverReachesTheUpstream) {
  v1::CreateChatCompletionRequest request = Hello();
  request.clear_model();
  grpc::ClientContext unary_context;
  v1::ChatCompletion completion;
  EXPECT_EQ(stub_->CreateChatCompletion(&unary_context, request, &completion).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext stream_context;
  request = Hello();
  request.clear_messages();
  StreamResult result = ReadAll(stream_context, request);
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(result.contents.empty());
  EXPECT_EQ(client_.starts(), 0u);
}

TEST_F(ChatServiceTest, UnaryUpstreamErrorBecomesStatusWithDetails) {
  std::thread upstream([&] {
    ASSERT_TRUE(client_.WaitForStarts(1));
    client_.Answer(1, 429, "application/json",
                   {R"({"error":{"message":"Rate limit reached","type":"tokens",)"
                    R"("code":"rate_limit_exceeded"}})"});
  });
  grpc::ClientContext context;
  v1::ChatCompletion completion;
  const grpc::Status status = stub_->CreateChatCompletion(&context, Hello(), &completion);
  upstream.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(), "Rate limit reached");
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(status.error_details()));
  google::rpc::ErrorInfo info;
  ASSERT_GE(details.details_size(), 1);
  ASSERT_TRUE(details.details(0).UnpackTo(&info));
  EXPECT_EQ(info.reason(), "rate_limit_exceeded");
  EXPECT_EQ(info.domain(), "upstream.test");
}

TEST_F(ChatServiceTest, UnaryGarbageAnswerIsInternal) {
  std::thread upstream([&] {
    ASSERT_TRUE(client_.WaitForStarts(1));
    client_.Answer(1, 200, "text/html", {"<html>captive portal</html>"});
  });
  grpc::ClientContext context;
  v1::ChatCompletion completion;
  const grpc::Status status = stub_->CreateChatCompletion(&context, Hello(), &completion);
  upstream.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr("<html>")));
}

TEST_F(ChatServiceTest, StreamTurnsEachEventIntoOneMessageInOrder) {
  std::thread upstream([&] {
    ASSERT_TRUE(client_.WaitForStarts(1));
    // Events split at awkward places, several per piece, then [DONE].
    const std::string all = Chunk("He") + Chunk("llo") + ": keep-alive\n\n" + Chunk("!", "stop") +
                            R"(data: {"id":"c1","choices":[],"usage":{"prompt_tokens":1,)"
                            R"("completion_tokens":3,"total_tokens":4}})" "\n\n" +
                            "data: [DONE]\n\n";
    std::vector<std::string> pieces;
    for (std::size_t i = 0; i < all.size(); i += 7) pieces.push_back(all.substr(i, 7));
    client_.Answer(1, 200, "text/event-stream; charset=utf-8", pieces);
  });
  grpc::ClientContext context;
  StreamResult result = ReadAll(context, Hello());
  upstream.join();
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_THAT(result.contents, ElementsAre("He", "llo", "!", "<usage>"));

  const http::Request request = client_.request(0);
  const nlohmann::json body = nlohmann::json::parse(request.body);
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(request.idle_timeout, absl::Seconds(7));
}

struct StreamEndCase {
  std::string name;
  int http_status;
  std::string content_type;
  std::string body;
  grpc::StatusCode code;
  int messages;
};

void PrintTo(const StreamEndCase& c, std::ostream* os) { *os << c.name; }

class ChatStreamEndTest : public ChatServiceTest,
                          public ::testing::WithParamInterface<StreamEndCase> {};

TEST_P(ChatStreamEndTest, EndsWithTheRightStatusAfterTheMessagesSent) {
  const StreamEndCase& c = GetParam();
  std::thread upstream([&] {
    ASSERT_TRUE(client_.WaitForStarts(1));
    client_.Answer(1, c.http_status, c.content_type, {c.body});
  });
  grpc::ClientContext context;
  StreamResult result = ReadAll(context, Hello());
  upstream.join();
  EXPECT_EQ(result.status.error_code(), c.code) << result.status.error_message();
  EXPECT_EQ(static_cast<int>(result.contents.size()), c.messages);
  EXPECT_THAT(result.status.error_message(), ::testing::Not(HasSubstr("sk-unit-SECRET")));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ChatStreamEndTest,
    ::testing::Values(
        StreamEndCase{"EofAfterFinishIsOk", 200, "text/event-stream",
                      Chunk("a") + Chunk("b", "stop"), grpc::StatusCode::OK, 2},
        StreamEndCase{"EofBeforeFinishIsUnavailable", 200, "text/event-stream",
                      Chunk("a") + Chunk("b"), grpc::StatusCode::UNAVAILABLE, 2},
        StreamEndCase{"UnterminatedDoneStillEnds", 200, "text/event-stream",
                      Chunk("a") + "data: [DONE]", grpc::StatusCode::OK, 1},
        StreamEndCase{"ErrorEventAfterOutputIsInternal", 200, "text/event-stream",
                      Chunk("a") + R"(data: {"error":{"message":"boom","code":"server_error"}})"
                                   "\n\ndata: [DONE]\n\n",
                      grpc::StatusCode::INTERNAL, 1},
        StreamEndCase{"TruncatedJsonIsInternal", 200, "text/event-stream",
                      Chunk("a") + R"(data: {"id":"c1","choi)", grpc::StatusCode::INTERNAL, 1},
        StreamEndCase{"HttpErrorIsMapped", 401, "application/json",
                      R"({"error":{"message":"bad key","code":"invalid_api_key"}})",
                      grpc::StatusCode::UNAUTHENTICATED, 0},
        StreamEndCase{"HtmlFromAProxyIsUnavailable", 502, "text/html",
                      "<html><body>Bad gateway</body></html>", grpc::StatusCode::UNAVAILABLE, 0},
        StreamEndCase{"JsonInsteadOfAStreamIsInternal", 200, "application/json",
                      R"({"id":"x","choices":[]})", grpc::StatusCode::INTERNAL, 0}),
    [](const ::testing::TestParamInfo<StreamEndCase>& info) { return info.param.name; });

TEST_F(ChatServiceTest, TransportFailureMidStreamIsMapped) {
  std::thread upstream([&] {
    ASSERT_TRUE(client_.WaitForStarts(1));
    client_.Answer(1, 200, "text/event-stream", {Chunk("a")},
                   {status::TransportFailure::kIdleTimeout, "the upstream sent nothing for 7s"});
  });
  grpc::ClientContext context;
  StreamResult result = ReadAll(context, Hello());
  upstream.join();
  EXPECT_EQ(result.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(result.contents, ElementsAre("a"));
}

// A burst of events is written with gRPC's buffer hint on all but the last message; the
// last must still go out at once, while the upstream stays open and sends nothing more.
TEST_F(ChatServiceTest, EveryMessageOfABurstArrivesWhileTheUpstreamStaysOpen) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  auto reader = stub_->StreamChatCompletion(&context, Hello());
  ASSERT_TRUE(client_.WaitForStarts(1));
  client_.Answer(1, 200, "text/event-stream",
                 {absl::StrCat(Chunk("a"), Chunk("b"), Chunk("c"), Chunk("d"))}, {},
                 /*stay_open=*/true);
  std::vector<std::string> contents;
  v1::ChatCompletionChunk chunk;
  while (contents.size() < 4 && reader->Read(&chunk)) {
    contents.push_back(chunk.choices(0).delta().content());
  }
  EXPECT_THAT(contents, ElementsAre("a", "b", "c", "d"));
  context.TryCancel();
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(ChatServiceTest, CallerCancelAbortsTheTransfer) {
  grpc::ClientContext context;
  auto reader = stub_->StreamChatCompletion(&context, Hello());
  ASSERT_TRUE(client_.WaitForStarts(1));
  // The upstream stays open: only the cancel can end this transfer.
  client_.Answer(1, 200, "text/event-stream", {Chunk("a")}, {}, /*stay_open=*/true);
  v1::ChatCompletionChunk chunk;
  ASSERT_TRUE(reader->Read(&chunk));
  EXPECT_EQ(chunk.choices(0).delta().content(), "a");
  context.TryCancel();
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(client_.WaitForCancel());
  EXPECT_THAT(client_.cancel_reasons(), ::testing::Contains(status::TransportFailure::kCancelled));
}

}  // namespace
}  // namespace gengate::service
