#include "request_scan.h"

#include <cstdint>
#include <optional>
#include <string_view>

#include "gtest/gtest.h"

namespace gengate::bench {
namespace {

struct ScalarCase {
  std::string_view json;
  std::string_view key;
  std::optional<std::string_view> want;
};

TEST(RequestScanTest, ScalarFieldFindsKeysNotLookalikes) {
  const ScalarCase cases[] = {
      {R"({"model":"bench","stream":true})", "model", "bench"},
      {R"({"model":"bench","stream":true})", "stream", "true"},
      {R"({"model" : "a:b" , "n": 3})", "model", "a:b"},
      {R"({"n": 3})", "n", "3"},
      {R"({"stream_options":{"include_usage":true}})", "stream", std::nullopt},
      {R"({"content":"say \"stream\": true","stream":false})", "stream", "false"},
      {R"({"messages":[{"content":"x"}]})", "messages", std::nullopt},
      {R"({"model":"esc\"aped"})", "model", R"(esc\"aped)"},
      {R"({"model":"unterminated)", "model", std::nullopt},
  };
  for (const ScalarCase& c : cases) {
    EXPECT_EQ(ScalarField(c.json, c.key), c.want) << c.json << " " << c.key;
  }
}

struct CountCase {
  std::string_view json;
  std::optional<int64_t> want;
};

TEST(RequestScanTest, ElementCountCountsTopLevelEntries) {
  const CountCase cases[] = {
      {R"({"input":["a","b,c","d"]})", 3},
      {R"({"input":"one"})", 1},
      {R"({"input":[]})", 0},
      {R"({"input":[ ]})", 0},
      {R"({"input":[[1,2,3],[4]]})", 2},
      {R"({"input":["[not]","an array, \"really\""]})", 2},
      {R"({"model":"x"})", std::nullopt},
      {R"({"input":["a",)", std::nullopt},
  };
  for (const CountCase& c : cases) EXPECT_EQ(ElementCount(c.json, "input"), c.want) << c.json;
}

TEST(RequestScanTest, IntParamReadsModelParameters) {
  EXPECT_EQ(IntParam("bench:chunks=20:interval_ms=5", "chunks"), 20);
  EXPECT_EQ(IntParam("bench:chunks=20:interval_ms=5", "interval_ms"), 5);
  EXPECT_EQ(IntParam("bench:chunks=20", "interval_ms"), std::nullopt);
  EXPECT_EQ(IntParam("bench:chunks=x", "chunks"), std::nullopt);
  EXPECT_EQ(IntParam("bench", "chunks"), std::nullopt);
}

}  // namespace
}  // namespace gengate::bench
