#include "translate/json_writer.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gengate::translate {
namespace {

using nlohmann::json;

TEST(JsonWriterTest, NestedObjectsAndArraysGetTheirCommas) {
  std::string text;
  JsonWriter out(text);
  out.BeginObject();
  out.Member("a", "x");
  out.Key("list");
  out.BeginArray();
  out.Int(1);
  out.BeginObject();
  out.EndObject();
  out.BeginArray();
  out.EndArray();
  out.Bool(false);
  out.Null();
  out.EndArray();
  out.Key("o");
  out.BeginObject();
  out.Key("n");
  out.Double(0.5);
  out.Key("t");
  out.Bool(true);
  out.EndObject();
  out.EndObject();

  EXPECT_EQ(text, R"({"a":"x","list":[1,{},[],false,null],"o":{"n":0.5,"t":true}})");
}

TEST(JsonWriterTest, EveryCharacterThatNeedsItIsEscaped) {
  std::string original;
  for (int c = 0; c < 0x80; ++c) original.push_back(static_cast<char>(c));
  original += "héllo ✓ 😀";
  std::string text;
  JsonWriter out(text);
  out.BeginObject();
  out.Member(original, original);  // keys are escaped too
  out.EndObject();

  const json parsed = json::parse(text);  // throws on an unescaped control character
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed.begin().key(), original);
  EXPECT_EQ(parsed.begin().value(), original);
  EXPECT_NE(text.find(R"(\u0001)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(\n)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(\"#)"), std::string::npos) << text;
  EXPECT_NE(text.find("héllo ✓ 😀"), std::string::npos) << "UTF-8 is copied as it is";
}

TEST(JsonWriterTest, DoublesStayDoublesAndRoundTrip) {
  std::mt19937_64 random(7);
  std::uniform_real_distribution<double> exponent(-300, 300);
  std::vector<double> values = {0.0, -0.0, 2.0, -3.0, 0.1, 0.7, 1e20, 1e21, 1e-7,
                                std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::min(),
                                std::numeric_limits<double>::denorm_min()};
  for (int i = 0; i < 1000; ++i) {
    values.push_back(std::pow(10.0, exponent(random)) * (i % 2 ? 1 : -1));
  }
  for (double value : values) {
    std::string text;
    JsonWriter(text).Double(value);
    const json parsed = json::parse(text);
    EXPECT_TRUE(parsed.is_number_float()) << text;
    EXPECT_EQ(parsed.get<double>(), value) << text;
  }
  std::string two;
  JsonWriter(two).Double(2.0);
  EXPECT_EQ(two, "2.0");
}

TEST(JsonWriterTest, NonFiniteDoublesAreNull) {
  for (double value : {std::numeric_limits<double>::infinity(),
                       -std::numeric_limits<double>::infinity(),
                       std::numeric_limits<double>::quiet_NaN()}) {
    std::string text;
    JsonWriter(text).Double(value);
    EXPECT_EQ(text, "null");
  }
}

TEST(JsonWriterTest, IntegersKeepEveryDigit) {
  for (std::int64_t value : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{9007199254740993},
                             std::numeric_limits<std::int64_t>::min(),
                             std::numeric_limits<std::int64_t>::max()}) {
    std::string text;
    JsonWriter(text).Int(value);
    const json parsed = json::parse(text);
    EXPECT_TRUE(parsed.is_number_integer()) << text;
    EXPECT_EQ(parsed.get<std::int64_t>(), value) << text;
  }
}

}  // namespace
}  // namespace gengate::translate
