#include "translate/struct_json.h"

#include <cstdint>
#include <ostream>
#include <string>

#include "gtest/gtest.h"

namespace gengate::translate {
namespace {

using nlohmann::json;

TEST(StructJsonTest, RoundTripsEveryKind) {
  const json original = json::parse(R"({
    "null": null, "yes": true, "no": false, "int": 42, "negative": -7, "float": 0.7,
    "text": "héllo", "list": [1, "two", [3.5], {"four": null}], "nested": {"a": {"b": []}},
    "empty": {}
  })");
  const google::protobuf::Struct as_struct = JsonToStruct(original);
  EXPECT_EQ(as_struct.fields().at("int").number_value(), 42.0);
  EXPECT_EQ(as_struct.fields().at("text").string_value(), "héllo");
  EXPECT_EQ(as_struct.fields().at("null").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(StructToJson(as_struct), original);
}

TEST(StructJsonTest, IntegralDoublesBecomeJsonIntegers) {
  google::protobuf::Struct value;
  auto& fields = *value.mutable_fields();
  fields["max_tokens"].set_number_value(5);
  fields["zero"].set_number_value(0);
  fields["negative"].set_number_value(-3);
  fields["big"].set_number_value(9007199254740992.0);  // 2^53
  fields["fraction"].set_number_value(0.7);
  fields["huge"].set_number_value(1e20);  // integral but outside int64
  const json out = StructToJson(value);
  EXPECT_TRUE(out["max_tokens"].is_number_integer());
  EXPECT_TRUE(out["zero"].is_number_integer());
  EXPECT_TRUE(out["negative"].is_number_integer());
  EXPECT_TRUE(out["big"].is_number_integer());
  EXPECT_TRUE(out["fraction"].is_number_float());
  EXPECT_TRUE(out["huge"].is_number_float());
  EXPECT_EQ(out["big"].get<std::int64_t>(), 9007199254740992);
  const std::string text = out.dump();
  EXPECT_NE(text.find("\"max_tokens\":5,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"fraction\":0.7,"), std::string::npos) << text;
}

TEST(StructJsonTest, WriteStructGivesWhatStructToJsonGives) {
  const json original = json::parse(R"({
    "null": null, "yes": true, "no": false, "int": 42, "negative": -7, "float": 0.7,
    "huge": 1e20, "text": "h\"é\nllo", "list": [1, "two", [3.5], {"four": null}],
    "nested": {"b": {"z": [], "a": 1}}, "empty": {}, "zeta": 0, "alpha": -0.5
  })");
  const google::protobuf::Struct as_struct = JsonToStruct(original);
  std::string text;
  JsonWriter out(text);
  WriteStruct(as_struct, out);

  const json written = json::parse(text);
  EXPECT_EQ(written, StructToJson(as_struct));
  EXPECT_TRUE(written["int"].is_number_integer());
  EXPECT_TRUE(written["huge"].is_number_float());
  // Keys sorted at every level: nlohmann's dump sorts them too.
  EXPECT_EQ(text, StructToJson(as_struct).dump());
}

TEST(StructJsonTest, WithExtraBodyMergesOnlyWhenThereIsOne) {
  const std::string body = R"({"model":"m","stream":true})";
  EXPECT_EQ(WithExtraBody(google::protobuf::Struct(), body), body) << "returned untouched";
  google::protobuf::Struct extra = JsonToStruct(json::parse(R"({"stream":null,"top_k":5})"));
  EXPECT_EQ(json::parse(WithExtraBody(extra, body)), json::parse(R"({"model":"m","top_k":5})"));
}

TEST(StructJsonTest, UnsetValueIsNull) {
  EXPECT_TRUE(ValueToJson(google::protobuf::Value()).is_null());
}

TEST(StructJsonTest, JsonToStructOfNonObjectIsEmpty) {
  EXPECT_TRUE(JsonToStruct(json::array({1, 2})).fields().empty());
  EXPECT_TRUE(JsonToStruct(json("text")).fields().empty());
}

TEST(StructJsonTest, JsonToValueConvertsUnsignedAndSigned) {
  EXPECT_EQ(JsonToValue(json(std::uint64_t{18446744073709551615u})).number_value(),
            18446744073709551615.0);
  EXPECT_EQ(JsonToValue(json(std::int64_t{-5})).number_value(), -5.0);
  EXPECT_EQ(JsonToValue(json::array({true})).list_value().values(0).bool_value(), true);
}

struct MergeCase {
  std::string name;
  std::string body;
  std::string extra_body;
  std::string expected;
};

void PrintTo(const MergeCase& c, std::ostream* os) { *os << c.name; }

class MergeExtraBodyTest : public testing::TestWithParam<MergeCase> {};

TEST_P(MergeExtraBodyTest, MergesLast) {
  json body = json::parse(GetParam().body);
  MergeExtraBody(JsonToStruct(json::parse(GetParam().extra_body)), body);
  EXPECT_EQ(body, json::parse(GetParam().expected)) << body.dump();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MergeExtraBodyTest,
    testing::Values(
        MergeCase{"EmptyLeavesBodyAlone", R"({"a":1})", R"({})", R"({"a":1})"},
        MergeCase{"AddsNewKey", R"({"a":1})", R"({"b":"x"})", R"({"a":1,"b":"x"})"},
        MergeCase{"ReplacesScalar", R"({"temperature":0.5})", R"({"temperature":1.5})",
                  R"({"temperature":1.5})"},
        MergeCase{"MergesObjectsRecursively",
                  R"({"stream_options":{"include_usage":true},"x":{"y":{"z":1,"w":2}}})",
                  R"({"stream_options":{"chunk":true},"x":{"y":{"z":9}}})",
                  R"({"stream_options":{"include_usage":true,"chunk":true},
                      "x":{"y":{"z":9,"w":2}}})"},
        MergeCase{"NullRemovesKey", R"({"a":1,"b":{"c":1,"d":2}})", R"({"a":null,"b":{"c":null}})",
                  R"({"b":{"d":2}})"},
        MergeCase{"ReplacesArrayWhole", R"({"stop":["a","b"]})", R"({"stop":["c"]})",
                  R"({"stop":["c"]})"},
        MergeCase{"ObjectReplacesScalar", R"({"tool_choice":"auto"})",
                  R"({"tool_choice":{"type":"function"}})",
                  R"({"tool_choice":{"type":"function"}})"},
        MergeCase{"ScalarReplacesObject", R"({"a":{"b":1}})", R"({"a":2})", R"({"a":2})"}),
    [](const testing::TestParamInfo<MergeCase>& info) { return info.param.name; });

TEST(MergeExtraBodyTest, IntegerStaysInteger) {
  json body = {{"model", "m"}};
  google::protobuf::Struct extra;
  (*extra.mutable_fields())["max_tokens"].set_number_value(5);
  MergeExtraBody(extra, body);
  EXPECT_EQ(body.dump(), R"({"max_tokens":5,"model":"m"})");
}

}  // namespace
}  // namespace gengate::translate
