// Tests of the fake upstream itself, driven by libcurl (what gengate uses) and raw sockets.
#include "testing/upstream_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gengate::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct CurlResult {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
};

size_t AppendToString(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// One request through libcurl; `handle` may be reused to exercise keep-alive.
CurlResult Perform(CURL* handle, const std::string& url, const std::string& body,
                   const std::vector<std::string>& headers = {}) {
  CurlResult result;
  curl_slist* header_list = nullptr;
  for (const std::string& header : headers) header_list = curl_slist_append(header_list, header.c_str());
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, 20000L);
  result.code = curl_easy_perform(handle);
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &result.status);
  curl_slist_free_all(header_list);
  return result;
}

CurlResult Post(const std::string& url, const std::string& body,
                const std::vector<std::string>& headers = {}) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle(curl_easy_init(), curl_easy_cleanup);
  return Perform(handle.get(), url, body, headers);
}

// A connected raw TCP socket to the server.
int ConnectTo(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void SendRequest(int fd, absl::string_view path) {
  std::string request =
      absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}");
  ASSERT_EQ(send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
}

// What a handler saw, handed back to the test thread.
struct Probe {
  absl::Notification done;
  bool result = false;
};

class UpstreamServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()); }
  std::string Url(absl::string_view path) const { return server_.base_url() + std::string(path); }

  UpstreamServer server_;
};

TEST_F(UpstreamServerTest, RecordsRequestAndRepliesWithContentLength) {
  server_.Handle("/v1/echo", [](const RecordedRequest& request, Responder& responder) {
    responder.Reply(201, {{"Content-Type", "text/plain"}}, "got " + request.body);
  });

  CurlResult result = Post(Url("/v1/echo?x=1"), "hello", {"Authorization: Bearer k", "X-Mixed-Case: V"});

  ASSERT_EQ(result.code, CURLE_OK);
  EXPECT_EQ(result.status, 201);
  EXPECT_EQ(result.body, "got hello");
  std::vector<RecordedRequest> requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].target, "/v1/echo?x=1");
  EXPECT_EQ(requests[0].path, "/v1/echo");
  EXPECT_EQ(requests[0].Header("authorization"), "Bearer k");
  EXPECT_EQ(requests[0].Header("X-MIXED-CASE"), "V");
  EXPECT_TRUE(requests[0].headers.contains("x-mixed-case"));
  EXPECT_EQ(requests[0].body, "hello");
  EXPECT_TRUE(server_.unexpected_requests().empty());
  EXPECT_TRUE(server_.protocol_errors().empty());
}

TEST_F(UpstreamServerTest, AnswersUnknownPathWith404AndRecordsIt) {
  CurlResult result = Post(Url("/nobody/here"), "{}");

  ASSERT_EQ(result.code, CURLE_OK);
  EXPECT_EQ(result.status, 404);
  std::vector<RecordedRequest> unexpected = server_.unexpected_requests();
  ASSERT_EQ(unexpected.size(), 1u);
  EXPECT_EQ(unexpected[0].path, "/nobody/here");
  EXPECT_EQ(server_.requests().size(), 1u);
}

TEST_F(UpstreamServerTest, StreamsWritesUntilTheHandlerReturns) {
  server_.Handle("/stream", [](const RecordedRequest&, Responder& responder) {
    ASSERT_TRUE(responder.WriteHead(200, {{"Content-Type", "text/event-stream"}, {"Connection", "close"}}));
    EXPECT_TRUE(responder.Write("data: 1\n\n"));
    EXPECT_TRUE(responder.Write("data: 2\n"));
    EXPECT_TRUE(responder.Write("\n"));
  });

  CurlResult result = Post(Url("/stream"), "{}");

  ASSERT_EQ(result.code, CURLE_OK);
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "data: 1\n\ndata: 2\n\n");
}

size_t ReadFromString(char* buffer, size_t size, size_t count, void* source) {
  auto* text = static_cast<std::string*>(source);
  size_t n = std::min(size * count, text->size());
  text->copy(buffer, n);
  text->erase(0, n);
  return n;
}

TEST_F(UpstreamServerTest, DecodesChunkedRequestBodies) {
  server_.Handle("/upload", [](const RecordedRequest&, Responder& responder) {
    responder.Reply(200, {}, "");
  });
  std::string source(100000, 'z');
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle(curl_easy_init(), curl_easy_cleanup);
  curl_slist* headers = curl_slist_append(nullptr, "Transfer-Encoding: chunked");
  curl_easy_setopt(handle.get(), CURLOPT_URL, Url("/upload").c_str());
  curl_easy_setopt(handle.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(handle.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(handle.get(), CURLOPT_READFUNCTION, ReadFromString);
  curl_easy_setopt(handle.get(), CURLOPT_READDATA, &source);
  std::string ignored;
  curl_easy_setopt(handle.get(), CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(handle.get(), CURLOPT_WRITEDATA, &ignored);

  ASSERT_EQ(curl_easy_perform(handle.get()), CURLE_OK);
  curl_slist_free_all(headers);

  std::vector<RecordedRequest> requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].body, std::string(100000, 'z'));
  EXPECT_TRUE(server_.protocol_errors().empty());
}

TEST_F(UpstreamServerTest, AnswersExpectContinueForLargeBodies) {
  server_.Handle("/big", [](const RecordedRequest& request, Responder& responder) {
    responder.Reply(200, {}, std::to_string(request.body.size()));
  });

  CurlResult result = Post(Url("/big"), std::string(200000, 'a'), {"Expect: 100-continue"});

  ASSERT_EQ(result.code, CURLE_OK);
  EXPECT_EQ(result.body, "200000");
  EXPECT_EQ(server_.requests().at(0).Header("expect"), "100-continue");
}

TEST_F(UpstreamServerTest, KeepsConnectionsAliveAfterReply) {
  server_.Handle("/k", [](const RecordedRequest&, Responder& responder) {
    responder.Reply(200, {}, "ok");
  });
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle(curl_easy_init(), curl_easy_cleanup);

  ASSERT_EQ(Perform(handle.get(), Url("/k"), "1").code, CURLE_OK);
  ASSERT_EQ(Perform(handle.get(), Url("/k"), "2").code, CURLE_OK);

  std::vector<RecordedRequest> requests = server_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].connection_id, requests[1].connection_id);
  EXPECT_EQ(server_.connections_accepted(), 1);
}

TEST_F(UpstreamServerTest, WaitForPeerCloseSeesTheClientClose) {
  auto probe = std::make_shared<Probe>();
  server_.Handle("/hang", [probe](const RecordedRequest&, Responder& responder) {
    responder.WriteHead(200, {{"Connection", "close"}});
    probe->result = responder.WaitForPeerClose(absl::Seconds(20)) &&
                    responder.peer_closed_at().has_value();
    probe->done.Notify();
  });
  int fd = ConnectTo(server_.port());
  ASSERT_GE(fd, 0);
  SendRequest(fd, "/hang");
  ASSERT_TRUE(server_.WaitForRequests(1, absl::Seconds(10)));

  close(fd);

  ASSERT_TRUE(probe->done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_TRUE(probe->result);
  EXPECT_TRUE(server_.WaitForPeerCloses(1, absl::Seconds(10)));
  EXPECT_EQ(server_.peer_closes(), 1);
}

TEST_F(UpstreamServerTest, WaitForPeerCloseReturnsFalseWhileThePeerStays) {
  auto probe = std::make_shared<Probe>();
  server_.Handle("/hang", [probe](const RecordedRequest&, Responder& responder) {
    probe->result = responder.WaitForPeerClose(absl::Milliseconds(50));
    probe->done.Notify();
  });
  int fd = ConnectTo(server_.port());
  ASSERT_GE(fd, 0);
  SendRequest(fd, "/hang");

  ASSERT_TRUE(probe->done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_FALSE(probe->result);
  EXPECT_EQ(server_.peer_closes(), 0);
  close(fd);
}

TEST_F(UpstreamServerTest, ResetSendsTcpReset) {
  server_.Handle("/rst", [](const RecordedRequest&, Responder& responder) { responder.Reset(); });
  int fd = ConnectTo(server_.port());
  ASSERT_GE(fd, 0);
  SendRequest(fd, "/rst");

  char buffer[64];
  ssize_t got = recv(fd, buffer, sizeof(buffer), 0);
  int error = errno;

  EXPECT_EQ(got, -1);
  EXPECT_EQ(error, ECONNRESET);
  close(fd);
}

TEST_F(UpstreamServerTest, GateHoldsTheHandlerUntilOpened) {
  std::shared_ptr<Gate> gate = server_.NewGate();
  server_.Handle("/held", [gate](const RecordedRequest&, Responder& responder) {
    bool opened = gate->Wait(absl::Seconds(20));
    responder.Reply(200, {}, opened ? "released" : "timed out");
  });
  CurlResult result;
  std::thread client([&] { result = Post(Url("/held"), "{}"); });
  ASSERT_TRUE(server_.WaitForRequests(1, absl::Seconds(10)));
  EXPECT_FALSE(gate->IsOpen());

  gate->Open();
  client.join();

  EXPECT_EQ(result.body, "released");
}

TEST_F(UpstreamServerTest, ResetReleasesHeldHandlersAndForgetsEverything) {
  std::shared_ptr<Gate> gate = server_.NewGate();
  auto probe = std::make_shared<Probe>();
  server_.Handle("/held", [gate, probe](const RecordedRequest&, Responder&) {
    gate->Wait(absl::Minutes(10));
    probe->done.Notify();
  });
  int fd = ConnectTo(server_.port());
  ASSERT_GE(fd, 0);
  SendRequest(fd, "/held");
  ASSERT_TRUE(server_.WaitForRequests(1, absl::Seconds(10)));

  server_.Reset();

  EXPECT_TRUE(probe->done.HasBeenNotified());
  EXPECT_TRUE(gate->IsOpen());
  EXPECT_TRUE(server_.requests().empty());
  // The harness closed that connection; it is not the peer's close.
  EXPECT_EQ(server_.peer_closes(), 0);
  CurlResult after = Post(Url("/held"), "{}");
  EXPECT_EQ(after.status, 404);
  close(fd);
}

TEST_F(UpstreamServerTest, RejectsMalformedRequestLine) {
  int fd = ConnectTo(server_.port());
  ASSERT_GE(fd, 0);
  std::string garbage = "NOT-HTTP\r\n\r\n";
  send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL);
  std::string answer;
  char buffer[256];
  ssize_t got;
  while ((got = recv(fd, buffer, sizeof(buffer), 0)) > 0) answer.append(buffer, got);
  close(fd);

  EXPECT_THAT(answer, HasSubstr("400"));
  EXPECT_THAT(server_.protocol_errors(), ElementsAre(HasSubstr("bad request line")));
}

TEST(FixtureTest, LoadsUnarySseAndBase64Chunks) {
  absl::StatusOr<Fixture> unary = LoadFixture(GENGATE_FIXTURES_DIR, "chat-unary-basic-gpt5-nano-ruby-llm");
  ASSERT_TRUE(unary.ok()) << unary.status();
  EXPECT_FALSE(unary->sse);
  EXPECT_EQ(unary->status, 200);
  EXPECT_EQ(unary->endpoint, "/openai/chat/completions");
  nlohmann::json body = nlohmann::json::parse(unary->body);
  EXPECT_EQ(body["id"], "chatcmpl-DoZHjjB4VYY8sNCRd9XvomLmenRjK");

  absl::StatusOr<Fixture> html = LoadFixture(GENGATE_FIXTURES_DIR, "error-502-html-proxy-page.json");
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_TRUE(html->body.starts_with("<html>\r\n"));

  absl::StatusOr<Fixture> utf8 = LoadFixture(GENGATE_FIXTURES_DIR, "sse-utf8-multibyte-split");
  ASSERT_TRUE(utf8.ok()) << utf8.status();
  ASSERT_TRUE(utf8->sse);
  std::string joined;
  for (const std::string& chunk : utf8->sse_chunks) joined += chunk;
  EXPECT_THAT(joined, HasSubstr("日本語"));
  EXPECT_FALSE(LoadFixture(GENGATE_FIXTURES_DIR, "no-such-fixture").ok());
}

TEST_F(UpstreamServerTest, ReplaysSseFixtureByteForByte) {
  absl::StatusOr<Fixture> fixture = LoadFixture(GENGATE_FIXTURES_DIR, "sse-utf8-multibyte-split");
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  std::string expected;
  for (const std::string& chunk : fixture->sse_chunks) expected += chunk;
  server_.Handle(fixture->endpoint, ReplayFixture(*fixture, {{"x-request-id", "up-1"}}));

  CurlResult result = Post(Url(fixture->endpoint), "{}");

  ASSERT_EQ(result.code, CURLE_OK);
  EXPECT_EQ(result.status, fixture->status);
  EXPECT_EQ(result.body, expected);
}

TEST_F(UpstreamServerTest, ReplaysUnaryFixtureWithStatus) {
  absl::StatusOr<Fixture> fixture = LoadFixture(GENGATE_FIXTURES_DIR, "error-ace-429-too-many-requests");
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  server_.Handle(fixture->endpoint, ReplayFixture(*fixture));

  CurlResult result = Post(Url(fixture->endpoint), "{}");

  ASSERT_EQ(result.code, CURLE_OK);
  EXPECT_EQ(result.status, 429);
  EXPECT_EQ(nlohmann::json::parse(result.body), fixture->raw["body"]);
}

}  // namespace
}  // namespace gengate::testing
