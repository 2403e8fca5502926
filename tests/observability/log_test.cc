// Log lines: one JSON object per line (or key=value text), with values escaped so that a
// caller-controlled string can neither break the line nor forge a field.
#include "observability/log.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "nlohmann/json.hpp"
#include "gtest/gtest.h"

namespace gengate::observability {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

TEST(LogLineTest, JsonLineHasTimestampLevelMessageAndTypedFields) {
  const std::string line =
      FormatLogLine(config::LogFormat::kJson, LogLevel::kInfo, "call",
                    {{"method", "/gengate.v1.ChatService/CreateChatCompletion"},
                     {"prompt_tokens", std::int64_t{12}},
                     {"latency_ms", 1.5},
                     {"ok", true}});

  EXPECT_THAT(line, MatchesRegex(R"(\{"ts":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z",.*)"));
  EXPECT_THAT(line, HasSubstr(R"("level":"info","msg":"call",)"));
  EXPECT_THAT(line, HasSubstr(R"("method":"/gengate.v1.ChatService/CreateChatCompletion")"));
  EXPECT_THAT(line, HasSubstr(R"("prompt_tokens":12,"latency_ms":1.500,"ok":true})"));
  EXPECT_THAT(line, EndsWith("}\n"));
}

// Durations are written with three decimals, digit for digit as printf's "%.3f" writes them
// (rounding halves included), over the magnitudes a latency can take and beyond.
TEST(LogLineTest, DoublesAreWrittenAsPrintfWritesThreeDecimals) {
  auto value_of = [](double d) {
    const std::string line = FormatLogLine(config::LogFormat::kText, LogLevel::kInfo, "m",
                                           {{"v", d}});
    const std::size_t at = line.find(" v=");
    return line.substr(at + 3, line.size() - at - 4);  // up to the newline
  };
  std::mt19937_64 random(7);
  std::uniform_real_distribution<double> exponent(-6.0, 12.0);
  for (int i = 0; i < 10'000; ++i) {
    const double d = std::pow(10.0, exponent(random)) * (i % 5 == 0 ? -1.0 : 1.0);
    ASSERT_EQ(value_of(d), absl::StrFormat("%.3f", d)) << "for " << d;
  }
  for (double d : {0.0, -0.0, -1.0, 0.0005, 0.0015, 0.0025, 2.0004999, 1e20, 1e300,
                   std::numeric_limits<double>::max(), std::numeric_limits<double>::denorm_min()}) {
    EXPECT_EQ(value_of(d), absl::StrFormat("%.3f", d)) << "for " << d;
  }
  EXPECT_EQ(value_of(std::nan("")), "nan");
}

// The timestamp reuses the seconds it formatted last; every time must still read as the time
// zone library writes it, across second, day and year boundaries and before 1970.
TEST(LogTimestampTest, MatchesTheTimeZoneLibraryAcrossBoundaries) {
  const auto expected = [](absl::Time t) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
  };
  const absl::Time new_year = absl::FromCivil(absl::CivilSecond(2027, 1, 1, 0, 0, 0),
                                              absl::UTCTimeZone());
  const absl::Duration steps[] = {-absl::Seconds(86400), -absl::Milliseconds(1001),
                                  -absl::Milliseconds(1), -absl::Microseconds(1),
                                  absl::ZeroDuration(), absl::Microseconds(999),
                                  absl::Milliseconds(999), absl::Milliseconds(1000),
                                  absl::Milliseconds(1500), absl::Seconds(61)};
  for (const absl::Time base : {new_year, absl::UnixEpoch(), absl::Now()}) {
    for (const absl::Duration step : steps) {
      const absl::Time t = base + step;
      EXPECT_EQ(LogTimestamp(t), expected(t)) << absl::FormatTime(t);
      EXPECT_EQ(LogTimestamp(t), expected(t)) << "again, from the cache";
    }
  }
  EXPECT_EQ(LogTimestamp(new_year + absl::Milliseconds(7)), "2027-01-01T00:00:00.007Z");
  EXPECT_EQ(LogTimestamp(absl::UnixEpoch() - absl::Milliseconds(1)), "1969-12-31T23:59:59.999Z");
}

TEST(LogLineTest, JsonEscapesQuotesNewlinesAndControlCharacters) {
  const std::string line = FormatLogLine(config::LogFormat::kJson, LogLevel::kWarning, "call",
                                         {{"error", "bad \"x\"\nnext\x01"}});

  EXPECT_THAT(line, HasSubstr(R"("error":"bad \"x\"\nnext\u0001")"));
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line only";
}

TEST(LogLineTest, JsonValuesReadBackExactly) {
  // Every control character, quotes and backslashes at the ends and in runs, and UTF-8.
  std::string value = "\"\\";
  for (char c = 0; c < 0x20; ++c) value += std::string(1, c) + "ab";
  value += "caf\xc3\xa9 \\\\\"\"\t";
  for (const std::string& text : {value, std::string("plain"), std::string(""), std::string("\n")}) {
    const std::string line =
        FormatLogLine(config::LogFormat::kJson, LogLevel::kInfo, "m", {{"v", text}});
    const nlohmann::json parsed = nlohmann::json::parse(line);
    EXPECT_EQ(parsed.at("v").get<std::string>(), text) << line;
  }
}

TEST(LogLineTest, TextLineQuotesValuesWithSpaces) {
  const std::string line =
      FormatLogLine(config::LogFormat::kText, LogLevel::kError, "cannot listen",
                    {{"listen", "0.0.0.0:1"}, {"error", "in use"}});

  EXPECT_THAT(line, StartsWith("20"));
  EXPECT_THAT(line, HasSubstr(" error cannot listen listen=0.0.0.0:1 error=\"in use\"\n"));
}

// A value from the upstream (an error message, say) must not start a line of its own in the
// text format: control characters are escaped inside quotes, as in the JSON format.
TEST(LogLineTest, TextLineEscapesControlCharacters) {
  const std::string line =
      FormatLogLine(config::LogFormat::kText, LogLevel::kWarning, "call",
                    {{"error", "bad\nforged"}, {"id", "a\tb"}, {"plain", "x"}});

  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
  EXPECT_THAT(line, HasSubstr(R"( error="bad\nforged")"));
  EXPECT_THAT(line, HasSubstr(R"( id="a\tb")"));
  EXPECT_THAT(line, EndsWith(" plain=x\n"));
}

TEST(LogPayloadsTest, IsOffUntilEnabled) {
  EXPECT_FALSE(LogPayloads());
  SetLogPayloads(true);
  EXPECT_TRUE(LogPayloads());
  SetLogPayloads(false);
  EXPECT_FALSE(LogPayloads());
}

}  // namespace
}  // namespace gengate::observability
