#include "http_response_parser.h"

#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace gengate::bench {
namespace {

constexpr std::string_view kLengthResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
    "{\"ok\":true}";

constexpr std::string_view kSseResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    "f\r\ndata: {\"a\":1}\n\n\r\n"
    "15\r\ndata: {\"b\":2}\n\ndata: \r\n"
    "4\r\n{}\n\n\r\n"
    "e\r\ndata: [DONE]\n\n\r\n"
    "0\r\n\r\n";

// Feeds `response` in pieces of `step` bytes; returns the last progress.
HttpResponseParser::Progress FeedInSteps(HttpResponseParser& parser, std::string_view response,
                                         size_t step) {
  HttpResponseParser::Progress progress = HttpResponseParser::Progress::kNeedMore;
  for (size_t at = 0; at < response.size(); at += step) {
    progress = parser.Feed(response.substr(at, step));
    if (progress != HttpResponseParser::Progress::kNeedMore && at + step < response.size()) {
      return HttpResponseParser::Progress::kBad;  // finished early
    }
  }
  return progress;
}

TEST(HttpResponseParserTest, ReadsContentLengthBodiesSplitAnywhere) {
  for (size_t step = 1; step <= kLengthResponse.size(); ++step) {
    HttpResponseParser parser;
    ASSERT_EQ(FeedInSteps(parser, kLengthResponse, step), HttpResponseParser::Progress::kDone)
        << step;
    EXPECT_EQ(parser.status(), 200);
    EXPECT_EQ(parser.body_bytes(), 11);
    EXPECT_EQ(parser.events(), 0);
  }
}

TEST(HttpResponseParserTest, CountsSseEventsWithoutDoneSplitAnywhere) {
  for (size_t step = 1; step <= kSseResponse.size(); ++step) {
    HttpResponseParser parser;
    ASSERT_EQ(FeedInSteps(parser, kSseResponse, step), HttpResponseParser::Progress::kDone)
        << step;
    EXPECT_EQ(parser.events(), 3) << step;
  }
}

TEST(HttpResponseParserTest, ReportsStatusAndClose) {
  HttpResponseParser parser;
  EXPECT_EQ(parser.Feed("HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
            HttpResponseParser::Progress::kDone);
  EXPECT_EQ(parser.status(), 503);
  EXPECT_TRUE(parser.close_after());
}

TEST(HttpResponseParserTest, RejectsBrokenFraming) {
  const std::string_view broken[] = {
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX",
      "HTTP/1.1 200 OK\r\n\r\nbody until close",
      "SMTP ready\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",
  };
  for (std::string_view response : broken) {
    HttpResponseParser parser;
    EXPECT_EQ(parser.Feed(response), HttpResponseParser::Progress::kBad) << response;
    EXPECT_FALSE(parser.problem().empty());
  }
}

TEST(HttpResponseParserTest, ResetReadsTheNextResponse) {
  HttpResponseParser parser;
  ASSERT_EQ(parser.Feed(kSseResponse), HttpResponseParser::Progress::kDone);
  parser.Reset();
  ASSERT_EQ(parser.Feed(kLengthResponse), HttpResponseParser::Progress::kDone);
  EXPECT_EQ(parser.events(), 0);
  EXPECT_EQ(parser.body_bytes(), 11);
}

}  // namespace
}  // namespace gengate::bench
