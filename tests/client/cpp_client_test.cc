// gengate::Client against the real gengate binary: on its built-in fake upstream for every
// RPC, errors and channel options; on a scripted upstream that never answers for deadlines;
// with TLS certificates made by the openssl CLI for TLS and mTLS.
#include "gengate/client.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/gengate_process.h"
#include "testing/test_certificates.h"
#include "testing/upstream_server.h"

namespace gengate {
namespace {

using ::gengate::testing::GengateProcess;
using ::gengate::testing::RecordedRequest;
using ::gengate::testing::Responder;
using ::gengate::testing::UpstreamServer;
using ::testing::HasSubstr;
using json = nlohmann::json;
using ServingStatus = grpc::health::v1::HealthCheckResponse;

std::vector<std::string> FakeFlags() {
  return {"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0", "--upstream_url=fake",
          "--log_format=json", "--drain_timeout=1s"};
}

v1::CreateChatCompletionRequest ChatRequest(const std::string& text,
                                            const std::string& model = "gpt-4o-mini") {
  v1::CreateChatCompletionRequest request;
  request.set_model(model);
  v1::ChatMessage* message = request.add_messages();
  message->set_role(v1::ROLE_USER);
  message->set_content(text);
  return request;
}

v1::CreateEmbeddingsRequest EmbeddingsRequest(int inputs) {
  v1::CreateEmbeddingsRequest request;
  request.set_model("text-embedding-3-small");
  for (int i = 0; i < inputs; ++i) request.add_input(absl::StrCat("text number ", i));
  return request;
}

// A prompt whose echo is thousands of chunks, so a stream is still running when a test acts.
std::string LongPrompt() {
  std::vector<std::string> words(20000, "word");
  return absl::StrJoin(words, " ");
}

std::string JsonString(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// Counts gengate's "call" log lines for `request_id`, waiting until there are `at_least`.
int WaitForCallLines(const GengateProcess& gengate, const std::string& request_id,
                     int at_least) {
  int count = 0;
  gengate.WaitForJsonLine(
      [&](const json& line) {
        // The line that satisfied the wait may be looked at again: count it once.
        if (count >= at_least) return true;
        if (JsonString(line, "msg") == "call" && JsonString(line, "request_id") == request_id) {
          ++count;
        }
        return count >= at_least;
      },
      absl::Seconds(10));
  return count;
}

// One gengate on the fake upstream for the whole suite.
class CppClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gengate_ = std::make_unique<GengateProcess>(GENGATE_BINARY, FakeFlags());
    start_status_ = gengate_->Start();
  }
  static void TearDownTestSuite() { gengate_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(start_status_.ok()) << start_status_;
    client_ = std::make_unique<Client>(gengate_->listen_address());
  }

  static CallOptions WithTimeout(absl::Duration timeout = absl::Seconds(30)) {
    CallOptions options;
    options.timeout = timeout;
    return options;
  }

  static inline std::unique_ptr<GengateProcess> gengate_;
  static inline absl::Status start_status_;
  std::unique_ptr<Client> client_;
};

TEST_F(CppClientTest, CreateChatCompletionEchoesAndReportsTheRequestIds) {
  CallInfo info;
  CallOptions options = WithTimeout();
  options.request_id = "cpp-client-unary-1";
  options.info = &info;

  absl::StatusOr<v1::ChatCompletion> completion =
      client_->CreateChatCompletion(ChatRequest("Hello there"), options);

  ASSERT_TRUE(completion.ok()) << completion.status();
  ASSERT_EQ(completion->choices_size(), 1);
  EXPECT_EQ(completion->choices(0).message().content(), "Echo: Hello there");
  EXPECT_EQ(completion->choices(0).message().role(), v1::ROLE_ASSISTANT);
  EXPECT_EQ(completion->choices(0).finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_GT(completion->usage().total_tokens(), 0);
  EXPECT_EQ(info.request_id, "cpp-client-unary-1");
  EXPECT_EQ(info.upstream_request_id, "cpp-client-unary-1");
}

TEST_F(CppClientTest, StreamChatCompletionDeliversEveryChunkInOrderWithUsageLast) {
  std::vector<v1::ChatCompletionChunk> chunks;

  absl::Status status = client_->StreamChatCompletion(
      ChatRequest("Hello there"),
      [&](const v1::ChatCompletionChunk& chunk) {
        chunks.push_back(chunk);
        return true;
      },
      WithTimeout());

  ASSERT_TRUE(status.ok()) << status;
  ASSERT_GE(chunks.size(), 3u);
  std::string text;
  for (const v1::ChatCompletionChunk& chunk : chunks) {
    for (const auto& choice : chunk.choices()) text += choice.delta().content();
  }
  EXPECT_EQ(text, "Echo: Hello there");
  EXPECT_TRUE(chunks.back().has_usage());
  EXPECT_EQ(chunks.back().usage().total_tokens(),
            chunks.back().usage().prompt_tokens() + chunks.back().usage().completion_tokens());
  for (size_t i = 0; i + 1 < chunks.size(); ++i) EXPECT_FALSE(chunks[i].has_usage()) << i;
}

TEST_F(CppClientTest, StreamStopsWhenTheCallbackReturnsFalse) {
  int calls = 0;

  absl::Status status = client_->StreamChatCompletion(
      ChatRequest(LongPrompt()),
      [&](const v1::ChatCompletionChunk&) {
        ++calls;
        return calls < 3;
      },
      WithTimeout());

  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(calls, 3);
}

TEST_F(CppClientTest, StreamCancelledFromAnotherThreadEndsCancelled) {
  Cancellation cancellation;
  absl::Notification first_chunk;
  absl::Notification cancelled;
  std::thread canceller([&] {
    first_chunk.WaitForNotification();
    cancellation.Cancel();
    cancelled.Notify();
  });
  CallOptions options = WithTimeout();
  options.cancellation = &cancellation;
  int chunks = 0;

  absl::Status status = client_->StreamChatCompletion(
      ChatRequest(LongPrompt()),
      [&](const v1::ChatCompletionChunk&) {
        if (++chunks == 1) {
          first_chunk.Notify();
          // Read on only once the other thread has cancelled, so the stream cannot end first.
          cancelled.WaitForNotification();
        }
        return true;
      },
      options);
  canceller.join();

  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_LT(chunks, 20000) << "the whole stream arrived despite the cancel";
  EXPECT_TRUE(cancellation.cancelled());
}

TEST_F(CppClientTest, CallGivenACancelledCancellationDoesNotStart) {
  Cancellation cancellation;
  cancellation.Cancel();
  CallOptions options = WithTimeout();
  options.cancellation = &cancellation;
  options.request_id = "cpp-client-never-started";

  absl::StatusOr<v1::ChatCompletion> completion =
      client_->CreateChatCompletion(ChatRequest("Hi"), options);

  EXPECT_EQ(completion.status().code(), absl::StatusCode::kCancelled);
  // A marker call afterwards: its log line comes after the one the first call would have made.
  CallOptions marker = WithTimeout();
  marker.request_id = "cpp-client-never-started-marker";
  ASSERT_TRUE(client_->CreateChatCompletion(ChatRequest("Hi"), marker).ok());
  ASSERT_EQ(WaitForCallLines(*gengate_, marker.request_id, 1), 1);
  for (const std::string& line : gengate_->StdoutLines()) {
    EXPECT_THAT(line, ::testing::Not(HasSubstr("\"cpp-client-never-started\"")));
  }
}

TEST_F(CppClientTest, CreateResponseReturnsTheOutputText) {
  v1::CreateResponseRequest request;
  request.set_model("gpt-4o-mini");
  request.set_input_text("Hello there");

  absl::StatusOr<v1::Response> response = client_->CreateResponse(request, WithTimeout());

  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status(), v1::RESPONSE_STATUS_COMPLETED);
  EXPECT_THAT(response->output_text(), HasSubstr("Hello there"));
  EXPECT_GT(response->usage().total_tokens(), 0);
}

TEST_F(CppClientTest, StreamResponseDeliversTypedEventsWhoseDeltasMakeTheText) {
  v1::CreateResponseRequest request;
  request.set_model("gpt-4o-mini");
  request.set_input_text("Hello there");
  std::vector<v1::ResponseEvent> events;

  absl::Status status = client_->StreamResponse(
      request,
      [&](const v1::ResponseEvent& event) {
        events.push_back(event);
        return true;
      },
      WithTimeout());

  ASSERT_TRUE(status.ok()) << status;
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front().type(), "response.created");
  EXPECT_EQ(events.back().type(), "response.completed");
  std::string deltas;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].type() == "response.output_text.delta") deltas += events[i].delta();
    if (i > 0) {
      EXPECT_GT(events[i].sequence_number(), events[i - 1].sequence_number());
    }
  }
  EXPECT_EQ(deltas, events.back().response().output_text());
  EXPECT_THAT(deltas, HasSubstr("Hello there"));
}

TEST_F(CppClientTest, GenerateImagesReturnsPngBytes) {
  v1::GenerateImagesRequest request;
  request.set_model("gpt-image-1");
  request.set_prompt("a red bicycle");
  request.set_n(2);
  request.set_response_format(v1::IMAGE_RESPONSE_FORMAT_IMAGE_DATA);

  absl::StatusOr<v1::ImagesResponse> images = client_->GenerateImages(request, WithTimeout());

  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_EQ(images->data_size(), 2);
  for (const v1::Image& image : images->data()) {
    EXPECT_TRUE(absl::StartsWith(image.image_data(), "\x89PNG\r\n\x1a\n"));
  }
}

TEST_F(CppClientTest, EditImageUploadsTheImageAndTheMask) {
  v1::EditImageRequest request;
  request.set_model("gpt-image-1");
  request.set_prompt("add a hat");
  request.set_response_format(v1::IMAGE_RESPONSE_FORMAT_IMAGE_DATA);
  v1::InputImage* image = request.add_images();
  image->set_data("\x89PNG\r\n\x1a\nnot really");
  image->set_filename("cat.png");
  image->set_mime_type("image/png");
  request.mutable_mask()->set_data("\x89PNG\r\n\x1a\nmask");
  request.mutable_mask()->set_filename("mask.png");

  absl::StatusOr<v1::ImagesResponse> images = client_->EditImage(request, WithTimeout());

  ASSERT_TRUE(images.ok()) << images.status();
  ASSERT_EQ(images->data_size(), 1);
  EXPECT_TRUE(absl::StartsWith(images->data(0).image_data(), "\x89PNG"));
  EXPECT_EQ(images->data(0).revised_prompt(), "A fake edit of 1 image with a mask: add a hat");
}

TEST_F(CppClientTest, CreateEmbeddingsReturnsOneUnitVectorPerInputInOrder) {
  absl::StatusOr<v1::CreateEmbeddingsResponse> embeddings =
      client_->CreateEmbeddings(EmbeddingsRequest(3), WithTimeout());

  ASSERT_TRUE(embeddings.ok()) << embeddings.status();
  ASSERT_EQ(embeddings->data_size(), 3);
  for (int i = 0; i < 3; ++i) {
    const v1::Embedding& embedding = embeddings->data(i);
    EXPECT_EQ(embedding.index(), i);
    ASSERT_GT(embedding.embedding_size(), 0);
    double norm = 0;
    for (float value : embedding.embedding()) norm += double{value} * value;
    EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-3);
  }
  EXPECT_NE(embeddings->data(0).embedding(0), embeddings->data(1).embedding(0));
}

TEST_F(CppClientTest, CheckHealthReportsServingAndNotFoundForAnUnknownService) {
  absl::StatusOr<ServingStatus::ServingStatus> whole = client_->CheckHealth("", WithTimeout());
  absl::StatusOr<ServingStatus::ServingStatus> chat =
      client_->CheckHealth("gengate.v1.ChatService", WithTimeout());
  absl::StatusOr<ServingStatus::ServingStatus> unknown =
      client_->CheckHealth("no.such.Service", WithTimeout());

  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(*whole, ServingStatus::SERVING);
  ASSERT_TRUE(chat.ok()) << chat.status();
  EXPECT_EQ(*chat, ServingStatus::SERVING);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CppClientTest, UpstreamErrorComesBackWithItsErrorInfoReasonAndRetryDelay) {
  absl::StatusOr<v1::ChatCompletion> completion =
      client_->CreateChatCompletion(ChatRequest("Hi", "fake-error-429"), WithTimeout());

  ASSERT_EQ(completion.status().code(), absl::StatusCode::kResourceExhausted)
      << completion.status();
  EXPECT_EQ(ErrorReason(completion.status()), "rate_limit_exceeded");
  std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(completion.status());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->metadata().at("http_status"), "429");
  EXPECT_FALSE(info->domain().empty());
  EXPECT_EQ(RetryDelayOf(completion.status()), absl::Seconds(1));
}

TEST_F(CppClientTest, OwnValidationErrorHasNoErrorInfo) {
  absl::StatusOr<v1::CreateEmbeddingsResponse> embeddings = [&] {
    v1::CreateEmbeddingsRequest request = EmbeddingsRequest(1);
    request.clear_model();
    return client_->CreateEmbeddings(request, WithTimeout());
  }();

  EXPECT_EQ(embeddings.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(embeddings.status()), "");
  EXPECT_FALSE(RetryDelayOf(embeddings.status()).has_value());
}

TEST_F(CppClientTest, ErrorHelpersOnStatusesWithoutDetails) {
  EXPECT_EQ(ErrorReason(absl::OkStatus()), "");
  absl::Status garbage = absl::UnavailableError("x");
  garbage.SetPayload(kStatusDetailsTypeUrl, absl::Cord("\xff\xff not a proto"));
  EXPECT_FALSE(ErrorInfoOf(garbage).has_value());
}

TEST_F(CppClientTest, ReceiveLimitRejectsALargerAnswer) {
  ClientOptions options;
  options.max_receive_message_bytes = 4096;
  Client small(gengate_->listen_address(), options);

  // 8 vectors of 1536 floats: about 50 kB.
  absl::StatusOr<v1::CreateEmbeddingsResponse> rejected =
      small.CreateEmbeddings(EmbeddingsRequest(8), WithTimeout());
  absl::StatusOr<v1::CreateEmbeddingsResponse> accepted =
      client_->CreateEmbeddings(EmbeddingsRequest(8), WithTimeout());

  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kResourceExhausted) << rejected.status();
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_GT(accepted->ByteSizeLong(), 4096u);
}

TEST_F(CppClientTest, SendLimitRejectsALargerRequestBeforeItLeaves) {
  ClientOptions options;
  options.max_send_message_bytes = 1024;
  Client small(gengate_->listen_address(), options);
  CallOptions call = WithTimeout();
  call.request_id = "cpp-client-too-large";

  absl::StatusOr<v1::ChatCompletion> rejected =
      small.CreateChatCompletion(ChatRequest(std::string(4096, 'a')), call);

  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kResourceExhausted) << rejected.status();
  EXPECT_TRUE(small.CreateChatCompletion(ChatRequest("short"), WithTimeout()).ok());
}

// A ChatService that fails UNAVAILABLE, with no message and no custom initial metadata (a
// Trailers-Only answer, which is what gRPC may retry), until its `failures` are used up.
class FlakyChatService final : public v1::ChatService::Service {
 public:
  explicit FlakyChatService(int failures) : failures_(failures) {}

  grpc::Status CreateChatCompletion(grpc::ServerContext*, const v1::CreateChatCompletionRequest*,
                                    v1::ChatCompletion* response) override {
    if (calls_.fetch_add(1) < failures_) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "try again");
    }
    response->set_id("flaky-ok");
    return grpc::Status::OK;
  }
  int calls() const { return calls_.load(); }

 private:
  const int failures_;
  std::atomic<int> calls_{0};
};

struct FlakyServer {
  explicit FlakyServer(int failures) : service(failures) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
  }
  ~FlakyServer() { server->Shutdown(); }
  std::string address() const { return absl::StrCat("127.0.0.1:", port); }

  FlakyChatService service;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

TEST(CppClientRetryTest, RetryPolicyRetriesUnavailableUntilItSucceeds) {
  FlakyServer flaky(/*failures=*/2);
  ASSERT_NE(flaky.server, nullptr);
  ClientOptions options;
  options.retry.max_attempts = 3;
  options.retry.initial_backoff = absl::Milliseconds(10);
  Client client(flaky.address(), options);
  CallOptions call;
  call.timeout = absl::Seconds(30);

  absl::StatusOr<v1::ChatCompletion> completion =
      client.CreateChatCompletion(ChatRequest("Hi"), call);

  ASSERT_TRUE(completion.ok()) << completion.status();
  EXPECT_EQ(completion->id(), "flaky-ok");
  EXPECT_EQ(flaky.service.calls(), 3);
}

TEST(CppClientRetryTest, RetriesStopAtMaxAttempts) {
  FlakyServer flaky(/*failures=*/10);
  ASSERT_NE(flaky.server, nullptr);
  ClientOptions options;
  options.retry.max_attempts = 2;
  options.retry.initial_backoff = absl::Milliseconds(10);
  Client client(flaky.address(), options);
  CallOptions call;
  call.timeout = absl::Seconds(30);

  absl::StatusOr<v1::ChatCompletion> completion =
      client.CreateChatCompletion(ChatRequest("Hi"), call);

  EXPECT_EQ(completion.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(flaky.service.calls(), 2);
}

TEST(CppClientRetryTest, WithoutRetriesUnavailableIsTriedOnce) {
  FlakyServer flaky(/*failures=*/1);
  ASSERT_NE(flaky.server, nullptr);
  ClientOptions options;
  options.retry.enabled = false;
  Client client(flaky.address(), options);
  CallOptions call;
  call.timeout = absl::Seconds(30);

  absl::StatusOr<v1::ChatCompletion> completion =
      client.CreateChatCompletion(ChatRequest("Hi"), call);

  EXPECT_EQ(completion.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(flaky.service.calls(), 1);
}

TEST(CppClientOptionsTest, ServiceConfigIsJsonWithTheBalancerAndRetryPolicy) {
  ClientOptions options;
  json config = json::parse(MakeServiceConfigJson(options), nullptr, false);

  ASSERT_TRUE(config.is_object()) << MakeServiceConfigJson(options);
  EXPECT_TRUE(config["loadBalancingConfig"][0].contains("round_robin"));
  const json& retry = config["methodConfig"][0]["retryPolicy"];
  EXPECT_EQ(retry["maxAttempts"], 3);
  EXPECT_EQ(retry["retryableStatusCodes"], json::array({"UNAVAILABLE"}));
  EXPECT_EQ(retry["initialBackoff"], "0.100s");
  EXPECT_EQ(config["methodConfig"][0]["name"].size(), 5u);

  options.retry.enabled = false;
  options.load_balancing_policy = "pick_first";
  json plain = json::parse(MakeServiceConfigJson(options), nullptr, false);
  EXPECT_FALSE(plain.contains("methodConfig"));
  EXPECT_TRUE(plain["loadBalancingConfig"][0].contains("pick_first"));
}

TEST(CppClientOptionsTest, ChannelArgumentsCarryKeepaliveAndMessageLimits) {
  ClientOptions options;
  options.keepalive_time = absl::Seconds(20);
  options.keepalive_timeout = absl::Seconds(5);
  grpc::ChannelArguments arguments = MakeChannelArguments(options);
  grpc_channel_args args = arguments.c_channel_args();
  std::map<std::string, int> ints;
  for (size_t i = 0; i < args.num_args; ++i) {
    if (args.args[i].type == GRPC_ARG_INTEGER) ints[args.args[i].key] = args.args[i].value.integer;
  }

  EXPECT_EQ(ints[GRPC_ARG_KEEPALIVE_TIME_MS], 20000);
  EXPECT_EQ(ints[GRPC_ARG_KEEPALIVE_TIMEOUT_MS], 5000);
  EXPECT_EQ(ints[GRPC_ARG_MAX_SEND_MESSAGE_LENGTH], 64 << 20);
  EXPECT_EQ(ints[GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH], 64 << 20);
  EXPECT_EQ(ints[GRPC_ARG_ENABLE_RETRIES], 1);
}

// round_robin over two gengates: calls reach both; pick_first sends them all to one.
TEST(CppClientBalancingTest, RoundRobinSpreadsCallsOverEveryAddress) {
  GengateProcess first(GENGATE_BINARY, FakeFlags());
  GengateProcess second(GENGATE_BINARY, FakeFlags());
  ASSERT_TRUE(first.Start().ok());
  ASSERT_TRUE(second.Start().ok());
  const std::string target =
      absl::StrCat("ipv4:", first.listen_address(), ",", second.listen_address());
  auto calls_on = [](const GengateProcess& gengate, const std::string& prefix) {
    int count = 0;
    for (const std::string& line : gengate.StdoutLines()) {
      std::optional<json> parsed = testing::ParseJsonObject(line);
      if (parsed.has_value() && absl::StartsWith(JsonString(*parsed, "request_id"), prefix)) {
        ++count;
      }
    }
    return count;
  };
  auto run = [&](const std::string& policy) {
    ClientOptions options;
    options.load_balancing_policy = policy;
    Client client(target, options);
    for (int i = 0; i < 10; ++i) {
      CallOptions call;
      call.timeout = absl::Seconds(30);
      call.request_id = absl::StrCat(policy, "-", i);
      ASSERT_TRUE(client.CreateChatCompletion(ChatRequest("Hi"), call).ok());
    }
  };

  run("round_robin");
  run("pick_first");

  // Each call was logged before it was answered, so all lines are in the pipes; a marker call
  // on each process makes sure the reader threads have read past them.
  for (GengateProcess* gengate : {&first, &second}) {
    Client direct(gengate->listen_address());
    CallOptions marker;
    marker.request_id = "marker";
    ASSERT_TRUE(direct.CreateChatCompletion(ChatRequest("Hi"), marker).ok());
    ASSERT_EQ(WaitForCallLines(*gengate, "marker", 1), 1);
  }
  EXPECT_GT(calls_on(first, "round_robin-"), 0);
  EXPECT_GT(calls_on(second, "round_robin-"), 0);
  EXPECT_EQ(calls_on(first, "round_robin-") + calls_on(second, "round_robin-"), 10);
  EXPECT_THAT(calls_on(first, "pick_first-"), ::testing::AnyOf(0, 10));
  EXPECT_EQ(calls_on(first, "pick_first-") + calls_on(second, "pick_first-"), 10);
}

// gengate in front of an upstream that accepts the request and never answers.
TEST(CppClientDeadlineTest, CallDeadlineExpiresWhileTheUpstreamStalls) {
  UpstreamServer upstream;
  ASSERT_TRUE(upstream.Start().ok());
  std::shared_ptr<testing::Gate> gate = upstream.NewGate();
  upstream.Handle("/v1/chat/completions", [gate](const RecordedRequest&, Responder&) {
    gate->Wait(absl::Seconds(60));
  });
  std::vector<std::string> flags = FakeFlags();
  flags[2] = absl::StrCat("--upstream_url=", upstream.base_url(), "/v1");
  GengateProcess gengate(GENGATE_BINARY, flags, {{"GENGATE_UPSTREAM_API_KEY", "sk-test"}});
  ASSERT_TRUE(gengate.Start().ok()) << gengate.OutputText();
  Client client(gengate.listen_address());
  CallOptions call;
  call.timeout = absl::Milliseconds(500);

  const absl::Time start = absl::Now();
  absl::StatusOr<v1::ChatCompletion> unary = client.CreateChatCompletion(ChatRequest("Hi"), call);
  const absl::Duration unary_took = absl::Now() - start;
  call.timeout.reset();
  call.deadline = absl::Now() + absl::Milliseconds(500);
  absl::Status stream = client.StreamChatCompletion(
      ChatRequest("Hi"), [](const v1::ChatCompletionChunk&) { return true; }, call);

  EXPECT_EQ(unary.status().code(), absl::StatusCode::kDeadlineExceeded) << unary.status();
  EXPECT_GE(unary_took, absl::Milliseconds(450));
  EXPECT_LT(unary_took, absl::Seconds(10));
  EXPECT_EQ(stream.code(), absl::StatusCode::kDeadlineExceeded) << stream;
  EXPECT_TRUE(upstream.WaitForRequests(2, absl::Seconds(10)));
  gate->Open();
}

// ---------------------------------------------------------------------------------------
// TLS and mTLS, with certificates made by the openssl CLI (testing/test_certificates.h).

class CppClientTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = absl::StrCat(::testing::TempDir(), "/gengate_cpp_client_tls_", getpid());
    certificates_ = gengate::testing::MakeTestCertificates(dir_);
  }

  void SetUp() override { ASSERT_TRUE(certificates_.ok()) << certificates_; }

  static std::string Path(const std::string& name) { return absl::StrCat(dir_, "/", name); }

  static inline std::string dir_;
  static inline absl::Status certificates_;
};

TEST_F(CppClientTlsTest, MtlsNeedsTheClientCertificate) {
  std::vector<std::string> flags = FakeFlags();
  flags.push_back("--tls_cert=" + Path("server.pem"));
  flags.push_back("--tls_key=" + Path("server.key"));
  flags.push_back("--tls_client_ca=" + Path("ca.pem"));
  GengateProcess gengate(GENGATE_BINARY, flags);
  ASSERT_TRUE(gengate.Start().ok()) << gengate.OutputText();
  CallOptions call;
  call.timeout = absl::Seconds(10);

  absl::StatusOr<TlsOptions> with_cert =
      TlsOptions::FromFiles(Path("ca.pem"), Path("client.pem"), Path("client.key"));
  ASSERT_TRUE(with_cert.ok()) << with_cert.status();
  with_cert->server_name_override = "localhost";
  ClientOptions mtls;
  mtls.tls = *with_cert;
  absl::StatusOr<TlsOptions> without_cert = TlsOptions::FromFiles(Path("ca.pem"));
  ASSERT_TRUE(without_cert.ok());
  without_cert->server_name_override = "localhost";
  ClientOptions tls_only;
  tls_only.tls = *without_cert;

  absl::StatusOr<v1::ChatCompletion> accepted =
      Client(gengate.listen_address(), mtls).CreateChatCompletion(ChatRequest("Hi"), call);
  absl::StatusOr<v1::ChatCompletion> refused =
      Client(gengate.listen_address(), tls_only).CreateChatCompletion(ChatRequest("Hi"), call);
  absl::StatusOr<v1::ChatCompletion> plaintext =
      Client(gengate.listen_address()).CreateChatCompletion(ChatRequest("Hi"), call);

  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(accepted->choices(0).message().content(), "Echo: Hi");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_EQ(plaintext.status().code(), absl::StatusCode::kUnavailable) << plaintext.status();
}

TEST(CppClientTlsFilesTest, MissingFilesAndHalfAPairAreErrors) {
  EXPECT_EQ(TlsOptions::FromFiles("/nonexistent/ca.pem").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(TlsOptions::FromFiles("", "/some/cert.pem").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace gengate
