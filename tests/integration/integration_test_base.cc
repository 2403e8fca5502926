#include "integration/integration_test_base.h"

#include <unistd.h>

#include <fstream>
#include <ostream>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/rpc/status.pb.h"
#include "testing/sockets.h"

namespace gengate::integration {

using ::gengate::testing::EnvironmentList;
using ::gengate::testing::Fixture;
using ::gengate::testing::GengateProcess;
using ::gengate::testing::HeaderList;
using ::gengate::testing::RecordedRequest;
using ::gengate::testing::Responder;
using ::gengate::testing::UpstreamServer;
using ::testing::HasSubstr;
using ::testing::Not;

Fixture MustLoad(absl::string_view name) {
  absl::StatusOr<Fixture> fixture = gengate::testing::LoadFixture(GENGATE_FIXTURES_DIR, name);
  EXPECT_TRUE(fixture.ok()) << fixture.status();
  return fixture.ok() ? *std::move(fixture) : Fixture{};
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

std::optional<std::string> MetadataValue(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata, absl::string_view key) {
  auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

std::string CodeName(grpc::StatusCode code) {
  static const auto* const kNames = new std::map<grpc::StatusCode, std::string>{
      {grpc::StatusCode::OK, "OK"},
      {grpc::StatusCode::CANCELLED, "CANCELLED"},
      {grpc::StatusCode::UNKNOWN, "UNKNOWN"},
      {grpc::StatusCode::INVALID_ARGUMENT, "INVALID_ARGUMENT"},
      {grpc::StatusCode::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"},
      {grpc::StatusCode::NOT_FOUND, "NOT_FOUND"},
      {grpc::StatusCode::ALREADY_EXISTS, "ALREADY_EXISTS"},
      {grpc::StatusCode::PERMISSION_DENIED, "PERMISSION_DENIED"},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"},
      {grpc::StatusCode::FAILED_PRECONDITION, "FAILED_PRECONDITION"},
      {grpc::StatusCode::ABORTED, "ABORTED"},
      {grpc::StatusCode::OUT_OF_RANGE, "OUT_OF_RANGE"},
      {grpc::StatusCode::UNIMPLEMENTED, "UNIMPLEMENTED"},
      {grpc::StatusCode::INTERNAL, "INTERNAL"},
      {grpc::StatusCode::UNAVAILABLE, "UNAVAILABLE"},
      {grpc::StatusCode::DATA_LOSS, "DATA_LOSS"},
      {grpc::StatusCode::UNAUTHENTICATED, "UNAUTHENTICATED"},
  };
  auto it = kNames->find(code);
  return it == kNames->end() ? absl::StrCat("code ", static_cast<int>(code)) : it->second;
}

std::string Describe(const grpc::Status& status) {
  return absl::StrCat(CodeName(status.error_code()), ": ", status.error_message());
}

std::optional<google::rpc::ErrorInfo> ErrorInfoOf(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    return std::nullopt;
  }
  for (const google::protobuf::Any& any : details.details()) {
    google::rpc::ErrorInfo info;
    if (any.Is<google::rpc::ErrorInfo>() && any.UnpackTo(&info)) return info;
  }
  return std::nullopt;
}

std::optional<absl::Duration> RetryDelayOf(const grpc::Status& status) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    return std::nullopt;
  }
  for (const google::protobuf::Any& any : details.details()) {
    google::rpc::RetryInfo retry;
    if (any.Is<google::rpc::RetryInfo>() && any.UnpackTo(&retry)) {
      return absl::Seconds(retry.retry_delay().seconds()) +
             absl::Nanoseconds(retry.retry_delay().nanos());
    }
  }
  return std::nullopt;
}

std::string JsonString(const json& object, absl::string_view key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t JsonInt(const json& object, absl::string_view key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

const json& JsonObject(const json& object, absl::string_view key) {
  static const json* const kNull = new json();
  if (!object.is_object()) return *kNull;
  auto it = object.find(key);
  return it == object.end() ? *kNull : *it;
}

json ParseJson(absl::string_view text) {
  return json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

std::vector<std::string> SseDataPayloads(const std::vector<std::string>& writes) {
  std::string text = absl::StrJoin(writes, "");
  text = absl::StrReplaceAll(text, {{"\r\n", "\n"}});
  text = absl::StrReplaceAll(text, {{"\r", "\n"}});
  std::vector<std::string> payloads;
  std::vector<std::string> data;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  lines.pop_back();  // after the last newline: an unterminated line is not dispatched
  for (absl::string_view line : lines) {
    if (line.empty()) {
      if (!data.empty()) payloads.push_back(absl::StrJoin(data, "\n"));
      data.clear();
      continue;
    }
    if (line.front() == ':') continue;
    size_t colon = line.find(':');
    absl::string_view field = line.substr(0, colon);
    absl::string_view value = colon == absl::string_view::npos ? "" : line.substr(colon + 1);
    if (absl::StartsWith(value, " ")) value.remove_prefix(1);
    if (field == "data") data.emplace_back(value);
  }
  return payloads;
}

std::string SseEvent(const json& payload) { return absl::StrCat("data: ", payload.dump(), "\n\n"); }

const HeaderList& SseHeaders() {
  static const auto* const kHeaders =
      new HeaderList{{"Content-Type", "text/event-stream"}, {"Connection", "close"}};
  return *kHeaders;
}

void CloseProbe::Record(Responder& responder, absl::Duration timeout) {
  closed = responder.WaitForPeerClose(timeout);
  closed_at = responder.peer_closed_at();
  done.Notify();
}

void ExpectNoKeyInStatus(const grpc::Status& status) {
  EXPECT_THAT(status.error_message(), Not(HasSubstr(kApiKey)));
  EXPECT_THAT(status.error_details(), Not(HasSubstr(kApiKey)));
}

std::optional<json> OnlyJsonPost(const std::vector<gengate::testing::RecordedRequest>& received,
                                 absl::string_view path) {
  if (received.size() != 1) {
    ADD_FAILURE() << "the upstream received " << received.size() << " requests, not 1";
    return std::nullopt;
  }
  const gengate::testing::RecordedRequest& request = received[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, path);
  EXPECT_EQ(request.Header("authorization"), absl::StrCat("Bearer ", kApiKey));
  EXPECT_THAT(request.Header("content-type"), ::testing::HasSubstr("application/json"));
  json body = ParseJson(request.body);
  if (!body.is_object()) {
    ADD_FAILURE() << "the upstream body is not a JSON object: " << request.body;
    return std::nullopt;
  }
  return body;
}

std::vector<std::string> BaseFlags(std::string upstream_url) {
  // A short drain keeps the teardown of each suite quick.
  return {"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
          absl::StrCat("--upstream_url=", upstream_url), "--log_format=json",
          "--drain_timeout=2s"};
}

std::string WriteKeyFile() {
  std::string path = absl::StrCat(::testing::TempDir(), "/gengate_integration_key_", getpid());
  std::ofstream file(path, std::ios::trunc);
  // Written the way `echo "$KEY" > file` does, with the newline.
  file << kApiKey << "\n";
  return path;
}

int ClosedPort() { return gengate::testing::UnusedLoopbackPort(); }

// ---------------------------------------------------------------------------------------
// GatewayTestBase.

void GatewayTestBase::StartGengate(std::vector<std::string> extra_flags,
                                   EnvironmentList environment, const UpstreamFront& front) {
  upstream_ = std::make_unique<UpstreamServer>();
  start_status_ = upstream_->Start();
  if (!start_status_.ok()) return;
  absl::StatusOr<std::string> url =
      front ? front(*upstream_) : absl::StatusOr<std::string>(upstream_->base_url() + "/openai");
  if (!url.ok()) {
    start_status_ = url.status();
    return;
  }
  std::vector<std::string> flags = BaseFlags(*url);
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  gengate_ = std::make_unique<GengateProcess>(GENGATE_BINARY, flags, std::move(environment));
  start_status_ = gengate_->Start();
  if (!start_status_.ok()) return;
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(-1);
  large_message_channel_ = grpc::CreateCustomChannel(
      gengate_->listen_address(), grpc::InsecureChannelCredentials(), arguments);
}

void GatewayTestBase::TearDownTestSuite() {
  large_message_channel_.reset();
  gengate_.reset();
  upstream_.reset();
}

void GatewayTestBase::SetUp() {
  ASSERT_TRUE(start_status_.ok()) << start_status_;
  upstream_->Reset();
}

void GatewayTestBase::TearDown() {
  if (!start_status_.ok()) return;
  for (const RecordedRequest& request : upstream_->unexpected_requests()) {
    ADD_FAILURE() << "unexpected upstream call: " << request.method << " " << request.target;
  }
  for (const std::string& error : upstream_->protocol_errors()) {
    ADD_FAILURE() << "malformed upstream request: " << error;
  }
  for (const std::string& line : gengate_->OutputLines()) {
    EXPECT_THAT(line, Not(HasSubstr(kApiKey))) << "the API key leaked into the output";
  }
}

std::optional<json> GatewayTestBase::CallLogLine(const std::string& request_id) {
  return gengate_->WaitForJsonLine(
      [&request_id](const json& line) {
        return JsonString(line, "msg") == "call" && JsonString(line, "request_id") == request_id;
      },
      absl::Seconds(10));
}

// ---------------------------------------------------------------------------------------
// The failure table.

namespace {

// An OpenAI error envelope answer.
gengate::testing::Handler OpenAiError(int http_status, std::string code, std::string message,
                                      HeaderList extra_headers = {}) {
  return [=](const RecordedRequest&, Responder& responder) {
    HeaderList headers = extra_headers;
    headers.emplace_back("Content-Type", "application/json");
    responder.Reply(
        http_status, headers,
        json{{"error",
              {{"message", message}, {"type", "invalid_request_error"}, {"param", nullptr},
               {"code", code}}}}
            .dump());
  };
}

gengate::testing::Handler RawAnswer(int http_status, std::string content_type,
                                    std::string body) {
  return [=](const RecordedRequest&, Responder& responder) {
    responder.Reply(http_status, {{"Content-Type", content_type}}, body);
  };
}

// A fixture's error envelope message (both envelopes keep it at error.message).
std::string FixtureMessage(const Fixture& fixture) {
  return JsonString(JsonObject(ParseJson(fixture.body), "error"), "message");
}

std::string FixtureTraceId(const Fixture& fixture) {
  return JsonString(ParseJson(fixture.body), "trace_id");
}

UpstreamFailure FromFixture(std::string name, absl::string_view fixture_name,
                            grpc::StatusCode code, std::string reason,
                            HeaderList extra_headers = {},
                            std::optional<absl::Duration> retry_delay = std::nullopt) {
  Fixture fixture = MustLoad(fixture_name);
  UpstreamFailure failure;
  failure.name = std::move(name);
  failure.code = code;
  failure.reason = std::move(reason);
  failure.message = FixtureMessage(fixture);
  failure.http_status = fixture.status;
  failure.upstream_request_id = FixtureTraceId(fixture);
  failure.retry_delay = retry_delay;
  failure.respond = gengate::testing::ReplayFixture(std::move(fixture), std::move(extra_headers));
  return failure;
}

UpstreamFailure Synthetic(std::string name, gengate::testing::Handler respond,
                          grpc::StatusCode code, std::string reason, std::string message,
                          int http_status) {
  UpstreamFailure failure;
  failure.name = std::move(name);
  failure.respond = std::move(respond);
  failure.code = code;
  failure.reason = std::move(reason);
  failure.message = std::move(message);
  failure.http_status = http_status;
  return failure;
}

}  // namespace

std::vector<UpstreamFailure> UpstreamFailures() {
  using grpc::StatusCode;
  std::vector<UpstreamFailure> failures;
  failures.push_back(FromFixture("BadRequest400Ace", "error-ace-400-token-mismatched",
                                 StatusCode::INVALID_ARGUMENT, "token_mismatched"));
  failures.push_back(Synthetic(
      "BadRequest400OpenAi", OpenAiError(400, "invalid_value", "Invalid value for 'size'."),
      StatusCode::INVALID_ARGUMENT, "invalid_value", "Invalid value for 'size'.", 400));
  failures.push_back(FromFixture("Unauthenticated401", "error-ace-401-invalid-token",
                                 StatusCode::UNAUTHENTICATED, "invalid_token"));
  failures.push_back(FromFixture("PermissionDenied403", "error-ace-403-used-up",
                                 StatusCode::PERMISSION_DENIED, "used_up"));
  failures.push_back(FromFixture("NotFound404", "error-openai-404-model-not-found",
                                 StatusCode::NOT_FOUND, "model_not_found"));
  failures.push_back(Synthetic("PayloadTooLarge413",
                               OpenAiError(413, "request_too_large", "The request is too large."),
                               StatusCode::INVALID_ARGUMENT, "request_too_large",
                               "The request is too large.", 413));
  failures.push_back(FromFixture("RateLimited429RetryAfter",
                                 "error-openai-429-rate-limit-tokens-ruby-llm",
                                 StatusCode::RESOURCE_EXHAUSTED, "rate_limit_exceeded",
                                 {{"Retry-After", "7"}}, absl::Seconds(7)));
  failures.push_back(FromFixture("RateLimited429RetryAfterMs", "error-ace-429-too-many-requests",
                                 StatusCode::RESOURCE_EXHAUSTED, "too_many_requests",
                                 {{"retry-after-ms", "1500"}}, absl::Milliseconds(1500)));
  failures.push_back(FromFixture("Internal500", "error-ace-500-api-error", StatusCode::INTERNAL,
                                 "api_error"));
  {
    UpstreamFailure html = FromFixture("BadGateway502Html", "error-502-html-proxy-page",
                                       StatusCode::UNAVAILABLE, "upstream_http_502");
    html.message.clear();  // the page is not a message: checked for no HTML instead
    failures.push_back(std::move(html));
  }
  {
    UpstreamFailure unavailable = Synthetic(
        "Unavailable503RetryAfter",
        OpenAiError(503, "overloaded", "The engine is overloaded.", {{"Retry-After", "3"}}),
        StatusCode::UNAVAILABLE, "overloaded", "The engine is overloaded.", 503);
    unavailable.retry_delay = absl::Seconds(3);
    failures.push_back(std::move(unavailable));
  }
  failures.push_back(FromFixture("GatewayTimeout504", "error-ace-504-timeout",
                                 StatusCode::DEADLINE_EXCEEDED, "timeout"));
  {
    UpstreamFailure page = FromFixture("HtmlPageWith200", "error-200-non-json-body",
                                       StatusCode::INTERNAL, "malformed_upstream_answer");
    page.message.clear();
    failures.push_back(std::move(page));
  }
  failures.push_back(Synthetic(
      "TruncatedJson",
      RawAnswer(200, "application/json", R"({"id":"x","object":"list","created":17,"data":[{"b)"),
      StatusCode::INTERNAL, "malformed_upstream_answer", "", 200));
  failures.push_back(Synthetic("BrokenJson",
                               RawAnswer(200, "application/json", R"({"data": [}, "model": 7})"),
                               StatusCode::INTERNAL, "malformed_upstream_answer", "", 200));
  failures.push_back(Synthetic(
      "ResetBeforeAnswer", [](const RecordedRequest&, Responder& responder) { responder.Reset(); },
      StatusCode::UNAVAILABLE, "upstream_connection_reset", "", 0));
  failures.push_back(Synthetic(
      "ResetDuringAnswer",
      [](const RecordedRequest&, Responder& responder) {
        if (!responder.WriteHead(200, {{"Content-Type", "application/json"},
                                       {"Content-Length", "4096"}})) {
          return;
        }
        responder.Write(R"({"id":"x","created":17,"data":[)");
        responder.Reset();
      },
      StatusCode::UNAVAILABLE, "upstream_connection_reset", "", 0));
  {
    UpstreamFailure stall = Synthetic(
        "StallPastCallerDeadline",
        [](const RecordedRequest&, Responder& responder) {
          responder.WaitForPeerClose(absl::Seconds(30));
        },
        StatusCode::DEADLINE_EXCEEDED, "", "", 0);
    stall.caller_deadline = absl::Milliseconds(300);
    stall.upstream_sees_close = true;
    failures.push_back(std::move(stall));
  }
  {
    // An error page that goes on and on: mapped on its first 64 KiB at once, not at the
    // caller's deadline, and the upstream is let go.
    UpstreamFailure endless = Synthetic(
        "EndlessErrorPage503",
        [](const RecordedRequest&, Responder& responder) {
          if (!responder.WriteHead(503, {{"Content-Type", "text/html"}, {"Connection", "close"}})) {
            return;
          }
          const std::string line = "<p>" + std::string(1020, 'x') + "</p>\n";
          for (int i = 0; i < 80; ++i) {
            if (!responder.Write(line)) return;
          }
          responder.WaitForPeerClose(absl::Seconds(30));
        },
        StatusCode::UNAVAILABLE, "upstream_http_503", "", 503);
    endless.caller_deadline = absl::Seconds(10);
    endless.upstream_sees_close = true;
    failures.push_back(std::move(endless));
  }
  {
    // gRPC refuses a text header with a byte outside 0x20-0x7E and aborts the process when the
    // server sends one, so an upstream request id like these must stay out of the trailers.
    UpstreamFailure body_id = Synthetic(
        "TraceIdNotAsciiInErrorBody",
        RawAnswer(400, "application/json",
                  R"({"success":false,"error":{"code":"bad_param","message":"Bad."},)"
                  R"("trace_id":"trace-\u00e9-1"})"),
        StatusCode::INVALID_ARGUMENT, "bad_param", "Bad.", 400);
    body_id.no_request_id_trailer = true;
    failures.push_back(std::move(body_id));
    UpstreamFailure header_id = Synthetic(
        "RequestIdHeaderWithTab",
        OpenAiError(500, "server_error", "Boom.", {{"x-request-id", "up\t1"}}),
        StatusCode::INTERNAL, "server_error", "Boom.", 500);
    header_id.no_request_id_trailer = true;
    failures.push_back(std::move(header_id));
  }
  return failures;
}

void RunUpstreamFailure(UpstreamServer& upstream, GengateProcess& gengate,
                        const RpcUnderTest& rpc, const UpstreamFailure& failure) {
  upstream.Handle(rpc.path, failure.respond);
  grpc::ClientContext context;
  SetDeadline(context, failure.caller_deadline);

  const RpcOutcome outcome = rpc.call(gengate.channel(), context);
  const grpc::Status& status = outcome.status;

  EXPECT_EQ(status.error_code(), failure.code) << Describe(status);
  // The failure came before any event: nothing was streamed.
  EXPECT_EQ(outcome.messages, 0);
  ASSERT_TRUE(upstream.WaitForRequests(1, absl::Seconds(10))) << "the upstream was not called";
  EXPECT_EQ(upstream.requests()[0].path, rpc.path);
  if (failure.message.empty()) {
    EXPECT_FALSE(status.error_message().empty());
    EXPECT_THAT(absl::AsciiStrToLower(status.error_message()), Not(HasSubstr("<html")));
    EXPECT_THAT(absl::AsciiStrToLower(status.error_message()), Not(HasSubstr("<!doctype")));
    EXPECT_LE(status.error_message().size(), 512u);
  } else {
    EXPECT_EQ(status.error_message(), failure.message);
  }
  if (!failure.reason.empty()) {
    std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(status);
    ASSERT_TRUE(info.has_value()) << "no google.rpc.ErrorInfo in the details of "
                                  << Describe(status);
    EXPECT_EQ(info->reason(), failure.reason);
    EXPECT_EQ(info->domain(), kUpstreamHost);
    auto metadata = [&info](const std::string& key) {
      auto it = info->metadata().find(key);
      return it == info->metadata().end() ? std::string() : it->second;
    };
    EXPECT_EQ(metadata("http_status"),
              failure.http_status == 0 ? "" : absl::StrCat(failure.http_status))
        << info->DebugString();
    if (!failure.upstream_request_id.empty()) {
      EXPECT_EQ(metadata("upstream_request_id"), failure.upstream_request_id);
      EXPECT_EQ(MetadataValue(context.GetServerTrailingMetadata(), "x-upstream-request-id"),
                failure.upstream_request_id);
    }
  }
  if (failure.no_request_id_trailer) {
    EXPECT_EQ(context.GetServerTrailingMetadata().count("x-upstream-request-id"), 0u);
  }
  EXPECT_EQ(RetryDelayOf(status), failure.retry_delay);
  if (failure.upstream_sees_close) {
    EXPECT_TRUE(upstream.WaitForPeerCloses(1, absl::Seconds(10)))
        << "the gateway kept the upstream request open past the caller's deadline";
  }
  ExpectNoKeyInStatus(status);
}

std::string FailureCaseName(
    const ::testing::TestParamInfo<std::tuple<RpcUnderTest, UpstreamFailure>>& info) {
  return absl::StrCat(std::get<0>(info.param).name, "_", std::get<1>(info.param).name);
}

std::string RpcName(const ::testing::TestParamInfo<RpcUnderTest>& info) {
  return info.param.name;
}

void PrintTo(const RpcUnderTest& rpc, std::ostream* os) { *os << rpc.name; }
void PrintTo(const UpstreamFailure& failure, std::ostream* os) { *os << failure.name; }

// ---------------------------------------------------------------------------------------
// Unreachable upstream, small message limit.

void UnreachableUpstreamTest::SetUpTestSuite() {
  gengate_ = std::make_unique<GengateProcess>(
      GENGATE_BINARY, BaseFlags(absl::StrCat("http://127.0.0.1:", ClosedPort(), "/openai")),
      EnvironmentList{{"GENGATE_UPSTREAM_API_KEY", kApiKey}});
  start_status_ = gengate_->Start();
}

void UnreachableUpstreamTest::TearDownTestSuite() { gengate_.reset(); }

void UnreachableUpstreamTest::ExpectUnavailable() {
  ASSERT_TRUE(start_status_.ok()) << start_status_;
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  const RpcOutcome outcome = GetParam().call(gengate_->channel(), context);

  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << Describe(outcome.status);
  EXPECT_EQ(outcome.messages, 0);
  std::optional<google::rpc::ErrorInfo> info = ErrorInfoOf(outcome.status);
  ASSERT_TRUE(info.has_value()) << Describe(outcome.status);
  EXPECT_EQ(info->reason(), "upstream_unreachable");
  EXPECT_EQ(info->domain(), kUpstreamHost);
  ExpectNoKeyInStatus(outcome.status);
  for (const std::string& line : gengate_->OutputLines()) {
    EXPECT_THAT(line, Not(HasSubstr(kApiKey)));
  }
}

void SmallMessageLimitTest::SetUpTestSuite() {
  StartGengate({absl::StrCat("--max_message_bytes=", kSmallMessageLimit)},
               {{"GENGATE_UPSTREAM_API_KEY", kApiKey}});
}

void SmallMessageLimitTest::ExpectRefusedAsTooLarge() {
  // Registered so that a call that wrongly goes through fails on the count, not on strictness.
  upstream_->Handle(GetParam().path, [](const RecordedRequest&, Responder& responder) {
    responder.Reply(500, {{"Content-Type", "application/json"}}, "{}");
  });
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  const RpcOutcome outcome = GetParam().call(gengate_->channel(), context);

  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << Describe(outcome.status);
  EXPECT_THAT(outcome.status.error_message(), HasSubstr(absl::StrCat(kSmallMessageLimit)));
  EXPECT_THAT(outcome.status.error_message(), HasSubstr("--max_message_bytes"));
  EXPECT_EQ(outcome.messages, 0);
  EXPECT_TRUE(upstream_->requests().empty()) << "an oversized request reached the upstream";
}

}  // namespace gengate::integration
