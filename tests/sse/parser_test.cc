#include "sse/parser.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sse/sse_fixture.h"

namespace gengate::sse {

// Readable failure messages for events (found by gtest through ADL).
void PrintTo(const Event& event, std::ostream* os) {
  *os << "{type=\"" << event.type << "\" id=\"" << event.id << "\" data(" << event.data.size()
      << ")=\"" << event.data.substr(0, 120) << (event.data.size() > 120 ? "...\"}" : "\"}");
}

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Event Message(std::string data, std::string type = "", std::string id = "") {
  return Event{std::move(type), std::move(data), std::move(id)};
}

// What a parser produced for some input: everything a caller can observe.
struct Outcome {
  bool ok = true;
  std::vector<Event> events;
  bool pending = false;
  std::optional<std::int64_t> retry_ms;

  bool operator==(const Outcome&) const = default;
};

void PrintTo(const Outcome& outcome, std::ostream* os) {
  *os << "{ok=" << outcome.ok << " pending=" << outcome.pending
      << " retry=" << (outcome.retry_ms ? std::to_string(*outcome.retry_ms) : "none")
      << " events=" << outcome.events.size() << "}";
}

Outcome FeedPieces(const std::vector<std::string_view>& pieces,
                   std::size_t max_event_bytes = 32u << 20) {
  Parser parser(max_event_bytes);
  Outcome outcome;
  for (std::string_view piece : pieces) {
    if (!parser.Feed(piece, outcome.events)) {
      outcome.ok = false;
      break;
    }
  }
  outcome.pending = parser.HasPendingEvent();
  outcome.retry_ms = parser.retry_ms();
  return outcome;
}

std::vector<Event> EventsOf(std::string_view bytes) { return FeedPieces({bytes}).events; }

Outcome FeedSplitAt(std::string_view bytes, std::size_t position) {
  return FeedPieces({bytes.substr(0, position), bytes.substr(position)});
}

Outcome FeedOneByteAtATime(std::string_view bytes) {
  std::vector<std::string_view> pieces;
  pieces.reserve(bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) pieces.push_back(bytes.substr(i, 1));
  return FeedPieces(pieces);
}

// ---------------------------------------------------------------------------------------------
// One test per rule.

TEST(SseParserTest, BlankLineDispatchesEvent) {
  EXPECT_THAT(EventsOf("data: hello\n\n"), ElementsAre(Message("hello")));
  // Without the blank line the event is still being built.
  EXPECT_THAT(EventsOf("data: hello\n"), IsEmpty());
}

TEST(SseParserTest, AcceptsLfCrlfAndCrLineEndings) {
  const struct {
    std::string_view name;
    std::string_view bytes;
  } kCases[] = {
      {"lf", "data: a\ndata: b\n\ndata: c\n\n"},
      {"crlf", "data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n"},
      {"cr", "data: a\rdata: b\r\rdata: c\r\r"},
      {"mixed", "data: a\r\ndata: b\r\n\rdata: c\n\r\n"},
  };
  for (const auto& test_case : kCases) {
    SCOPED_TRACE(test_case.name);
    EXPECT_THAT(EventsOf(test_case.bytes), ElementsAre(Message("a\nb"), Message("c")));
  }
}

TEST(SseParserTest, CrAtEndOfFeedAndLfAtStartOfNextAreOneLineEnd) {
  // If the LF counted as a blank line, "a" would be dispatched alone before "b".
  Outcome outcome = FeedPieces({"data: a\r", "\n", "data: b\r", "\n\r", "\n"});
  EXPECT_TRUE(outcome.ok);
  EXPECT_THAT(outcome.events, ElementsAre(Message("a\nb")));
  EXPECT_FALSE(outcome.pending);
}

TEST(SseParserTest, CrAtEndOfFeedFollowedByCrIsTwoLineEnds) {
  EXPECT_THAT(FeedPieces({"data: a\r", "\r"}).events, ElementsAre(Message("a")));
  // An empty Feed in between must not forget the pending CR.
  EXPECT_THAT(FeedPieces({"data: a\r", "", "\n", "\n"}).events, ElementsAre(Message("a")));
}

TEST(SseParserTest, SkipsLeadingBom) {
  EXPECT_THAT(EventsOf("\xEF\xBB\xBF" "data: x\n\n"), ElementsAre(Message("x")));
  // Split inside the BOM.
  EXPECT_THAT(FeedPieces({"\xEF", "\xBB", "\xBF" "da", "ta: x\n\n"}).events,
              ElementsAre(Message("x")));
  // A stream that is only a BOM has nothing pending.
  EXPECT_FALSE(FeedPieces({"\xEF\xBB\xBF"}).pending);
}

TEST(SseParserTest, SkipsOnlyOneBomAndOnlyAtStart) {
  // The second BOM becomes part of the field name "\xEF\xBB\xBF" "data", which is unknown.
  EXPECT_THAT(EventsOf("\xEF\xBB\xBF\xEF\xBB\xBF" "data: x\n\n"), IsEmpty());
  EXPECT_THAT(EventsOf("data: x\n\n\xEF\xBB\xBF" "data: y\n\n"), ElementsAre(Message("x")));
}

TEST(SseParserTest, PartialBomIsOrdinaryBytes) {
  // "\xEF\xBB" is not a BOM, so the first field name is "\xEF\xBB" "data" and is ignored.
  EXPECT_THAT(FeedPieces({"\xEF\xBB", "data: x\n\n"}).events, IsEmpty());
  EXPECT_THAT(FeedPieces({"\xEF", "\xBB" "data: x\n\ndata: y\n\n"}).events,
              ElementsAre(Message("y")));
  // A partial BOM is pending bytes.
  EXPECT_TRUE(FeedPieces({"\xEF\xBB"}).pending);
}

TEST(SseParserTest, IgnoresCommentLines) {
  EXPECT_THAT(EventsOf(": keep-alive\n\n:\n\n"), IsEmpty());
  EXPECT_THAT(EventsOf(": ping\ndata: a\n: between\ndata: b\n:\n\n"),
              ElementsAre(Message("a\nb")));
  // A comment that looks like a field is still a comment.
  EXPECT_THAT(EventsOf(":data: nope\n\n"), IsEmpty());
}

TEST(SseParserTest, EventFieldSetsType) {
  EXPECT_THAT(EventsOf("event: response.created\ndata: {}\n\n"),
              ElementsAre(Message("{}", "response.created")));
  // The last event field wins.
  EXPECT_THAT(EventsOf("event: a\nevent: b\ndata: x\n\n"), ElementsAre(Message("x", "b")));
}

TEST(SseParserTest, TypeResetsAfterEveryBlankLine) {
  EXPECT_THAT(EventsOf("event: a\ndata: x\n\ndata: y\n\n"),
              ElementsAre(Message("x", "a"), Message("y")));
  // Also after a blank line that dispatched nothing.
  EXPECT_THAT(EventsOf("event: a\n\ndata: y\n\n"), ElementsAre(Message("y")));
}

TEST(SseParserTest, IdIsStickyAcrossEvents) {
  EXPECT_THAT(EventsOf("id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n"),
              ElementsAre(Message("a", "", "1"), Message("b", "", "1"), Message("c", "", "2")));
  // An id in an event without data still sets the last id.
  EXPECT_THAT(EventsOf("id: 7\n\ndata: a\n\n"), ElementsAre(Message("a", "", "7")));
  // An empty id resets it.
  EXPECT_THAT(EventsOf("id: 1\ndata: a\n\nid\ndata: b\n\n"),
              ElementsAre(Message("a", "", "1"), Message("b")));
}

TEST(SseParserTest, IgnoresIdContainingNul) {
  using std::string_literals::operator""s;
  EXPECT_THAT(EventsOf("id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n"s),
              ElementsAre(Message("a", "", "1"), Message("b", "", "1")));
}

// Each event carries a copy of the id: one of megabytes would multiply memory by the number
// of events, so an id past kMaxIdBytes is ignored (the one before stays), and one at the limit
// is kept.
TEST(SseParserTest, IgnoresIdLongerThanTheLimit) {
  const std::string at_limit(Parser::kMaxIdBytes, 'i');
  const std::string over_limit(Parser::kMaxIdBytes + 1, 'o');
  EXPECT_THAT(EventsOf("id: 1\ndata: a\n\nid: " + over_limit + "\ndata: b\n\nid: " + at_limit +
                       "\ndata: c\n\n"),
              ElementsAre(Message("a", "", "1"), Message("b", "", "1"),
                          Message("c", "", at_limit)));
}

TEST(SseParserTest, RetryTakesDigitsOnly) {
  const struct {
    std::string_view bytes;
    std::optional<std::int64_t> retry_ms;
  } kCases[] = {
      {"retry: 3000\n", 3000},
      {"retry:0\n", 0},
      {"retry: 3000\nretry: 10000\n", 10000},
      {"retry: 3000\nretry: 12a\n", 3000},  // invalid values keep the previous one
      {"retry: 12a\n", std::nullopt},
      {"retry: -5\n", std::nullopt},
      {"retry: 1.5\n", std::nullopt},
      {"retry:\n", std::nullopt},
      {"retry\n", std::nullopt},
      {"retry:  5\n", std::nullopt},  // only one space is stripped
      {"retry: 5 \n", std::nullopt},
      {"retry: 99999999999999999999\n", std::nullopt},  // does not fit in 64 bits
      {"retry: 9223372036854775807\n", std::numeric_limits<std::int64_t>::max()},
  };
  for (const auto& test_case : kCases) {
    SCOPED_TRACE(test_case.bytes);
    Outcome outcome = FeedPieces({test_case.bytes});
    EXPECT_EQ(outcome.retry_ms, test_case.retry_ms);
    EXPECT_THAT(outcome.events, IsEmpty());
  }
}

TEST(SseParserTest, LineWithoutColonIsFieldNameWithEmptyValue) {
  EXPECT_THAT(EventsOf("data\n\n"), ElementsAre(Message("")));
  EXPECT_THAT(EventsOf("data\ndata\n\n"), ElementsAre(Message("\n")));
  EXPECT_THAT(EventsOf("event\ndata: x\n\n"), ElementsAre(Message("x")));
}

TEST(SseParserTest, RemovesOneOptionalSpaceAfterColon) {
  const struct {
    std::string_view bytes;
    std::string_view data;
  } kCases[] = {
      {"data: x\n\n", "x"},   {"data:x\n\n", "x"},     {"data:  x\n\n", " x"},
      {"data: x \n\n", "x "}, {"data:\tx\n\n", "\tx"}, {"data: \n\n", ""},
      {"data:\n\n", ""},      {"data: a: b\n\n", "a: b"},
  };
  for (const auto& test_case : kCases) {
    SCOPED_TRACE(test_case.bytes);
    EXPECT_THAT(EventsOf(test_case.bytes), ElementsAre(Message(std::string(test_case.data))));
  }
}

TEST(SseParserTest, JoinsDataLinesWithNewline) {
  EXPECT_THAT(EventsOf("data: {\"a\":1,\ndata: \"b\":2}\n\n"),
              ElementsAre(Message("{\"a\":1,\n\"b\":2}")));
  EXPECT_THAT(EventsOf("data: a\ndata:\ndata: c\n\n"), ElementsAre(Message("a\n\nc")));
}

TEST(SseParserTest, DoesNotDispatchEventWithoutData) {
  Outcome outcome = FeedPieces({"event: ping\nid: 5\nretry: 100\nunknown: 1\n\n"});
  EXPECT_THAT(outcome.events, IsEmpty());
  EXPECT_EQ(outcome.retry_ms, 100);
  EXPECT_FALSE(outcome.pending);
}

TEST(SseParserTest, IgnoresUnknownFields) {
  EXPECT_THAT(EventsOf("foo: bar\ndata: x\nDATA: y\nData: z\n\n"), ElementsAre(Message("x")));
}

TEST(SseParserTest, FailsOnLineLongerThanLimit) {
  // Exactly at the limit is fine; one byte more fails, whether or not the line is complete.
  EXPECT_TRUE(FeedPieces({"data: 1234567890\n\n"}, 16).ok);
  EXPECT_FALSE(FeedPieces({"data: 12345678901\n\n"}, 16).ok);
  EXPECT_FALSE(FeedPieces({"data: 12345678901"}, 16).ok);
  EXPECT_FALSE(FeedPieces({"data: 12345", "678901"}, 16).ok);
  EXPECT_FALSE(FeedPieces({": a comment that is long\n"}, 16).ok);
}

TEST(SseParserTest, FailsOnEventLargerThanLimit) {
  // Each line is 12 bytes; the data is 6 bytes per line plus one "\n" between lines.
  EXPECT_TRUE(FeedPieces({"data: 123456\ndata: 123456\ndata: 123456\n\n"}, 20).ok);
  EXPECT_FALSE(FeedPieces({"data: 123456\ndata: 123456\ndata: 123456\ndata: 1\n\n"}, 20).ok);
  // The limit is per event: many small events are fine.
  std::string many;
  for (int i = 0; i < 100; ++i) many += "data: 123456\n\n";
  EXPECT_TRUE(FeedPieces({many}, 20).ok);
}

TEST(SseParserTest, StaysFailedAfterLimit) {
  Parser parser(8);
  std::vector<Event> events;
  EXPECT_FALSE(parser.Feed("data: 123456789", events));
  EXPECT_FALSE(parser.Feed("\n\ndata: x\n\n", events));
  EXPECT_THAT(events, IsEmpty());
}

TEST(SseParserTest, ReportsPendingEvent) {
  const struct {
    std::string_view bytes;
    bool pending;
  } kCases[] = {
      {"", false},
      {"data: x\n\n", false},
      {": keep-alive\n", false},
      {": keep-alive\n\n", false},
      {"d", true},             // an unfinished line
      {": keep-", true},       // even an unfinished comment
      {"data: x\n", true},     // an event without its blank line
      {"data: x\r", true},
      {"event: a\n", true},
      {"data: x\n\r", false},  // CR alone is a blank line
      {"data: x\n\ndata: y", true},
  };
  for (const auto& test_case : kCases) {
    SCOPED_TRACE(test_case.bytes);
    EXPECT_EQ(FeedPieces({test_case.bytes}).pending, test_case.pending);
  }
}

// These would take minutes if appending or scanning were quadratic (the test has a timeout).
TEST(SseParserTest, HandlesLargeEventInOneWriteOrManyWrites) {
  const std::string payload(1 << 20, 'x');
  const std::string bytes = "data: " + payload + "\n\n";
  EXPECT_THAT(EventsOf(bytes), ElementsAre(Message(payload)));
  EXPECT_THAT(FeedOneByteAtATime(bytes).events, ElementsAre(Message(payload)));
  const std::string_view view = bytes;
  std::vector<std::string_view> pieces;
  for (std::size_t i = 0; i < view.size(); i += 1000) pieces.push_back(view.substr(i, 1000));
  EXPECT_THAT(FeedPieces(pieces).events, ElementsAre(Message(payload)));
}

TEST(SseParserTest, HandlesManyLfOnlyLinesInOneWrite) {
  // No CR anywhere: looking for CR must not rescan the rest of the buffer for every line.
  std::string bytes;
  for (int i = 0; i < 100000; ++i) bytes += "data: x\n\n";
  EXPECT_EQ(EventsOf(bytes).size(), 100000u);
}

// ---------------------------------------------------------------------------------------------
// Every recorded SSE fixture, fed as recorded and split everywhere.

std::string Concatenate(const std::vector<std::string>& chunks) {
  std::string bytes;
  for (const std::string& chunk : chunks) bytes += chunk;
  return bytes;
}

Outcome FeedChunks(const std::vector<std::string>& chunks) {
  return FeedPieces(std::vector<std::string_view>(chunks.begin(), chunks.end()));
}

// Split positions for `size` bytes: all of them up to 16 KiB. Each split re-parses the whole
// input, so for larger ones (up to 150 KB with 2,000 events) it is every position in the first
// and last 1 KiB (the start, with its BOM check, and the end of the stream) plus every 257th
// in between, a prime stride so that it lands at varied offsets within the repeated lines.
// That keeps the largest case near one second (a minute under ASan in Debug).
std::vector<std::size_t> SplitPositions(std::size_t size) {
  constexpr std::size_t kAllPositionsUpTo = 16 * 1024;
  constexpr std::size_t kEdge = 1024;
  constexpr std::size_t kStride = 257;
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i <= size; ++i) {
    if (size <= kAllPositionsUpTo || i <= kEdge || i >= size - kEdge || i % kStride == 0) {
      positions.push_back(i);
    }
  }
  return positions;
}

class SseFixtureTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(testing::LoadSseChunks(GetParam(), &chunks_));
    bytes_ = Concatenate(chunks_);
    recorded_ = FeedChunks(chunks_);
  }

  std::vector<std::string> chunks_;
  std::string bytes_;
  Outcome recorded_;  // the outcome of feeding the writes as recorded
};

TEST_P(SseFixtureTest, RecordedWritesParseCleanly) {
  EXPECT_TRUE(recorded_.ok);
  EXPECT_FALSE(recorded_.events.empty());
  EXPECT_FALSE(recorded_.pending) << "every fixture ends with a complete event";
  EXPECT_EQ(FeedPieces({bytes_}), recorded_) << "fed as one write";
}

TEST_P(SseFixtureTest, SplitIntoTwoAnywhereGivesSameEvents) {
  for (std::size_t position : SplitPositions(bytes_.size())) {
    // One message per failing position, without comparing through gtest on the hot path.
    const Outcome split = FeedSplitAt(bytes_, position);
    if (split != recorded_) {
      EXPECT_EQ(split, recorded_) << "split at byte " << position;
      ASSERT_EQ(split.events, recorded_.events) << "split at byte " << position;
    }
  }
}

TEST_P(SseFixtureTest, OneByteAtATimeGivesSameEvents) {
  EXPECT_EQ(FeedOneByteAtATime(bytes_), recorded_);
}

std::string FixtureTestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(AllSseFixtures, SseFixtureTest,
                         ::testing::ValuesIn(testing::ListSseFixtureIds()), FixtureTestName);

TEST(SseFixtureListTest, FindsEverySseFixture) {
  const std::vector<std::string> ids = testing::ListSseFixtureIds();
  // INDEX.md lists 30 SSE fixtures; an empty list would silently skip the suite above.
  EXPECT_GE(ids.size(), 30u);
  EXPECT_THAT(ids, ::testing::IsSupersetOf({"sse-crlf-split-between-cr-and-lf",
                                            "sse-utf8-multibyte-split",
                                            "sse-very-long-event-100kb",
                                            "responses-stream-text-ruby-llm"}));
}

// ---------------------------------------------------------------------------------------------
// Concrete expectations on the transport fixtures.

Outcome ParseFixture(const std::string& id) {
  std::vector<std::string> chunks;
  EXPECT_TRUE(testing::LoadSseChunks(id, &chunks));
  return FeedChunks(chunks);
}

// Concatenates choices[].delta.content of every chat chunk; "[DONE]" is skipped.
std::string AssembleChatContent(const std::vector<Event>& events) {
  std::string content;
  for (const Event& event : events) {
    if (event.data == "[DONE]") continue;
    const nlohmann::json chunk = nlohmann::json::parse(event.data, nullptr, false);
    EXPECT_FALSE(chunk.is_discarded()) << "not JSON: " << event.data.substr(0, 200);
    if (!chunk.is_object() || !chunk.contains("choices")) continue;
    for (const nlohmann::json& choice : chunk["choices"]) {
      const nlohmann::json delta = choice.value("delta", nlohmann::json::object());
      if (delta.contains("content") && delta["content"].is_string()) {
        content += delta["content"].get<std::string>();
      }
    }
  }
  return content;
}

std::string RepeatDigits(int count) {
  std::string digits;
  for (int i = 0; i < count; ++i) digits.push_back(static_cast<char>('0' + i % 10));
  return digits;
}

TEST(SseTransportFixtureTest, AssemblesExpectedContent) {
  // Contents and event counts (including the [DONE] event) are those the fixtures' notes give.
  const struct {
    std::string id;
    std::string content;
    std::size_t event_count;
  } kCases[] = {
      {"sse-comment-keepalive-lines", "Still here after pings", 7},
      {"sse-crlf-line-endings", "Windows-style line endings", 7},
      {"sse-crlf-split-between-cr-and-lf", "Carriage returns then line feeds", 8},
      {"sse-data-no-space", "No space after colon", 7},
      {"sse-many-tiny-events-2000", RepeatDigits(2000), 2003},
      {"sse-multiline-data-joined", "Multi-line data fields", 7},
      {"sse-multiple-events-per-write", "Several events in one write.", 9},
      {"sse-retry-and-id-fields", "Fields other than data", 7},
      {"sse-split-mid-data-field-name", "Split field names work.", 8},
      {"sse-split-mid-json", "He said \"hi\" and\nleft \\o/", 8},
      {"sse-utf8-multibyte-split", "Caf\xC3\xA9 na\xC3\xAFve \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC"
                                   "\xE8\xAA\x9E \xF0\x9F\x91\x8B\xF0\x9F\x8F\xBD", 10},
  };
  for (const auto& test_case : kCases) {
    SCOPED_TRACE(test_case.id);
    const Outcome outcome = ParseFixture(test_case.id);
    ASSERT_TRUE(outcome.ok);
    EXPECT_EQ(outcome.events.size(), test_case.event_count);
    EXPECT_EQ(AssembleChatContent(outcome.events), test_case.content);
    ASSERT_FALSE(outcome.events.empty());
    EXPECT_EQ(outcome.events.back().data, "[DONE]");
  }
}

TEST(SseTransportFixtureTest, MultilineDataIsJoinedWithNewline) {
  const Outcome outcome = ParseFixture("sse-multiline-data-joined");
  ASSERT_FALSE(outcome.events.empty());
  // The first event has two data lines, cut after the members' comma.
  const std::string& first = outcome.events.front().data;
  EXPECT_THAT(first, ::testing::HasSubstr("\"fp_0aa8d3e20b\",\n\"choices\""));
  EXPECT_EQ(std::count(first.begin(), first.end(), '\n'), 1);
  EXPECT_EQ(first.find("data:"), std::string::npos);
}

TEST(SseTransportFixtureTest, CrlfSplitBetweenCrAndLfYieldsNoSpuriousEvents) {
  const Outcome outcome = ParseFixture("sse-crlf-split-between-cr-and-lf");
  ASSERT_EQ(outcome.events.size(), 8u);
  for (const Event& event : outcome.events) {
    EXPECT_FALSE(event.data.empty());
    EXPECT_EQ(event.data.find_first_of("\r\n"), std::string::npos) << event.data;
  }
  EXPECT_FALSE(outcome.pending);
}

TEST(SseTransportFixtureTest, Utf8SplitInsideCharactersIsReassembledExactly) {
  const Outcome outcome = ParseFixture("sse-utf8-multibyte-split");
  for (const Event& event : outcome.events) {
    EXPECT_EQ(event.data.find("\xEF\xBF\xBD"), std::string::npos) << "U+FFFD in " << event.data;
    if (event.data == "[DONE]") continue;
    // nlohmann rejects invalid UTF-8, so this also checks no character was cut.
    EXPECT_FALSE(nlohmann::json::parse(event.data, nullptr, false).is_discarded()) << event.data;
  }
  const std::string content = AssembleChatContent(outcome.events);
  EXPECT_THAT(content, ::testing::HasSubstr("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"));  // 日本語
  EXPECT_THAT(content, ::testing::EndsWith("\xF0\x9F\x91\x8B\xF0\x9F\x8F\xBD"));      // 👋🏽
}

TEST(SseTransportFixtureTest, VeryLongEventArrivesWhole) {
  const Outcome outcome = ParseFixture("sse-very-long-event-100kb");
  ASSERT_TRUE(outcome.ok);
  std::size_t long_events = 0;
  for (const Event& event : outcome.events) {
    if (event.data.size() < 100000) continue;
    ++long_events;
    const nlohmann::json chunk = nlohmann::json::parse(event.data, nullptr, false);
    ASSERT_FALSE(chunk.is_discarded());
    EXPECT_EQ(chunk["choices"][0]["delta"]["content"].get<std::string>().size(), 100000u);
  }
  EXPECT_EQ(long_events, 1u);
  EXPECT_EQ(AssembleChatContent(outcome.events).size(), 100010u);
}

TEST(SseTransportFixtureTest, VeryLongEventFailsUnderSmallLimit) {
  std::vector<std::string> chunks;
  ASSERT_TRUE(testing::LoadSseChunks("sse-very-long-event-100kb", &chunks));
  EXPECT_FALSE(FeedPieces(std::vector<std::string_view>(chunks.begin(), chunks.end()),
                          64 * 1024)
                   .ok);
}

TEST(SseTransportFixtureTest, ManyTinyEventsAllArrive) {
  const Outcome outcome = ParseFixture("sse-many-tiny-events-2000");
  EXPECT_GE(outcome.events.size(), 2000u);
}

TEST(SseTransportFixtureTest, RetryAndIdFieldsAreParsedAndKeptOutOfData) {
  std::vector<std::string> chunks;
  ASSERT_TRUE(testing::LoadSseChunks("sse-retry-and-id-fields", &chunks));
  Parser parser;
  std::vector<Event> events;
  // The first write is a retry-only block: it sets the reconnection time, dispatches nothing.
  ASSERT_TRUE(parser.Feed(chunks.front(), events));
  EXPECT_THAT(events, IsEmpty());
  EXPECT_EQ(parser.retry_ms(), 3000);
  for (std::size_t i = 1; i < chunks.size(); ++i) ASSERT_TRUE(parser.Feed(chunks[i], events));
  EXPECT_EQ(parser.retry_ms(), 10000);
  ASSERT_EQ(events.size(), 7u);
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].id, "evt-" + std::to_string(i + 1));
    EXPECT_EQ(events[i].data.find("retry:"), std::string::npos) << events[i].data;
    EXPECT_EQ(events[i].data.find("evt-"), std::string::npos) << events[i].data;
  }
}

TEST(SseTransportFixtureTest, TypedResponsesEventsCarryTheirType) {
  const Outcome outcome = ParseFixture("responses-stream-text-ruby-llm");
  ASSERT_FALSE(outcome.events.empty());
  for (const Event& event : outcome.events) {
    const nlohmann::json payload = nlohmann::json::parse(event.data, nullptr, false);
    ASSERT_TRUE(payload.is_object()) << event.data.substr(0, 200);
    EXPECT_EQ(event.type, payload.value("type", "")) << event.data.substr(0, 200);
  }
}

}  // namespace
}  // namespace gengate::sse
