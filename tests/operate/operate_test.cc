// What an SRE checks before accepting gengate: the real binary's gRPC health service and
// reflection, the admin listener (/metrics, /healthz, /readyz), call log lines, the drain on
// SIGTERM, connection recycling and TLS / mTLS, all through real clients on 127.0.0.1.
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <ostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gengate/v1/chat.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "testing/gengate_process.h"
#include "testing/test_certificates.h"
#include "testing/upstream_server.h"

namespace gengate::operate {
namespace {

using ::gengate::testing::EnvironmentList;
using ::gengate::testing::ExitResult;
using ::gengate::testing::GengateProcess;
using ::gengate::testing::RecordedRequest;
using ::gengate::testing::Responder;
using ::gengate::testing::UpstreamServer;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

namespace v1 = ::gengate::v1;
namespace reflection = ::grpc::reflection::v1alpha;

// Recognizable, so that a leak anywhere in the output is easy to spot.
constexpr char kApiKey[] = "sk-operate-SECRET-5678";
// A prompt phrase that must never reach the logs without --log_payloads.
constexpr char kPromptPhrase[] = "purple elephants juggle quietly";
constexpr char kChatPath[] = "/openai/chat/completions";
constexpr char kUnaryMethod[] = "/gengate.v1.ChatService/CreateChatCompletion";
constexpr char kChatLabels[] =
    "service=\"gengate.v1.ChatService\",method=\"CreateChatCompletion\"";
constexpr char kStreamLabels[] =
    "service=\"gengate.v1.ChatService\",method=\"StreamChatCompletion\"";

const std::vector<std::string>& GengateServices() {
  static const auto* const kServices = new std::vector<std::string>{
      "gengate.v1.ChatService", "gengate.v1.ResponsesService", "gengate.v1.ImagesService",
      "gengate.v1.EmbeddingsService"};
  return *kServices;
}

// ---------------------------------------------------------------------------------------
// Helpers.

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

v1::CreateChatCompletionRequest UserRequest(const std::string& model, const std::string& text) {
  v1::CreateChatCompletionRequest request;
  request.set_model(model);
  v1::ChatMessage* message = request.add_messages();
  message->set_role(v1::ROLE_USER);
  message->set_content(text);
  return request;
}

std::string JsonString(const json& line, const char* key) {
  auto it = line.find(key);
  return it != line.end() && it->is_string() ? it->get<std::string>() : "";
}

struct HttpAnswer {
  int status = 0;  // 0: no answer
  std::string body;
  std::string content_type;
};

// GET http://ADDRESS/path, where ADDRESS is host:port.
HttpAnswer HttpGet(const std::string& address, const std::string& path) {
  const std::size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return {};
  }
  httplib::Client client(address.substr(0, colon), port);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  httplib::Result result = client.Get(path.c_str());
  if (!result) return {};
  return {result->status, result->body, result->get_header_value("Content-Type")};
}

// Prometheus text exposition parsed into "name{labels}" -> value; `errors` lists the lines
// that do not follow the format, and the families whose samples come without HELP and TYPE.
struct Metrics {
  std::map<std::string, double> samples;
  std::vector<std::string> errors;

  // The value of a series, or 0 when it does not exist (yet).
  double Value(const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? 0 : it->second;
  }
  bool Has(const std::string& series) const { return samples.count(series) > 0; }
};

Metrics ParseMetrics(const std::string& text) {
  Metrics metrics;
  std::map<std::string, int> headers;  // family -> HELP and TYPE lines seen
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "# HELP ") || absl::StartsWith(line, "# TYPE ")) {
      std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (parts.size() < 4) metrics.errors.push_back(std::string(line));
      else ++headers[parts[2]];
      continue;
    }
    const std::size_t space = line.rfind(' ');
    double value = 0;
    const absl::string_view value_text = line.substr(space + 1);
    if (space == absl::string_view::npos ||
        !(absl::SimpleAtod(value_text, &value) || value_text == "+Inf" || value_text == "NaN")) {
      metrics.errors.push_back(std::string(line));
      continue;
    }
    const std::string series(line.substr(0, space));
    std::string family = series.substr(0, series.find('{'));
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (headers.count(family) == 0 && absl::EndsWith(family, suffix)) {
        family = family.substr(0, family.size() - std::string(suffix).size());
      }
    }
    if (headers[family] != 2) metrics.errors.push_back(absl::StrCat("no HELP/TYPE: ", series));
    metrics.samples[series] = value;
  }
  return metrics;
}

Metrics Scrape(const std::string& admin) {
  HttpAnswer answer = HttpGet(admin, "/metrics");
  EXPECT_EQ(answer.status, 200);
  Metrics metrics = ParseMetrics(answer.body);
  EXPECT_THAT(metrics.errors, ::testing::IsEmpty());
  return metrics;
}

std::optional<HealthCheckResponse::ServingStatus> CheckHealth(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
    grpc::Status* status_out = nullptr) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(10));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (status_out != nullptr) *status_out = status;
  if (!status.ok()) return std::nullopt;
  return response.status();
}

std::optional<google::rpc::ErrorInfo> ErrorInfoOf(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    return std::nullopt;
  }
  for (const google::protobuf::Any& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return info;
  }
  return std::nullopt;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// One SSE event carrying a chat chunk with `content` (and usage when tokens are given).
std::string ChunkEvent(const std::string& content, const char* finish = nullptr,
                       int prompt_tokens = 0, int completion_tokens = 0) {
  json choice = {{"index", 0}, {"delta", {{"content", content}}}};
  choice["finish_reason"] = finish == nullptr ? json(nullptr) : json(finish);
  json chunk = {{"id", "chatcmpl-op"},   {"object", "chat.completion.chunk"},
                {"created", 1700000000}, {"model", "gpt-test"},
                {"choices", json::array({choice})}};
  if (prompt_tokens > 0 || completion_tokens > 0) {
    chunk["usage"] = {{"prompt_tokens", prompt_tokens},
                      {"completion_tokens", completion_tokens},
                      {"total_tokens", prompt_tokens + completion_tokens}};
  }
  return absl::StrCat("data: ", chunk.dump(), "\n\n");
}

const testing::HeaderList& SseHeaders() {
  static const auto* const kHeaders = new testing::HeaderList{
      {"Content-Type", "text/event-stream"}, {"Connection", "close"}};
  return *kHeaders;
}

// The scheduling policy of each of the process's threads, by thread id (threads that exit
// while they are listed are left out).
std::map<pid_t, int> ThreadPolicies(pid_t pid) {
  std::map<pid_t, int> policies;
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* tasks = opendir(dir.c_str());
  if (tasks == nullptr) return policies;
  while (const dirent* entry = readdir(tasks)) {
    pid_t tid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &tid)) continue;
    const int policy = sched_getscheduler(tid);
    if (policy >= 0) policies[tid] = policy;
  }
  closedir(tasks);
  return policies;
}

std::vector<std::string> BaseFlags(const std::string& upstream_url) {
  return {"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
          absl::StrCat("--upstream_url=", upstream_url), "--drain_timeout=2s"};
}

// One CreateChatCompletion over `channel`, with a 30 s deadline.
grpc::Status UnaryChatOn(const std::shared_ptr<grpc::Channel>& channel,
                         const v1::CreateChatCompletionRequest& request,
                         v1::ChatCompletion* completion, const std::string& request_id = "") {
  auto stub = v1::ChatService::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  if (!request_id.empty()) context.AddMetadata("x-request-id", request_id);
  return stub->CreateChatCompletion(&context, request, completion);
}

// Every thread of the process runs under `policy`; the gRPC threads and the event loop exist
// once a call went through, so there are more than a few.
void ExpectEveryThreadRuns(pid_t pid, int policy) {
  const std::map<pid_t, int> policies = ThreadPolicies(pid);
  ASSERT_GT(policies.size(), 3u) << "the gRPC threads and the event loop are missing";
  for (const auto& [tid, actual] : policies) {
    EXPECT_EQ(actual, policy) << "thread " << tid;
  }
}

// BaseFlags on the built-in fake upstream, and one more.
std::vector<std::string> FakeFlagsWith(std::string flag) {
  std::vector<std::string> flags = BaseFlags("fake");
  flags.push_back(std::move(flag));
  return flags;
}

// ---------------------------------------------------------------------------------------
// One gengate on the built-in fake upstream, shared by the suite.

class OperateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gengate_ = std::make_unique<GengateProcess>(
        GENGATE_BINARY, BaseFlags("fake"),
        EnvironmentList{{"GENGATE_UPSTREAM_API_KEY", kApiKey}});
    start_status_ = gengate_->Start();
  }
  static void TearDownTestSuite() { gengate_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(start_status_.ok()) << start_status_;
    admin_ = JsonString(gengate_->serving_line(), "admin_listen");
    ASSERT_FALSE(admin_.empty()) << gengate_->serving_line().dump();
  }

  void TearDown() override {
    if (!start_status_.ok()) return;
    for (const std::string& line : gengate_->OutputLines()) {
      EXPECT_THAT(line, Not(HasSubstr(kApiKey))) << "the API key leaked into the output";
    }
  }

  static grpc::Status UnaryChat(const v1::CreateChatCompletionRequest& request,
                                v1::ChatCompletion* completion,
                                const std::string& request_id = "") {
    return UnaryChatOn(gengate_->channel(), request, completion, request_id);
  }

  static inline std::unique_ptr<GengateProcess> gengate_;
  static inline absl::Status start_status_;
  std::string admin_;
};

TEST_F(OperateTest, ServingLineNamesTheBoundAdminAddress) {
  const json& line = gengate_->serving_line();

  EXPECT_TRUE(absl::StartsWith(admin_, "127.0.0.1:")) << admin_;
  EXPECT_NE(admin_, "127.0.0.1:0");
  EXPECT_EQ(JsonString(line, "tls"), "off");
  EXPECT_EQ(JsonString(line, "upstream_ca"), "none");  // a plain-http upstream
  EXPECT_EQ(line.value("reflection", false), true);
}

// The default --sched_batch: every thread, the ones gRPC and the event loop start once calls
// arrive included, runs as SCHED_BATCH.
TEST_F(OperateTest, EveryThreadRunsAsSchedBatch) {
  v1::ChatCompletion completion;
  ASSERT_TRUE(UnaryChat(UserRequest("fake-model", "hi"), &completion).ok());

  EXPECT_EQ(JsonString(gengate_->serving_line(), "scheduling"), "batch");
  ExpectEveryThreadRuns(gengate_->pid(), SCHED_BATCH);
}

class OperateHealthTest : public OperateTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(OperateHealthTest, CheckAnswersServing) {
  grpc::Status status;
  std::optional<HealthCheckResponse::ServingStatus> serving =
      CheckHealth(gengate_->channel(), GetParam(), &status);

  ASSERT_TRUE(serving.has_value()) << status.error_message();
  EXPECT_EQ(*serving, HealthCheckResponse::SERVING);
}

INSTANTIATE_TEST_SUITE_P(ServerAndEachService, OperateHealthTest,
                         ::testing::Values("", "gengate.v1.ChatService",
                                           "gengate.v1.ResponsesService",
                                           "gengate.v1.ImagesService",
                                           "gengate.v1.EmbeddingsService"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           if (info.param.empty()) return std::string("Overall");
                           return info.param.substr(info.param.rfind('.') + 1);
                         });

TEST_F(OperateTest, HealthCheckOfAnUnknownServiceIsNotFound) {
  grpc::Status status;
  std::optional<HealthCheckResponse::ServingStatus> serving =
      CheckHealth(gengate_->channel(), "gengate.v1.NoSuchService", &status);

  EXPECT_FALSE(serving.has_value());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

// Sends one reflection request and returns the answer (or the call's error).
absl::StatusOr<reflection::ServerReflectionResponse> Reflect(
    const std::shared_ptr<grpc::Channel>& channel,
    const reflection::ServerReflectionRequest& request) {
  auto stub = reflection::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(10));
  auto stream = stub->ServerReflectionInfo(&context);
  reflection::ServerReflectionResponse response;
  const bool answered = stream->Write(request) && stream->WritesDone() && stream->Read(&response);
  reflection::ServerReflectionResponse extra;
  while (stream->Read(&extra)) {
  }
  grpc::Status status = stream->Finish();
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  if (!answered) return absl::UnknownError("no reflection answer");
  return response;
}

TEST_F(OperateTest, ReflectionListsTheGengateServices) {
  reflection::ServerReflectionRequest request;
  request.set_list_services("*");

  absl::StatusOr<reflection::ServerReflectionResponse> response =
      Reflect(gengate_->channel(), request);

  ASSERT_TRUE(response.ok()) << response.status();
  std::vector<std::string> names;
  for (const reflection::ServiceResponse& service : response->list_services_response().service()) {
    names.push_back(service.name());
  }
  for (const std::string& service : GengateServices()) EXPECT_THAT(names, Contains(service));
  EXPECT_THAT(names, Contains("grpc.health.v1.Health"));
}

TEST_F(OperateTest, ReflectionDescribesTheChatService) {
  reflection::ServerReflectionRequest request;
  request.set_file_containing_symbol("gengate.v1.ChatService");

  absl::StatusOr<reflection::ServerReflectionResponse> response =
      Reflect(gengate_->channel(), request);

  ASSERT_TRUE(response.ok()) << response.status();
  bool found = false;
  for (const std::string& bytes : response->file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto file;
    ASSERT_TRUE(file.ParseFromString(bytes));
    if (file.name() != "gengate/v1/chat.proto") continue;
    for (const auto& service : file.service()) {
      if (service.name() != "ChatService") continue;
      for (const auto& method : service.method()) {
        if (method.name() == "StreamChatCompletion") found = method.server_streaming();
      }
    }
  }
  EXPECT_TRUE(found) << "no streaming StreamChatCompletion in the reflected chat.proto";
}

TEST_F(OperateTest, HealthzAndReadyzAnswerWhileServing) {
  HttpAnswer healthz = HttpGet(admin_, "/healthz");
  HttpAnswer readyz = HttpGet(admin_, "/readyz");

  EXPECT_EQ(healthz.status, 200);
  EXPECT_EQ(healthz.body, "ok\n");
  EXPECT_EQ(readyz.status, 200);
  EXPECT_EQ(readyz.body, "serving\n");
}

TEST_F(OperateTest, MetricsAreWellFormedPrometheusText) {
  HttpAnswer answer = HttpGet(admin_, "/metrics");

  ASSERT_EQ(answer.status, 200);
  EXPECT_EQ(answer.content_type, "text/plain; version=0.0.4; charset=utf-8");
  Metrics metrics = ParseMetrics(answer.body);
  EXPECT_THAT(metrics.errors, ::testing::IsEmpty());
  // Every histogram's +Inf bucket equals its count.
  for (const auto& [series, value] : metrics.samples) {
    const std::size_t at = series.find("_bucket{");
    if (at == std::string::npos || !absl::EndsWith(series, ",le=\"+Inf\"}")) continue;
    const std::string labels = series.substr(at + 8, series.size() - at - 8 - 12);
    const std::string count =
        absl::StrCat(series.substr(0, at), "_count", labels.empty() ? "" : "{", labels,
                     labels.empty() ? "" : "}");
    EXPECT_EQ(metrics.Value(count), value) << series;
  }
}

TEST_F(OperateTest, MetricsCountCallsByCodeAndTokensByModel) {
  const Metrics before = Scrape(admin_);
  v1::ChatCompletion completion;
  grpc::Status ok = UnaryChat(UserRequest("gpt-operate-metrics", "Hello"), &completion);
  v1::ChatCompletion unused;
  grpc::Status invalid = UnaryChat(UserRequest("", "no model"), &unused);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  ASSERT_EQ(invalid.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << invalid.error_message();
  ASSERT_TRUE(completion.has_usage());
  ASSERT_GT(completion.usage().completion_tokens(), 0);

  const Metrics after = Scrape(admin_);

  const auto delta = [&](const std::string& series) {
    return after.Value(series) - before.Value(series);
  };
  EXPECT_EQ(delta(absl::StrCat("gengate_requests_total{", kChatLabels, ",code=\"OK\"}")), 1);
  EXPECT_EQ(delta(absl::StrCat("gengate_requests_total{", kChatLabels,
                               ",code=\"INVALID_ARGUMENT\"}")),
            1);
  EXPECT_EQ(delta(absl::StrCat("gengate_request_duration_seconds_count{", kChatLabels, "}")), 2);
  // Only the answered call had an answer to decode.
  EXPECT_EQ(delta(absl::StrCat("gengate_answer_decode_seconds_count{", kChatLabels, "}")), 1);
  EXPECT_GT(delta(absl::StrCat("gengate_answer_decode_seconds_sum{", kChatLabels, "}")), 0);
  EXPECT_EQ(after.Value("gengate_tokens_total{model=\"gpt-operate-metrics\",direction=\"input\"}"),
            completion.usage().prompt_tokens());
  EXPECT_EQ(
      after.Value("gengate_tokens_total{model=\"gpt-operate-metrics\",direction=\"output\"}"),
      completion.usage().completion_tokens());
  // Only the valid call reached the upstream.
  EXPECT_EQ(delta("gengate_upstream_requests_total{endpoint=\"/chat/completions\",status=\"200\"}"),
            1);
  EXPECT_GT(
      delta("gengate_upstream_bytes_total{endpoint=\"/chat/completions\",direction=\"sent\"}"),
      0);
  EXPECT_GT(
      delta("gengate_upstream_bytes_total{endpoint=\"/chat/completions\",direction=\"received\"}"),
      0);
  EXPECT_EQ(after.Value("gengate_active_calls"), 0);
  // The connection pool: the call took a connection (opened now or earlier) and gave it back.
  EXPECT_EQ(after.Value("gengate_upstream_requests_in_flight"), 0);
  EXPECT_GE(after.Value("gengate_upstream_connections_opened_total"), 1);
  EXPECT_LE(after.Value("gengate_upstream_connections"),
            after.Value("gengate_upstream_connections_opened_total"));
  EXPECT_EQ(after.Value("gengate_upstream_connections_max"), 64);  // the default
}

TEST_F(OperateTest, MetricsRecordStreamsAndTheirFirstMessage) {
  const Metrics before = Scrape(admin_);
  auto stub = v1::ChatService::NewStub(gengate_->channel());
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  auto reader = stub->StreamChatCompletion(&context, UserRequest("gpt-operate-stream", "Hi"));
  v1::ChatCompletionChunk chunk;
  int messages = 0;
  int output_tokens = 0;
  while (reader->Read(&chunk)) {
    ++messages;
    if (chunk.has_usage()) output_tokens = chunk.usage().completion_tokens();
  }
  grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_GT(output_tokens, 0);

  const Metrics after = Scrape(admin_);

  const auto delta = [&](const std::string& series) {
    return after.Value(series) - before.Value(series);
  };
  EXPECT_EQ(delta(absl::StrCat("gengate_requests_total{", kStreamLabels, ",code=\"OK\"}")), 1);
  EXPECT_EQ(delta(absl::StrCat("gengate_stream_first_message_seconds_count{", kStreamLabels, "}")),
            1);
  EXPECT_EQ(delta(absl::StrCat("gengate_stream_messages_total{", kStreamLabels, "}")), messages);
  EXPECT_GT(delta(absl::StrCat("gengate_stream_sent_bytes_total{", kStreamLabels, "}")), 0);
  EXPECT_EQ(after.Value("gengate_tokens_total{model=\"gpt-operate-stream\",direction=\"output\"}"),
            output_tokens);
  EXPECT_EQ(after.Value("gengate_active_streams"), 0);
}

TEST_F(OperateTest, MetricsExposeProcessMemoryAndFileDescriptors) {
  const Metrics metrics = Scrape(admin_);

  EXPECT_GT(metrics.Value("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(metrics.Value("process_open_fds"), 3);
  EXPECT_GE(metrics.Value("process_max_fds"), metrics.Value("process_open_fds"));
  EXPECT_TRUE(metrics.Has("process_cpu_seconds_total"));
  EXPECT_GT(metrics.Value("process_start_time_seconds"), 1577836800);
}

TEST_F(OperateTest, CallLogLineCarriesTheFieldsAndNoSecretOrPrompt) {
  const std::string request_id = absl::StrCat("operate-log-", getpid());
  v1::ChatCompletion completion;
  grpc::Status status =
      UnaryChat(UserRequest("gpt-operate-log", kPromptPhrase), &completion, request_id);
  ASSERT_TRUE(status.ok()) << status.error_message();

  std::optional<json> line = gengate_->WaitForJsonLine(
      [&](const json& entry) {
        return JsonString(entry, "msg") == "call" && JsonString(entry, "request_id") == request_id;
      },
      absl::Seconds(10));

  ASSERT_TRUE(line.has_value()) << gengate_->OutputText();
  EXPECT_EQ(JsonString(*line, "level"), "info");
  EXPECT_EQ(JsonString(*line, "method"), kUnaryMethod);
  EXPECT_EQ(JsonString(*line, "model"), "gpt-operate-log");
  EXPECT_EQ(JsonString(*line, "code"), "OK");
  EXPECT_TRUE((*line)["latency_ms"].is_number()) << line->dump();
  EXPECT_EQ((*line)["prompt_tokens"], completion.usage().prompt_tokens());
  EXPECT_EQ((*line)["completion_tokens"], completion.usage().completion_tokens());
  EXPECT_EQ((*line)["upstream_status"], 200);
  EXPECT_FALSE(JsonString(*line, "upstream_request_id").empty()) << line->dump();
  ASSERT_TRUE((*line)["payload_bytes"].is_number_integer()) << line->dump();
  EXPECT_GT((*line)["payload_bytes"].get<std::int64_t>(), 0) << line->dump();
  EXPECT_FALSE(JsonString(*line, "peer").empty()) << line->dump();
  EXPECT_FALSE(line->contains("payload")) << "the body is logged only with --log_payloads";
  for (const std::string& output : gengate_->OutputLines()) {
    EXPECT_THAT(output, Not(HasSubstr(kPromptPhrase))) << "prompt text in the logs";
  }
}

TEST_F(OperateTest, FailedCallLogLineNamesTheCodeAndError) {
  const std::string request_id = absl::StrCat("operate-fail-", getpid());
  v1::ChatCompletion unused;
  grpc::Status status = UnaryChat(UserRequest("", "Hi"), &unused, request_id);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  std::optional<json> line = gengate_->WaitForJsonLine(
      [&](const json& entry) { return JsonString(entry, "request_id") == request_id; },
      absl::Seconds(10));

  ASSERT_TRUE(line.has_value()) << gengate_->OutputText();
  EXPECT_EQ(JsonString(*line, "level"), "warning");
  EXPECT_EQ(JsonString(*line, "code"), "INVALID_ARGUMENT");
  EXPECT_EQ((*line)["upstream_status"], 0);
  EXPECT_FALSE(JsonString(*line, "error").empty());
}

// ---------------------------------------------------------------------------------------
// Flags that change what is served or how it is logged: a process each.

TEST(OperateFlagsTest, ReflectionCanBeTurnedOff) {
  GengateProcess gengate(GENGATE_BINARY, FakeFlagsWith("--reflection=false"));
  absl::Status started = gengate.Start();
  ASSERT_TRUE(started.ok()) << started;
  reflection::ServerReflectionRequest request;
  request.set_list_services("*");

  absl::StatusOr<reflection::ServerReflectionResponse> response =
      Reflect(gengate.channel(), request);

  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnimplemented) << response.status();
  EXPECT_EQ(gengate.serving_line().value("reflection", true), false);
  EXPECT_EQ(CheckHealth(gengate.channel(), ""), HealthCheckResponse::SERVING);
}

TEST(OperateFlagsTest, SchedBatchCanBeTurnedOff) {
  GengateProcess gengate(GENGATE_BINARY, FakeFlagsWith("--sched_batch=false"));
  absl::Status started = gengate.Start();
  ASSERT_TRUE(started.ok()) << started;
  v1::ChatCompletion completion;
  ASSERT_TRUE(UnaryChatOn(gengate.channel(), UserRequest("fake-model", "hi"), &completion).ok());

  EXPECT_EQ(JsonString(gengate.serving_line(), "scheduling"), "other");
  ExpectEveryThreadRuns(gengate.pid(), SCHED_OTHER);
}

TEST(OperateFlagsTest, TextLogsAreOneKeyValueLinePerCall) {
  std::vector<std::string> flags = BaseFlags("fake");
  flags.push_back("--log_format=text");
  GengateProcess gengate(GENGATE_BINARY, flags,
                         EnvironmentList{{"GENGATE_UPSTREAM_API_KEY", kApiKey}});
  ASSERT_TRUE(gengate.Spawn().ok());
  std::optional<std::string> serving = gengate.WaitForOutputLine(
      [](absl::string_view line) { return absl::StrContains(line, " info serving listen="); },
      absl::Seconds(20));
  ASSERT_TRUE(serving.has_value()) << gengate.OutputText();
  const std::size_t at = serving->find("listen=") + 7;
  const std::string listen = serving->substr(at, serving->find(' ', at) - at);
  v1::ChatCompletion completion;
  grpc::Status status =
      UnaryChatOn(grpc::CreateChannel(listen, grpc::InsecureChannelCredentials()),
                  UserRequest("gpt-text", kPromptPhrase), &completion, "text-log-call");
  ASSERT_TRUE(status.ok()) << status.error_message();

  std::optional<std::string> call = gengate.WaitForOutputLine(
      [](absl::string_view line) { return absl::StrContains(line, "request_id=text-log-call"); },
      absl::Seconds(10));

  ASSERT_TRUE(call.has_value()) << gengate.OutputText();
  EXPECT_FALSE(absl::StartsWith(*call, "{"));
  EXPECT_THAT(*call, HasSubstr(" info call method=/gengate.v1.ChatService/CreateChatCompletion "));
  EXPECT_THAT(*call, HasSubstr(" code=OK "));
  EXPECT_THAT(*call, HasSubstr(" model=gpt-text "));
  EXPECT_THAT(*call, HasSubstr(" upstream_status=200 "));
  for (const std::string& line : gengate.OutputLines()) {
    EXPECT_THAT(line, Not(HasSubstr(kApiKey)));
    EXPECT_THAT(line, Not(HasSubstr(kPromptPhrase)));
  }
}

TEST(OperateFlagsTest, ConnectionsAreRecycledAtMaxConnectionAge) {
  std::vector<std::string> flags = BaseFlags("fake");
  flags.push_back("--max_connection_age=1s");
  flags.push_back("--max_connection_age_grace=1s");
  GengateProcess gengate(GENGATE_BINARY, flags);
  ASSERT_TRUE(gengate.Start().ok());
  std::shared_ptr<grpc::Channel> channel = gengate.NewChannel();
  ASSERT_EQ(CheckHealth(channel, ""), HealthCheckResponse::SERVING);
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);

  // The server's GOAWAY at about 1 s takes the channel out of READY.
  const bool changed =
      channel->WaitForStateChange(GRPC_CHANNEL_READY, absl::ToChronoTime(absl::Now() +
                                                                         absl::Seconds(20)));

  EXPECT_TRUE(changed) << "the connection outlived --max_connection_age";
  // The client reconnects and carries on.
  EXPECT_EQ(CheckHealth(channel, ""), HealthCheckResponse::SERVING);
}

// ---------------------------------------------------------------------------------------
// Drain on SIGTERM: a process per test, with a scripted upstream that holds a stream open.

class OperateDrainTest : public ::testing::Test {
 protected:
  void StartWithDrain(const std::string& drain_timeout) {
    ASSERT_TRUE(upstream_.Start().ok());
    std::vector<std::string> flags =
        BaseFlags(absl::StrCat(upstream_.base_url(), "/openai"));
    flags.push_back(absl::StrCat("--drain_timeout=", drain_timeout));
    gengate_ = std::make_unique<GengateProcess>(
        GENGATE_BINARY, flags, EnvironmentList{{"GENGATE_UPSTREAM_API_KEY", kApiKey}});
    absl::Status started = gengate_->Start();
    ASSERT_TRUE(started.ok()) << started;
    admin_ = JsonString(gengate_->serving_line(), "admin_listen");
    channel_ = gengate_->NewChannel();
  }

  void BeginDrain() {
    ASSERT_TRUE(gengate_->Signal(SIGTERM));
    ASSERT_TRUE(gengate_
                    ->WaitForJsonLine(
                        [](const json& line) { return JsonString(line, "msg") == "draining"; },
                        absl::Seconds(10))
                    .has_value())
        << gengate_->OutputText();
  }

  std::optional<json> StoppedLine() {
    return gengate_->WaitForJsonLine(
        [](const json& line) { return JsonString(line, "msg") == "stopped"; },
        absl::Seconds(30));
  }

  UpstreamServer upstream_;
  std::unique_ptr<GengateProcess> gengate_;
  std::string admin_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(OperateDrainTest, ReadinessFailsAtOnceAndTheRunningStreamFinishes) {
  ASSERT_NO_FATAL_FAILURE(StartWithDrain("30s"));
  std::shared_ptr<testing::Gate> finish = upstream_.NewGate();
  upstream_.Handle(kChatPath, [finish](const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, SseHeaders());
    responder.Write(ChunkEvent("before "));
    if (!finish->Wait(absl::Seconds(60))) return;
    responder.Write(ChunkEvent("after", "stop"));
    responder.Write(ChunkEvent("", nullptr, 5, 2));
    responder.Write("data: [DONE]\n\n");
  });
  // A health watcher, as a load balancer with client-side health checking holds one.
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext watch_context;
  SetDeadline(watch_context, absl::Seconds(60));
  HealthCheckRequest watch_request;
  watch_request.set_service("gengate.v1.ChatService");
  auto watch = health->Watch(&watch_context, watch_request);
  HealthCheckResponse health_update;
  ASSERT_TRUE(watch->Read(&health_update));
  ASSERT_EQ(health_update.status(), HealthCheckResponse::SERVING);
  auto chat = v1::ChatService::NewStub(channel_);
  grpc::ClientContext stream_context;
  SetDeadline(stream_context, absl::Seconds(60));
  auto stream = chat->StreamChatCompletion(&stream_context, UserRequest("gpt-test", "Hi"));
  v1::ChatCompletionChunk chunk;
  ASSERT_TRUE(stream->Read(&chunk));

  ASSERT_NO_FATAL_FAILURE(BeginDrain());

  // Readiness fails at once, while the stream still runs.
  ASSERT_TRUE(watch->Read(&health_update));
  EXPECT_EQ(health_update.status(), HealthCheckResponse::NOT_SERVING);
  HttpAnswer readyz = HttpGet(admin_, "/readyz");
  EXPECT_EQ(readyz.status, 503);
  EXPECT_EQ(readyz.body, "draining\n");
  EXPECT_EQ(HttpGet(admin_, "/healthz").status, 200) << "the process is still alive";
  EXPECT_EQ(Scrape(admin_).Value("gengate_active_streams"), 1);
  // New calls are refused.
  auto fresh = v1::ChatService::NewStub(gengate_->NewChannel());
  grpc::ClientContext refused_context;
  SetDeadline(refused_context, absl::Seconds(10));
  v1::ChatCompletion unused;
  grpc::Status refused =
      fresh->CreateChatCompletion(&refused_context, UserRequest("gpt-test", "Hi"), &unused);
  // `refused` is checked once gengate has exited, against its call log (below).
  // The running stream finishes normally.
  finish->Open();
  std::string rest;
  while (stream->Read(&chunk)) {
    for (const auto& choice : chunk.choices()) rest += choice.delta().content();
  }
  grpc::Status finished = stream->Finish();
  EXPECT_TRUE(finished.ok()) << finished.error_message();
  EXPECT_EQ(rest, "after");
  EXPECT_EQ(upstream_.requests().size(), 1u) << "a call made while draining reached the upstream";
  watch_context.TryCancel();
  while (watch->Read(&health_update)) {
  }
  watch->Finish();

  std::optional<json> stopped = StoppedLine();
  ASSERT_TRUE(stopped.has_value()) << gengate_->OutputText();
  EXPECT_EQ((*stopped)["drained"], true);
  stream.reset();
  watch.reset();
  chat.reset();
  health.reset();
  fresh.reset();
  channel_.reset();
  EXPECT_EQ(gengate_->Wait(absl::Seconds(30)), 0) << gengate_->OutputText();

  // A call gengate saw while draining it refused with UNAVAILABLE. gRPC closes its listener
  // asynchronously after Server::Shutdown: a connection it still accepts carries a call that
  // gRPC itself ends CANCELLED before gengate sees it (grpc/grpc#41785). With two CPU hogs
  // beside the test that was seen once in 50 runs under SCHED_OTHER, and more often under
  // SCHED_BATCH, where gRPC's threads wait for the hogs.
  bool logged = false;
  for (const std::string& line : gengate_->StdoutLines()) {
    std::optional<json> parsed = testing::ParseJsonObject(line);
    if (parsed.has_value() && JsonString(*parsed, "msg") == "call" &&
        JsonString(*parsed, "method") == kUnaryMethod) {
      logged = true;
      EXPECT_EQ(JsonString(*parsed, "code"), "UNAVAILABLE") << line;
    }
  }
  if (logged) {
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  } else {
    // The connection refused (listener closed) is UNAVAILABLE too.
    EXPECT_THAT(refused.error_code(),
                ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::CANCELLED))
        << "gengate never saw the call, so only gRPC's shutdown can have ended it: "
        << refused.error_message() << "\n" << gengate_->OutputText();
  }
}

TEST_F(OperateDrainTest, IdleGatewayExitsWithoutWaitingForTheDrainTimeout) {
  ASSERT_NO_FATAL_FAILURE(StartWithDrain("60s"));
  ASSERT_EQ(CheckHealth(channel_, ""), HealthCheckResponse::SERVING);  // an idle connection
  const absl::Time start = absl::Now();

  ASSERT_NO_FATAL_FAILURE(BeginDrain());

  EXPECT_EQ(gengate_->Wait(absl::Seconds(20)), 0) << gengate_->OutputText();
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  std::optional<json> stopped = StoppedLine();
  ASSERT_TRUE(stopped.has_value());
  EXPECT_EQ((*stopped)["drained"], true);
}

TEST_F(OperateDrainTest, StreamStillRunningAtTheDeadlineEndsShuttingDownWithItsTokens) {
  ASSERT_NO_FATAL_FAILURE(StartWithDrain("1s"));
  upstream_.Handle(kChatPath, [](const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, SseHeaders());
    // Usage seen before the cut must still be logged and counted.
    responder.Write(ChunkEvent("before ", nullptr, 11, 3));
    responder.WaitForPeerClose(absl::Seconds(60));
  });
  auto chat = v1::ChatService::NewStub(channel_);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(60));
  context.AddMetadata("x-request-id", "operate-cut-stream");
  auto stream = chat->StreamChatCompletion(&context, UserRequest("gpt-cut", "Hi"));
  v1::ChatCompletionChunk chunk;
  ASSERT_TRUE(stream->Read(&chunk));

  ASSERT_NO_FATAL_FAILURE(BeginDrain());
  while (stream->Read(&chunk)) {
  }
  grpc::Status status = stream->Finish();

  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status);
  ASSERT_TRUE(info.has_value()) << status.error_message();
  EXPECT_EQ(info->reason(), "shutting_down");
  std::optional<json> line = gengate_->WaitForJsonLine(
      [](const json& entry) { return JsonString(entry, "request_id") == "operate-cut-stream"; },
      absl::Seconds(10));
  ASSERT_TRUE(line.has_value()) << gengate_->OutputText();
  EXPECT_EQ(JsonString(*line, "code"), "UNAVAILABLE");
  EXPECT_EQ((*line)["prompt_tokens"], 11);
  EXPECT_EQ((*line)["completion_tokens"], 3);
  std::optional<json> stopped = StoppedLine();
  ASSERT_TRUE(stopped.has_value()) << gengate_->OutputText();
  EXPECT_EQ((*stopped)["drained"], false);
  EXPECT_EQ((*stopped)["aborted_calls"], 1);
  stream.reset();
  chat.reset();
  channel_.reset();
  EXPECT_EQ(gengate_->Wait(absl::Seconds(30)), 0) << gengate_->OutputText();
}

// ---------------------------------------------------------------------------------------
// TLS and mTLS on the gRPC listener, with certificates made by the openssl CLI.

class OperateTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = absl::StrCat(::testing::TempDir(), "/gengate_operate_tls_", getpid());
    certificates_ = gengate::testing::MakeTestCertificates(dir_);
  }

  void SetUp() override { ASSERT_TRUE(certificates_.ok()) << certificates_; }

  static std::string Path(const std::string& name) { return absl::StrCat(dir_, "/", name); }
  static std::string Pem(const std::string& name) { return ReadFile(Path(name)); }

  static std::unique_ptr<GengateProcess> StartTls(bool require_client_certificates) {
    std::vector<std::string> flags = BaseFlags("fake");
    flags.push_back("--tls_cert=" + Path("server.pem"));
    flags.push_back("--tls_key=" + Path("server.key"));
    if (require_client_certificates) flags.push_back("--tls_client_ca=" + Path("ca.pem"));
    auto gengate = std::make_unique<GengateProcess>(GENGATE_BINARY, flags);
    absl::Status started = gengate->Start();
    EXPECT_TRUE(started.ok()) << started;
    return started.ok() ? std::move(gengate) : nullptr;
  }

  // A TLS channel that trusts our CA, with the client certificate `client` ("" for none).
  static std::shared_ptr<grpc::Channel> TlsChannel(const GengateProcess& gengate,
                                                   const std::string& client) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = Pem("ca.pem");
    if (!client.empty()) {
      options.pem_cert_chain = Pem(client + ".pem");
      options.pem_private_key = Pem(client + ".key");
    }
    grpc::ChannelArguments arguments;
    arguments.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(gengate.listen_address(), grpc::SslCredentials(options),
                                     arguments);
  }

  static inline std::string dir_;
  static inline absl::Status certificates_;
};

TEST_F(OperateTlsTest, TlsListenerServesAVerifyingClient) {
  std::unique_ptr<GengateProcess> gengate = StartTls(/*require_client_certificates=*/false);
  ASSERT_NE(gengate, nullptr);
  std::shared_ptr<grpc::Channel> channel = TlsChannel(*gengate, "");
  v1::ChatCompletion completion;

  grpc::Status status = UnaryChatOn(channel, UserRequest("gpt-tls", "Hi"), &completion);

  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(CheckHealth(channel, "gengate.v1.ChatService"), HealthCheckResponse::SERVING);
  EXPECT_EQ(JsonString(gengate->serving_line(), "tls"), "tls");
}

TEST_F(OperateTlsTest, TlsListenerRefusesPlaintextClients) {
  std::unique_ptr<GengateProcess> gengate = StartTls(/*require_client_certificates=*/false);
  ASSERT_NE(gengate, nullptr);
  grpc::Status status;

  std::optional<HealthCheckResponse::ServingStatus> serving =
      CheckHealth(gengate->NewChannel(), "", &status);

  EXPECT_FALSE(serving.has_value());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(OperateTlsTest, MtlsAcceptsOnlyClientsWithACertificateFromTheClientCa) {
  std::unique_ptr<GengateProcess> gengate = StartTls(/*require_client_certificates=*/true);
  ASSERT_NE(gengate, nullptr);
  grpc::Status without_status;
  grpc::Status stranger_status;

  std::optional<HealthCheckResponse::ServingStatus> without =
      CheckHealth(TlsChannel(*gengate, ""), "", &without_status);
  std::optional<HealthCheckResponse::ServingStatus> stranger =
      CheckHealth(TlsChannel(*gengate, "stranger"), "", &stranger_status);
  std::optional<HealthCheckResponse::ServingStatus> with =
      CheckHealth(TlsChannel(*gengate, "client"), "");

  EXPECT_FALSE(without.has_value()) << "a client without a certificate got in";
  EXPECT_EQ(without_status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_FALSE(stranger.has_value()) << "a certificate from another CA was accepted";
  EXPECT_EQ(stranger_status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(with, HealthCheckResponse::SERVING);
  EXPECT_EQ(JsonString(gengate->serving_line(), "tls"), "mtls");
}

struct BadTlsCase {
  std::string name;
  std::vector<std::string> files;  // flag=file pairs, files relative to the certificate dir
  std::string message;
};

void PrintTo(const BadTlsCase& param, std::ostream* os) { *os << param.name; }

class OperateBadTlsTest : public OperateTlsTest,
                          public ::testing::WithParamInterface<BadTlsCase> {};

TEST_P(OperateBadTlsTest, ExitsTwoWithOneLine) {
  std::vector<std::string> flags = BaseFlags("fake");
  for (const std::string& flag_file : GetParam().files) {
    const std::size_t eq = flag_file.find('=');
    const std::string file = flag_file.substr(eq + 1);
    flags.push_back(absl::StrCat(flag_file.substr(0, eq + 1),
                                 absl::StartsWith(file, "/") ? file : Path(file)));
  }

  ExitResult result = testing::RunToExit(GENGATE_BINARY, flags);

  EXPECT_EQ(result.exit_code, 2) << absl::StrJoin(result.lines, "\n");
  std::vector<std::string> lines;
  for (const std::string& line : result.lines) {
    if (!line.empty()) lines.push_back(line);
  }
  ASSERT_EQ(lines.size(), 1u) << absl::StrJoin(result.lines, "\n");
  EXPECT_THAT(lines[0], HasSubstr(GetParam().message));
  EXPECT_THAT(lines[0], Not(HasSubstr("BEGIN"))) << "key material in the error";
}

INSTANTIATE_TEST_SUITE_P(
    Files, OperateBadTlsTest,
    ::testing::Values(
        BadTlsCase{"CertificateMissing",
                   {"--tls_cert=/nonexistent/server.pem", "--tls_key=server.key"},
                   "--tls_cert: cannot read /nonexistent/server.pem"},
        BadTlsCase{"KeyNotPem", {"--tls_cert=server.pem", "--tls_key=garbage.pem"},
                   "--tls_key: "},
        BadTlsCase{"KeyOfAnotherCertificate", {"--tls_cert=server.pem", "--tls_key=client.key"},
                   "cannot be used"},
        BadTlsCase{"ClientCaMissing",
                   {"--tls_cert=server.pem", "--tls_key=server.key",
                    "--tls_client_ca=/nonexistent/ca.pem"},
                   "--tls_client_ca: cannot read"},
        BadTlsCase{"KeyWithoutCertificate", {"--tls_key=server.key"},
                   "--tls_cert and --tls_key must be given together"}),
    [](const ::testing::TestParamInfo<BadTlsCase>& info) { return info.param.name; });

}  // namespace
}  // namespace gengate::operate
