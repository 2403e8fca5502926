#include "status/status.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gengate::status {
namespace {

using ::google::rpc::ErrorInfo;
using ::google::rpc::RetryInfo;
using Json = nlohmann::json;

constexpr char kHost[] = "api.acedata.cloud";

UpstreamContext HostOnly() {
  UpstreamContext context;
  context.host = kHost;
  return context;
}

// What a caller finds in grpc::Status::error_details().
struct Details {
  google::rpc::Status status;
  std::optional<ErrorInfo> error_info;
  std::optional<RetryInfo> retry_info;
};

Details Decode(const grpc::Status& status) {
  Details out;
  EXPECT_TRUE(out.status.ParseFromString(status.error_details())) << "details do not parse";
  EXPECT_EQ(out.status.code(), static_cast<int>(status.error_code()));
  EXPECT_EQ(out.status.message(), status.error_message());
  for (const auto& any : out.status.details()) {
    if (any.type_url() == "type.googleapis.com/google.rpc.ErrorInfo") {
      EXPECT_FALSE(out.error_info.has_value()) << "two ErrorInfo";
      EXPECT_TRUE(any.UnpackTo(&out.error_info.emplace()));
    } else if (any.type_url() == "type.googleapis.com/google.rpc.RetryInfo") {
      EXPECT_FALSE(out.retry_info.has_value()) << "two RetryInfo";
      EXPECT_TRUE(any.UnpackTo(&out.retry_info.emplace()));
    } else {
      ADD_FAILURE() << "unexpected detail " << any.type_url();
    }
  }
  EXPECT_TRUE(out.error_info.has_value()) << "no ErrorInfo";
  return out;
}

std::string Metadata(const ErrorInfo& info, const std::string& key) {
  const auto it = info.metadata().find(key);
  return it == info.metadata().end() ? "<absent>" : it->second;
}

// Strict UTF-8 check, written independently of the code under test.
bool IsValidUtf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    std::size_t length = lead < 0x80 ? 1 : lead >> 5 == 0x6 ? 2 : lead >> 4 == 0xE ? 3
                                         : lead >> 3 == 0x1E ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    std::uint32_t code_point = length == 1 ? lead : lead & (0x7F >> length);
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    static constexpr std::uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code_point < kMinForLength[length] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

Json ReadFixture(const std::string& name) {
  const std::filesystem::path path = std::filesystem::path(GENGATE_FIXTURES_DIR) / name;
  Json fixture = Json::parse(ReadFile(path), nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(fixture.is_object()) << "cannot read " << path;
  return fixture;
}

std::string OpenAiBody(std::string_view message, std::string_view code = "some_code") {
  return Json{{"error", {{"message", message}, {"type", "some_type"}, {"code", code}}}}.dump();
}

grpc::Status MapHttp(int http_status, std::string_view body,
                     const UpstreamContext& context = HostOnly(),
                     std::optional<absl::Duration> retry_after = std::nullopt) {
  return MapUpstreamError(UpstreamAnswer{.http_status = http_status,
                                         .body = body,
                                         .content_type = "application/json",
                                         .retry_after = retry_after},
                          context);
}

// --- HTTP status -> code -------------------------------------------------------------------

struct HttpCase {
  int http_status;
  grpc::StatusCode code;
};

void PrintTo(const HttpCase& c, std::ostream* os) { *os << "HTTP " << c.http_status; }

class HttpStatusTest : public testing::TestWithParam<HttpCase> {};

TEST_P(HttpStatusTest, MapsToCodeWithHttpStatusMetadata) {
  const HttpCase& c = GetParam();
  const grpc::Status status = MapHttp(c.http_status, OpenAiBody("upstream says no"));
  EXPECT_EQ(status.error_code(), c.code);
  EXPECT_EQ(status.error_message(), "upstream says no");
  const Details details = Decode(status);
  ASSERT_TRUE(details.error_info.has_value());
  EXPECT_EQ(Metadata(*details.error_info, "http_status"), absl::StrCat(c.http_status));
  EXPECT_EQ(details.error_info->domain(), kHost);
}

// Every upstream HTTP row of DESIGN.md section 3.
INSTANTIATE_TEST_SUITE_P(
    DesignTable, HttpStatusTest,
    testing::Values(HttpCase{400, grpc::StatusCode::INVALID_ARGUMENT},
                    HttpCase{413, grpc::StatusCode::INVALID_ARGUMENT},
                    HttpCase{422, grpc::StatusCode::INVALID_ARGUMENT},
                    HttpCase{401, grpc::StatusCode::UNAUTHENTICATED},
                    HttpCase{403, grpc::StatusCode::PERMISSION_DENIED},
                    HttpCase{404, grpc::StatusCode::NOT_FOUND},
                    HttpCase{409, grpc::StatusCode::ABORTED},
                    HttpCase{429, grpc::StatusCode::RESOURCE_EXHAUSTED},
                    HttpCase{500, grpc::StatusCode::INTERNAL},
                    HttpCase{502, grpc::StatusCode::UNAVAILABLE},
                    HttpCase{503, grpc::StatusCode::UNAVAILABLE},
                    HttpCase{504, grpc::StatusCode::DEADLINE_EXCEEDED}),
    [](const auto& info) { return absl::StrCat("Http", info.param.http_status); });

// The choices status.h documents for statuses the table does not name.
INSTANTIATE_TEST_SUITE_P(
    OutsideTheTable, HttpStatusTest,
    testing::Values(HttpCase{408, grpc::StatusCode::DEADLINE_EXCEEDED},
                    HttpCase{410, grpc::StatusCode::NOT_FOUND},
                    HttpCase{412, grpc::StatusCode::FAILED_PRECONDITION},
                    HttpCase{418, grpc::StatusCode::FAILED_PRECONDITION},
                    HttpCase{451, grpc::StatusCode::PERMISSION_DENIED},
                    HttpCase{499, grpc::StatusCode::FAILED_PRECONDITION},
                    HttpCase{501, grpc::StatusCode::UNIMPLEMENTED},
                    HttpCase{505, grpc::StatusCode::UNAVAILABLE},
                    HttpCase{520, grpc::StatusCode::UNAVAILABLE},
                    HttpCase{599, grpc::StatusCode::UNAVAILABLE},
                    HttpCase{200, grpc::StatusCode::INTERNAL},
                    HttpCase{302, grpc::StatusCode::INTERNAL},
                    HttpCase{0, grpc::StatusCode::INTERNAL}),
    [](const auto& info) { return absl::StrCat("Http", info.param.http_status); });

// --- Transport failures --------------------------------------------------------------------

struct TransportCase {
  TransportFailure failure;
  grpc::StatusCode code;
  std::string reason;
};

void PrintTo(const TransportCase& c, std::ostream* os) { *os << c.reason; }

class TransportFailureTest : public testing::TestWithParam<TransportCase> {};

TEST_P(TransportFailureTest, MapsToCodeAndReason) {
  const TransportCase& c = GetParam();
  UpstreamContext context = HostOnly();
  context.request_id = "req-42";
  const grpc::Status status = MapTransportFailure(c.failure, "curl says why", context);
  EXPECT_EQ(status.error_code(), c.code);
  EXPECT_TRUE(absl::EndsWith(status.error_message(), ": curl says why"))
      << status.error_message();
  const Details details = Decode(status);
  ASSERT_TRUE(details.error_info.has_value());
  EXPECT_EQ(details.error_info->reason(), c.reason);
  EXPECT_EQ(details.error_info->domain(), kHost);
  EXPECT_EQ(Metadata(*details.error_info, "upstream_request_id"), "req-42");
  EXPECT_EQ(Metadata(*details.error_info, "http_status"), "<absent>");
  EXPECT_FALSE(details.retry_info.has_value());
}

INSTANTIATE_TEST_SUITE_P(
    EveryFailure, TransportFailureTest,
    testing::Values(
        TransportCase{TransportFailure::kConnect, grpc::StatusCode::UNAVAILABLE,
                      "upstream_unreachable"},
        TransportCase{TransportFailure::kResolve, grpc::StatusCode::UNAVAILABLE,
                      "upstream_dns_failed"},
        TransportCase{TransportFailure::kTls, grpc::StatusCode::UNAVAILABLE,
                      "upstream_tls_failed"},
        TransportCase{TransportFailure::kReset, grpc::StatusCode::UNAVAILABLE,
                      "upstream_connection_reset"},
        TransportCase{TransportFailure::kTimeout, grpc::StatusCode::DEADLINE_EXCEEDED,
                      "upstream_timeout"},
        TransportCase{TransportFailure::kIdleTimeout, grpc::StatusCode::DEADLINE_EXCEEDED,
                      "stream_idle_timeout"},
        TransportCase{TransportFailure::kCancelled, grpc::StatusCode::CANCELLED, "cancelled"},
        TransportCase{TransportFailure::kBufferOverflow, grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "slow_reader"},
        TransportCase{TransportFailure::kShuttingDown, grpc::StatusCode::UNAVAILABLE,
                      "shutting_down"},
        TransportCase{TransportFailure::kInternal, grpc::StatusCode::INTERNAL,
                      "gateway_internal_error"}),
    [](const auto& info) { return info.param.reason; });

// Only failures before the request can have left gengate may be sent again by a client.
TEST(MapTransportFailureTest, NamesTheFailuresWhoseRequestNeverReachedTheUpstream) {
  const std::set<TransportFailure> never_sent = {TransportFailure::kConnect,
                                                 TransportFailure::kResolve,
                                                 TransportFailure::kTls,
                                                 TransportFailure::kShuttingDown};
  for (TransportFailure failure :
       {TransportFailure::kConnect, TransportFailure::kResolve, TransportFailure::kTls,
        TransportFailure::kReset, TransportFailure::kTimeout, TransportFailure::kIdleTimeout,
        TransportFailure::kCancelled, TransportFailure::kBufferOverflow,
        TransportFailure::kShuttingDown, TransportFailure::kInternal}) {
    const Details details = Decode(MapTransportFailure(failure, "", HostOnly()));
    ASSERT_TRUE(details.error_info.has_value());
    EXPECT_EQ(NeverReachedUpstream(details.error_info->reason()), never_sent.contains(failure))
        << details.error_info->reason();
  }
  EXPECT_FALSE(NeverReachedUpstream("rate_limit_exceeded"));
}

TEST(MapTransportFailureTest, OmitsDetailSeparatorWhenDetailIsEmpty) {
  const grpc::Status status = MapTransportFailure(TransportFailure::kConnect, "", HostOnly());
  EXPECT_EQ(status.error_message(), "could not connect to upstream api.acedata.cloud");
}

TEST(MapTransportFailureTest, InvalidUtf8InDetailStillGivesParseableDetails) {
  const grpc::Status status =
      MapTransportFailure(TransportFailure::kReset, "bad \xff\xfe bytes \xe6\x97", HostOnly());
  EXPECT_TRUE(IsValidUtf8(status.error_message())) << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "bad ")) << status.error_message();
  Decode(status);
}

// --- Recorded error fixtures ---------------------------------------------------------------

struct FixtureCase {
  std::string file;
  grpc::StatusCode code;
  std::string reason;
};

std::vector<FixtureCase> ErrorFixtures() {
  return {
      {"error-200-non-json-body.json", grpc::StatusCode::INTERNAL, "malformed_upstream_answer"},
      {"error-502-html-proxy-page.json", grpc::StatusCode::UNAVAILABLE, "upstream_http_502"},
      {"error-ace-400-token-mismatched.json", grpc::StatusCode::INVALID_ARGUMENT,
       "token_mismatched"},
      {"error-ace-401-invalid-token.json", grpc::StatusCode::UNAUTHENTICATED, "invalid_token"},
      {"error-ace-403-used-up.json", grpc::StatusCode::PERMISSION_DENIED, "used_up"},
      {"error-ace-429-too-many-requests.json", grpc::StatusCode::RESOURCE_EXHAUSTED,
       "too_many_requests"},
      {"error-ace-500-api-error.json", grpc::StatusCode::INTERNAL, "api_error"},
      {"error-ace-504-timeout.json", grpc::StatusCode::DEADLINE_EXCEEDED, "timeout"},
      {"error-openai-400-unsupported-parameter-vercel.json", grpc::StatusCode::INVALID_ARGUMENT,
       "unsupported_parameter"},
      {"error-openai-401-invalid-api-key-ruby-llm.json", grpc::StatusCode::UNAUTHENTICATED,
       "invalid_api_key"},
      {"error-openai-404-model-not-found.json", grpc::StatusCode::NOT_FOUND, "model_not_found"},
      {"error-openai-429-rate-limit-tokens-ruby-llm.json", grpc::StatusCode::RESOURCE_EXHAUSTED,
       "rate_limit_exceeded"},
      // code is null: the type stands in.
      {"error-openai-500-server-error.json", grpc::StatusCode::INTERNAL, "server_error"},
  };
}

TEST(ErrorFixtureTest, TableCoversEveryErrorFixture) {
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(GENGATE_FIXTURES_DIR)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "error-") && absl::EndsWith(name, ".json")) on_disk.insert(name);
  }
  std::set<std::string> in_table;
  for (const FixtureCase& c : ErrorFixtures()) in_table.insert(c.file);
  EXPECT_EQ(on_disk, in_table);
  EXPECT_FALSE(on_disk.empty());
}

void PrintTo(const FixtureCase& c, std::ostream* os) { *os << c.file; }

class ErrorFixtureTest : public testing::TestWithParam<FixtureCase> {};

TEST_P(ErrorFixtureTest, MapsCodeMessageAndDetails) {
  const FixtureCase& c = GetParam();
  const Json fixture = ReadFixture(c.file);
  ASSERT_TRUE(fixture.is_object());
  const int http_status = fixture.at("status").get<int>();
  const Json& body_json = fixture.at("body");
  const std::string body = body_json.is_string() ? body_json.get<std::string>() : body_json.dump();
  const Json& headers = fixture.at("response_headers");
  const std::string content_type = headers.value("content-type", "");

  const grpc::Status status = MapUpstreamError(
      UpstreamAnswer{.http_status = http_status,
                     .body = body,
                     .content_type = content_type,
                     .retry_after = ParseRetryAfter(headers.value("retry-after-ms", ""),
                                                    headers.value("retry-after", ""))},
      HostOnly());

  EXPECT_EQ(status.error_code(), c.code);
  if (body_json.is_object()) {
    EXPECT_EQ(status.error_message(), body_json.at("error").at("message").get<std::string>());
  } else {
    EXPECT_FALSE(absl::StrContains(status.error_message(), '<')) << status.error_message();
    EXPECT_LE(status.error_message().size(), kMaxStatusMessageBytes);
    EXPECT_TRUE(absl::StrContains(status.error_message(), absl::StrCat("HTTP ", http_status)))
        << status.error_message();
    EXPECT_TRUE(absl::StrContains(status.error_message(), "non-JSON body (text/html)"))
        << status.error_message();
  }

  const Details details = Decode(status);
  ASSERT_TRUE(details.error_info.has_value());
  EXPECT_EQ(details.error_info->reason(), c.reason);
  EXPECT_EQ(details.error_info->domain(), kHost);
  EXPECT_EQ(Metadata(*details.error_info, "http_status"), absl::StrCat(http_status));
  if (body_json.is_object() && body_json.contains("trace_id")) {
    EXPECT_EQ(Metadata(*details.error_info, "upstream_request_id"),
              body_json.at("trace_id").get<std::string>());
  } else {
    EXPECT_EQ(Metadata(*details.error_info, "upstream_request_id"), "<absent>");
  }
  // No fixture carries a Retry-After header, so none may invent a RetryInfo.
  EXPECT_FALSE(details.retry_info.has_value());
}

INSTANTIATE_TEST_SUITE_P(SharedFixtures, ErrorFixtureTest, testing::ValuesIn(ErrorFixtures()),
                         [](const auto& info) {
                           std::string name(absl::StripSuffix(info.param.file, ".json"));
                           for (char& ch : name) {
                             if (ch == '-') ch = '_';
                           }
                           return name;
                         });

// --- Envelope shapes and bodies without a message ------------------------------------------

struct BodyCase {
  std::string name;
  int http_status;
  std::string body;
  std::string content_type;
  std::string message;
  std::string reason;
};

void PrintTo(const BodyCase& c, std::ostream* os) { *os << c.name; }

class BodyShapeTest : public testing::TestWithParam<BodyCase> {};

TEST_P(BodyShapeTest, ExtractsMessageAndReason) {
  const BodyCase& c = GetParam();
  const grpc::Status status = MapUpstreamError(
      UpstreamAnswer{.http_status = c.http_status,
                     .body = c.body,
                     .content_type = c.content_type,
                     .retry_after = std::nullopt},
      HostOnly());
  EXPECT_EQ(status.error_message(), c.message);
  const Details details = Decode(status);
  ASSERT_TRUE(details.error_info.has_value());
  EXPECT_EQ(details.error_info->reason(), c.reason);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, BodyShapeTest,
    testing::Values(
        BodyCase{"ErrorIsString", 400, R"({"error": "some string"})", "application/json",
                 "some string", "upstream_http_400"},
        BodyCase{"TopLevelMessageAndCode", 403, R"({"message": "nope", "code": "blocked"})",
                 "application/json", "nope", "blocked"},
        BodyCase{"NullCodeUsesType", 400,
                 R"({"error": {"message": "m", "type": "invalid_request_error", "code": null}})",
                 "application/json", "m", "invalid_request_error"},
        BodyCase{"NumericCodeUsesType", 400,
                 R"({"error": {"message": "m", "type": "bad_request", "code": 400}})",
                 "application/json", "m", "bad_request"},
        BodyCase{"NoCodeNoType", 409, R"({"error": {"message": "conflict"}})",
                 "application/json", "conflict", "upstream_http_409"},
        BodyCase{"EmptyBody", 503, "", "", "upstream answered HTTP 503 with an empty body",
                 "upstream_http_503"},
        BodyCase{"Garbage", 502, "\xff\xfe garbage {", "application/octet-stream",
                 "upstream answered HTTP 502 with a non-JSON body (application/octet-stream)",
                 "upstream_http_502"},
        BodyCase{"PlainTextNoContentType", 500, "oops", "",
                 "upstream answered HTTP 500 with a non-JSON body", "upstream_http_500"},
        BodyCase{"ContentTypeWithMarkupIsDropped", 502, "<b>x</b>", "<script>",
                 "upstream answered HTTP 502 with a non-JSON body", "upstream_http_502"},
        BodyCase{"JsonWithoutMessage", 404, R"([1, 2])", "application/json; charset=utf-8",
                 "upstream answered HTTP 404 without an error message (application/json)",
                 "upstream_http_404"},
        BodyCase{"EmptyMessageIsNoMessage", 401,
                 R"({"success": false, "error": {"code": "invalid_token", "message": ""}})",
                 "application/json",
                 "upstream answered HTTP 401 without an error message (application/json)",
                 "invalid_token"}),
    [](const auto& info) { return info.param.name; });

TEST(MapUpstreamErrorTest, ContextRequestIdWinsOverTraceId) {
  UpstreamContext context = HostOnly();
  context.request_id = "from-header";
  const grpc::Status status = MapHttp(
      401, R"({"success": false, "error": {"code": "invalid_token", "message": "m"},
               "trace_id": "from-body"})",
      context);
  const Details details = Decode(status);
  ASSERT_TRUE(details.error_info.has_value());
  EXPECT_EQ(Metadata(*details.error_info, "upstream_request_id"), "from-header");
}

// --- RetryInfo -----------------------------------------------------------------------------

struct RetryCase {
  int http_status;
  std::optional<absl::Duration> retry_after;
  bool expect_retry_info;
};

void PrintTo(const RetryCase& c, std::ostream* os) {
  *os << "HTTP " << c.http_status << " retry_after "
      << (c.retry_after.has_value() ? absl::FormatDuration(*c.retry_after) : "none");
}

class RetryInfoTest : public testing::TestWithParam<RetryCase> {};

TEST_P(RetryInfoTest, PresentOnlyFor429And503WithADelay) {
  const RetryCase& c = GetParam();
  const Details details =
      Decode(MapHttp(c.http_status, OpenAiBody("slow down"), HostOnly(), c.retry_after));
  ASSERT_EQ(details.retry_info.has_value(), c.expect_retry_info);
  if (c.expect_retry_info) {
    const auto& delay = details.retry_info->retry_delay();
    EXPECT_EQ(absl::Seconds(delay.seconds()) + absl::Nanoseconds(delay.nanos()), *c.retry_after);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RetryInfoTest,
    testing::Values(RetryCase{429, absl::Milliseconds(1500), true},
                    RetryCase{429, absl::Seconds(20), true},
                    RetryCase{429, absl::ZeroDuration(), true},
                    RetryCase{429, std::nullopt, false},
                    RetryCase{503, absl::Seconds(2), true},
                    RetryCase{503, std::nullopt, false},
                    RetryCase{500, absl::Seconds(2), false},
                    RetryCase{502, absl::Seconds(2), false}));

struct RetryAfterCase {
  std::string name;
  std::string retry_after_ms;
  std::string retry_after;
  std::optional<absl::Duration> expected;
};

void PrintTo(const RetryAfterCase& c, std::ostream* os) { *os << c.name; }

class ParseRetryAfterTest : public testing::TestWithParam<RetryAfterCase> {};

TEST_P(ParseRetryAfterTest, Parses) {
  const RetryAfterCase& c = GetParam();
  EXPECT_EQ(ParseRetryAfter(c.retry_after_ms, c.retry_after), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Headers, ParseRetryAfterTest,
    testing::Values(
        RetryAfterCase{"Milliseconds", "250", "", absl::Milliseconds(250)},
        RetryAfterCase{"FractionalMilliseconds", "1.5", "", absl::Microseconds(1500)},
        RetryAfterCase{"MillisecondsWinOverSeconds", "100", "9", absl::Milliseconds(100)},
        RetryAfterCase{"Seconds", "", "7", absl::Seconds(7)},
        RetryAfterCase{"SecondsWithWhitespace", "", " 3 ", absl::Seconds(3)},
        RetryAfterCase{"GarbageMillisecondsFallBackToSeconds", "soon", "3", absl::Seconds(3)},
        RetryAfterCase{"HttpDateIgnored", "", "Wed, 21 Oct 2015 07:28:00 GMT", std::nullopt},
        RetryAfterCase{"NegativeMillisecondsIgnored", "-5", "", std::nullopt},
        RetryAfterCase{"NegativeSecondsIgnored", "", "-1", std::nullopt},
        RetryAfterCase{"FractionalSecondsIgnored", "", "1.5", std::nullopt},
        RetryAfterCase{"NanIgnored", "nan", "", std::nullopt},
        RetryAfterCase{"InfinityIgnored", "inf", "", std::nullopt},
        RetryAfterCase{"AbsurdlyLongIgnored", "", "99999999999", std::nullopt},
        RetryAfterCase{"BothAbsent", "", "", std::nullopt}),
    [](const auto& info) { return info.param.name; });

// --- Length limit --------------------------------------------------------------------------

struct CutCase {
  std::string name;
  std::string character;  // repeated to make a 10 KB message
  std::size_t ascii_prefix;  // shifts where the 512-byte limit falls inside a character
};

void PrintTo(const CutCase& c, std::ostream* os) { *os << c.name; }

class MessageCutTest : public testing::TestWithParam<CutCase> {};

TEST_P(MessageCutTest, CutsTenKilobytesOnAUtf8Boundary) {
  const CutCase& c = GetParam();
  std::string long_message(c.ascii_prefix, 'a');
  while (long_message.size() < 10 * 1024) long_message += c.character;

  const grpc::Status status = MapHttp(400, OpenAiBody(long_message));
  const std::string& message = status.error_message();
  EXPECT_LE(message.size(), kMaxStatusMessageBytes);
  EXPECT_GT(message.size(), kMaxStatusMessageBytes - 3 - c.character.size());
  EXPECT_TRUE(IsValidUtf8(message));
  ASSERT_TRUE(absl::EndsWith(message, "..."));
  EXPECT_TRUE(absl::StartsWith(long_message, message.substr(0, message.size() - 3)));
  EXPECT_EQ(Decode(status).status.message(), message);
}

INSTANTIATE_TEST_SUITE_P(
    Characters, MessageCutTest,
    testing::Values(CutCase{"Ascii", "x", 0}, CutCase{"TwoByte0", "\xc3\xa9", 0},
                    CutCase{"TwoByte1", "\xc3\xa9", 1}, CutCase{"ThreeByte0", "\xe6\x97\xa5", 0},
                    CutCase{"ThreeByte1", "\xe6\x97\xa5", 1},
                    CutCase{"ThreeByte2", "\xe6\x97\xa5", 2},
                    CutCase{"FourByte0", "\xf0\x9f\x91\x8b", 0},
                    CutCase{"FourByte1", "\xf0\x9f\x91\x8b", 1},
                    CutCase{"FourByte2", "\xf0\x9f\x91\x8b", 2},
                    CutCase{"FourByte3", "\xf0\x9f\x91\x8b", 3}),
    [](const auto& info) { return info.param.name; });

TEST(MessageCutTest, ShortMessageIsKeptWhole) {
  const std::string message(kMaxStatusMessageBytes, 'm');
  EXPECT_EQ(MapHttp(400, OpenAiBody(message)).error_message(), message);
}

// --- Redaction -----------------------------------------------------------------------------

constexpr char kApiKey[] = "sk-ace-SECRET0123456789";

UpstreamContext WithKey() {
  UpstreamContext context = HostOnly();
  context.api_key = kApiKey;
  return context;
}

void ExpectKeyRedacted(const grpc::Status& status) {
  EXPECT_FALSE(absl::StrContains(status.error_message(), kApiKey)) << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), "[REDACTED]")) << status.error_message();
  // The raw serialized details, not only the fields we know of, must not hold the key.
  EXPECT_FALSE(absl::StrContains(status.error_details(), kApiKey));
  Decode(status);
}

TEST(RedactionTest, RemovesKeyEchoedInUpstreamMessageAndDetails) {
  const std::string body =
      Json{{"success", false},
           {"error",
            {{"code", absl::StrCat("bad_", kApiKey)},
             {"message", absl::StrCat("Incorrect API key provided: ", kApiKey, ". Again: ",
                                      kApiKey)}}},
           {"trace_id", absl::StrCat("trace-", kApiKey)}}
          .dump();
  const grpc::Status status = MapHttp(401, body, WithKey());
  ExpectKeyRedacted(status);
  EXPECT_EQ(status.error_message(),
            "Incorrect API key provided: [REDACTED]. Again: [REDACTED]");
  const Details details = Decode(status);
  ASSERT_TRUE(details.error_info.has_value());
  EXPECT_EQ(details.error_info->reason(), "bad_[REDACTED]");
  EXPECT_EQ(Metadata(*details.error_info, "upstream_request_id"), "trace-[REDACTED]");
}

TEST(RedactionTest, RemovesKeyBeforeCuttingALongMessage) {
  // The key straddles the 512-byte limit: cutting first would leave part of it behind.
  const std::string message = std::string(500, 'a') + kApiKey + std::string(100, 'b');
  const grpc::Status status = MapHttp(400, OpenAiBody(message), WithKey());
  EXPECT_FALSE(absl::StrContains(status.error_message(), "sk-ace")) << status.error_message();
  EXPECT_LE(status.error_message().size(), kMaxStatusMessageBytes);
}

TEST(RedactionTest, RemovesKeyFromTransportDetail) {
  ExpectKeyRedacted(MapTransportFailure(TransportFailure::kTls,
                                        absl::StrCat("header Authorization: Bearer ", kApiKey),
                                        WithKey()));
}

TEST(RedactionTest, RemovesKeyFromMalformedDescription) {
  ExpectKeyRedacted(MalformedUpstream(absl::StrCat("unexpected token near ", kApiKey), WithKey()));
}

TEST(RedactionTest, RemovesKeyFromStreamError) {
  ExpectKeyRedacted(MapStreamError(
      Json{{"error", {{"message", absl::StrCat("key ", kApiKey, " is revoked")}}}}.dump(),
      WithKey()));
}

TEST(RedactionTest, RemovesKeyFromNonJsonDescription) {
  // Only our own words appear for HTML, but a key in the request id must still go.
  UpstreamContext context = WithKey();
  context.request_id = kApiKey;
  const grpc::Status status = MapUpstreamError(
      UpstreamAnswer{.http_status = 502,
                     .body = "<html>x</html>",
                     .content_type = "text/html",
                     .retry_after = std::nullopt},
      context);
  EXPECT_FALSE(absl::StrContains(status.error_details(), kApiKey));
}

// --- Stream errors -------------------------------------------------------------------------

// The JSON payloads of a fixture's `data:` events (one event per chunk in these fixtures).
std::vector<Json> StreamPayloads(const std::string& file) {
  std::vector<Json> payloads;
  const Json fixture = ReadFixture(file);
  for (const Json& chunk : fixture.at("sse_chunks")) {
    absl::string_view data = chunk.get_ref<const std::string&>();
    if (!absl::ConsumePrefix(&data, "data: ")) continue;
    data = absl::StripTrailingAsciiWhitespace(data);
    if (data == "[DONE]") continue;
    payloads.push_back(Json::parse(std::string(data), nullptr, /*allow_exceptions=*/false));
  }
  return payloads;
}

TEST(MapStreamErrorTest, ChatErrorAfterOutputFixture) {
  int error_events = 0;
  for (const Json& payload : StreamPayloads("chat-stream-error-after-output-vercel.json")) {
    if (!payload.contains("error")) continue;
    ++error_events;
    const grpc::Status status = MapStreamError(payload.dump(), HostOnly());
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
    EXPECT_EQ(status.error_message(), "stream failed after output");
    const Details details = Decode(status);
    ASSERT_TRUE(details.error_info.has_value());
    // code is null in the fixture: the error type stands in.
    EXPECT_EQ(details.error_info->reason(), "server_error");
    EXPECT_EQ(details.error_info->domain(), kHost);
  }
  EXPECT_EQ(error_events, 1);
}

TEST(MapStreamErrorTest, ResponsesErrorThenFailedFixture) {
  std::vector<std::string> types;
  for (const Json& payload : StreamPayloads("responses-stream-error-then-failed-vercel.json")) {
    const std::string type = payload.value("type", "");
    if (type != "error" && type != "response.failed") continue;
    types.push_back(type);
    const grpc::Status status = MapStreamError(payload.dump(), HostOnly());
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL) << type;
    EXPECT_TRUE(absl::StartsWith(status.error_message(), "You exceeded your current quota"))
        << type << ": " << status.error_message();
    const Details details = Decode(status);
    ASSERT_TRUE(details.error_info.has_value());
    EXPECT_EQ(details.error_info->reason(), "insufficient_quota") << type;
  }
  EXPECT_EQ(types, (std::vector<std::string>{"error", "response.failed"}));
}

struct StreamCase {
  std::string name;
  std::string event_json;
  std::string message;
  std::string reason;
};

void PrintTo(const StreamCase& c, std::ostream* os) { *os << c.name; }

class StreamShapeTest : public testing::TestWithParam<StreamCase> {};

TEST_P(StreamShapeTest, MapsToInternal) {
  const StreamCase& c = GetParam();
  const grpc::Status status = MapStreamError(c.event_json, HostOnly());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(status.error_message(), c.message);
  const Details details = Decode(status);
  ASSERT_TRUE(details.error_info.has_value());
  EXPECT_EQ(details.error_info->reason(), c.reason);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, StreamShapeTest,
    testing::Values(
        StreamCase{"ResponsesTopLevelFields",
                   R"({"type": "error", "code": "server_error", "message": "boom"})", "boom",
                   "server_error"},
        StreamCase{"ResponsesEventWithoutCode", R"({"type": "error", "message": "boom"})",
                   "boom", "upstream_stream_error"},
        StreamCase{"FailedWithoutError", R"({"type": "response.failed", "response": {}})",
                   "upstream api.acedata.cloud ended the stream with an error",
                   "upstream_stream_error"},
        StreamCase{"ErrorIsString", R"({"error": "went wrong"})", "went wrong",
                   "upstream_stream_error"},
        StreamCase{"NotJson", "{\"error\": {", "malformed answer from upstream "
                   "api.acedata.cloud: a stream error event is not JSON",
                   "malformed_upstream_answer"}),
    [](const auto& info) { return info.param.name; });

// --- Malformed answers and our own errors --------------------------------------------------

TEST(MalformedUpstreamTest, IsInternalWithReasonAndDomain) {
  UpstreamContext context = HostOnly();
  context.request_id = "req-7";
  const grpc::Status status = MalformedUpstream("choices is not an array", context);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(status.error_message(),
            "malformed answer from upstream api.acedata.cloud: choices is not an array");
  const Details details = Decode(status);
  ASSERT_TRUE(details.error_info.has_value());
  EXPECT_EQ(details.error_info->reason(), kMalformedUpstreamReason);
  EXPECT_EQ(details.error_info->domain(), kHost);
  EXPECT_EQ(Metadata(*details.error_info, "upstream_request_id"), "req-7");
}

class FromAbslTest : public testing::TestWithParam<absl::Status> {};

TEST_P(FromAbslTest, KeepsCodeAndMessage) {
  const absl::Status& in = GetParam();
  const grpc::Status out = FromAbsl(in);
  EXPECT_EQ(static_cast<int>(out.error_code()), in.raw_code());
  EXPECT_EQ(out.error_message(), in.message());
  EXPECT_EQ(out.ok(), in.ok());
}

INSTANTIATE_TEST_SUITE_P(
    Codes, FromAbslTest,
    testing::Values(absl::OkStatus(), absl::InvalidArgumentError("model is required"),
                    absl::NotFoundError("no such thing"), absl::ResourceExhaustedError("full"),
                    absl::UnavailableError("later"), absl::DeadlineExceededError("too slow"),
                    absl::InternalError("bug"), absl::UnimplementedError("not yet"),
                    absl::CancelledError("gone")));

}  // namespace
}  // namespace gengate::status
