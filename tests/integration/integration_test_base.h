// What the integration tests of every service share: the gengate process per test suite, the
// strict upstream, status and details readers, and the table of upstream failures that each
// RPC must map as DESIGN.md section 3 says.
//
// A suite class starts one gengate process (against one UpstreamServer on 127.0.0.1) in its
// SetUpTestSuite; the upstream is reset before each test, and a request to a path no test
// registered fails the test.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/gengate_process.h"
#include "testing/upstream_server.h"

namespace gengate::integration {

using json = nlohmann::json;

// Recognizable, so a leak anywhere is easy to spot.
inline constexpr char kApiKey[] = "sk-test-SECRET-1234";
// The upstream URL is http://127.0.0.1:PORT/openai; ErrorInfo.domain is the host.
inline constexpr char kUpstreamHost[] = "127.0.0.1";

// ---------------------------------------------------------------------------------------
// Small readers.

// A fixture from the shared set; a test failure (and an empty fixture) when it cannot load.
gengate::testing::Fixture MustLoad(absl::string_view name);

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout);

std::optional<std::string> MetadataValue(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata, absl::string_view key);

std::string CodeName(grpc::StatusCode code);
// "CODE: message", for failure messages.
std::string Describe(const grpc::Status& status);

std::optional<google::rpc::ErrorInfo> ErrorInfoOf(const grpc::Status& status);
// The google.rpc.RetryInfo delay in the details, if any.
std::optional<absl::Duration> RetryDelayOf(const grpc::Status& status);

// A string field of a JSON object, "" when absent or null.
std::string JsonString(const json& object, absl::string_view key);
int64_t JsonInt(const json& object, absl::string_view key);
// The member, or a null JSON value when absent.
const json& JsonObject(const json& object, absl::string_view key);
// Parses without throwing; a discarded value when `text` is not JSON.
json ParseJson(absl::string_view text);

// The data payloads of an SSE byte stream, by the SSE rules (a reference for well-formed
// fixtures; the gateway's own parser is tested on its own).
std::vector<std::string> SseDataPayloads(const std::vector<std::string>& writes);
// "data: <payload>\n\n".
std::string SseEvent(const json& payload);
// Content-Type text/event-stream and Connection: close.
const gengate::testing::HeaderList& SseHeaders();

// What a handler observed about the gateway closing its upstream connection.
struct CloseProbe {
  absl::Notification done;
  bool closed = false;
  std::optional<absl::Time> closed_at;

  void Record(gengate::testing::Responder& responder, absl::Duration timeout);
};

void ExpectNoKeyInStatus(const grpc::Status& status);

// The only request the upstream received, checked to be a POST to `path` with the bearer key
// and a JSON object body: that body, or nullopt (after a test failure) when it is not so.
std::optional<json> OnlyJsonPost(const std::vector<gengate::testing::RecordedRequest>& received,
                                 absl::string_view path);

// ---------------------------------------------------------------------------------------
// Processes.

// --listen, --admin_listen on port 0, --upstream_url, json logs and a short drain.
std::vector<std::string> BaseFlags(std::string upstream_url);
// A file holding kApiKey (with the newline `echo` writes); its path.
std::string WriteKeyFile();
// A TCP port on 127.0.0.1 that nobody listens on.
int ClosedPort();

// One gengate process per suite class and one upstream shared by its tests.
class GatewayTestBase : public ::testing::Test {
 protected:
  // Starts what stands between gengate and the upstream (a TLS front, say) once the upstream
  // runs; returns the base URL gengate is given, "/openai" included.
  using UpstreamFront =
      std::function<absl::StatusOr<std::string>(const gengate::testing::UpstreamServer&)>;

  // Starts the upstream and gengate, which reaches it at base_url()/openai unless a `front`
  // says otherwise.
  static void StartGengate(std::vector<std::string> extra_flags,
                           gengate::testing::EnvironmentList environment,
                           const UpstreamFront& front = nullptr);
  static void TearDownTestSuite();

  // Fails the test when the suite's processes did not start; resets the upstream.
  void SetUp() override;
  // Fails the test on unexpected upstream calls, malformed requests and a leaked key.
  void TearDown() override;

  // A channel without the 4 MB receive limit of gRPC's default (images are large).
  static std::shared_ptr<grpc::Channel> LargeMessageChannel() { return large_message_channel_; }

  // The gateway's log line for the call with this x-request-id.
  static std::optional<json> CallLogLine(const std::string& request_id);

  static inline std::unique_ptr<gengate::testing::UpstreamServer> upstream_;
  static inline std::unique_ptr<gengate::testing::GengateProcess> gengate_;
  static inline absl::Status start_status_;
  static inline std::shared_ptr<grpc::Channel> large_message_channel_;
};

// ---------------------------------------------------------------------------------------
// Upstream failures: one table, replayed against every RPC.

// An RPC as the failure table drives it: how to call it and which upstream path it uses.
struct RpcOutcome {
  grpc::Status status;
  int messages = 0;  // stream messages received before the status (0 for unary)
};

struct RpcUnderTest {
  std::string name;
  std::string path;  // upstream path, e.g. "/openai/responses"
  bool stream = false;
  std::function<RpcOutcome(std::shared_ptr<grpc::Channel>, grpc::ClientContext&)> call;
};

// How the upstream misbehaves, and what the caller must see.
struct UpstreamFailure {
  std::string name;
  gengate::testing::Handler respond;
  grpc::StatusCode code;
  // ErrorInfo.reason; empty: the status comes from the client's own deadline, no details.
  std::string reason;
  // The exact status message; empty: only non-empty, no HTML, at most 512 bytes.
  std::string message;
  int http_status = 0;  // ErrorInfo metadata http_status; 0: not an HTTP answer
  std::string upstream_request_id;  // expected in ErrorInfo and trailing metadata when set
  // The upstream's id cannot travel as gRPC metadata: no x-upstream-request-id trailer.
  bool no_request_id_trailer = false;
  std::optional<absl::Duration> retry_delay;
  absl::Duration caller_deadline = absl::Seconds(30);
  bool upstream_sees_close = false;  // the gateway must let go of the upstream request
};

// Upstream 400, 401, 403, 404, 413, 429 + Retry-After, 500, 502 HTML, 503 + Retry-After, 504,
// 200 HTML, 200 truncated and broken JSON, reset before and during the answer, an upstream
// that stalls past the caller's deadline, an error page that never ends, and upstream request
// ids that cannot be sent as gRPC metadata.
std::vector<UpstreamFailure> UpstreamFailures();

// Registers the failure on the RPC's path, calls the RPC and checks code, message, ErrorInfo
// (reason, domain, http_status, request id), RetryInfo, and the key's absence.
void RunUpstreamFailure(gengate::testing::UpstreamServer& upstream,
                        gengate::testing::GengateProcess& gengate, const RpcUnderTest& rpc,
                        const UpstreamFailure& failure);

std::string FailureCaseName(
    const ::testing::TestParamInfo<std::tuple<RpcUnderTest, UpstreamFailure>>& info);
std::string RpcName(const ::testing::TestParamInfo<RpcUnderTest>& info);

void PrintTo(const RpcUnderTest& rpc, std::ostream* os);
void PrintTo(const UpstreamFailure& failure, std::ostream* os);

// A gengate whose upstream URL points at a port nobody listens on (one per suite).
class UnreachableUpstreamTest : public ::testing::TestWithParam<RpcUnderTest> {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  // Calls the RPC: UNAVAILABLE with reason upstream_unreachable, and no key anywhere.
  void ExpectUnavailable();

  static inline std::unique_ptr<gengate::testing::GengateProcess> gengate_;
  static inline absl::Status start_status_;
};

// A gengate with --max_message_bytes=kSmallMessageLimit: requests over it (but under twice
// it, which gRPC still admits) are refused by the service with INVALID_ARGUMENT naming it.
inline constexpr int kSmallMessageLimit = 64 << 10;

class SmallMessageLimitTest : public GatewayTestBase,
                              public ::testing::WithParamInterface<RpcUnderTest> {
 protected:
  static void SetUpTestSuite();
  // Calls the RPC (which must build a request over the limit): INVALID_ARGUMENT naming the
  // limit and the flag, and the upstream never called.
  void ExpectRefusedAsTooLarge();
};

// Reads a server stream to its end.
template <typename Message>
struct StreamReadResult {
  std::vector<Message> messages;
  grpc::Status status;
};

template <typename Message>
StreamReadResult<Message> ReadAll(grpc::ClientReader<Message>& reader) {
  StreamReadResult<Message> result;
  Message message;
  while (reader.Read(&message)) result.messages.push_back(message);
  result.status = reader.Finish();
  return result;
}

}  // namespace gengate::integration
