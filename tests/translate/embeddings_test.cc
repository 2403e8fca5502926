#include "translate/embeddings.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "translate/fixtures.h"
#include "translate/struct_json.h"

namespace gengate::translate {
namespace {

using fixtures::FixtureNames;
using fixtures::FixtureTestName;
using fixtures::LoadFixture;
using nlohmann::json;
using testing::HasSubstr;

// ---------------------------------------------------------------------------------------------
// Fixture access and reference values, computed without the code under test.

// The floats of a fixture's `embedding`: JSON numbers as float, or absl's base64 decoding of
// little-endian float32 (this machine is little-endian, checked below).
std::vector<float> ExpectedFloats(const json& embedding) {
  static_assert(std::endian::native == std::endian::little);
  std::vector<float> floats;
  if (embedding.is_array()) {
    for (const json& component : embedding) floats.push_back(component.get<float>());
    return floats;
  }
  std::string bytes;
  EXPECT_TRUE(absl::Base64Unescape(embedding.get<std::string>(), &bytes));
  EXPECT_EQ(bytes.size() % sizeof(float), 0u);
  floats.resize(bytes.size() / sizeof(float));
  std::memcpy(floats.data(), bytes.data(), floats.size() * sizeof(float));
  return floats;
}

std::string Base64OfFloats(const std::vector<float>& floats) {
  return absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(floats.data()),
                                              floats.size() * sizeof(float)));
}

std::vector<float> Floats(const v1::Embedding& embedding) {
  return std::vector<float>(embedding.embedding().begin(), embedding.embedding().end());
}

json RequestJson(const v1::CreateEmbeddingsRequest& request) {
  absl::StatusOr<std::string> body = EmbeddingsRequestToUpstreamJson(request);
  EXPECT_TRUE(body.ok()) << body.status();
  return body.ok() ? json::parse(*body) : json();
}

v1::CreateEmbeddingsRequest MinimalRequest() {
  v1::CreateEmbeddingsRequest request;
  request.set_model("text-embedding-3-small");
  request.add_input("Ruby is great");
  return request;
}

// ---------------------------------------------------------------------------------------------
// Every recorded answer.

class EmbeddingsFixtureTest : public testing::TestWithParam<std::string> {};

void ExpectMatchesFixtureBody(const v1::CreateEmbeddingsResponse& response, const json& body) {
  EXPECT_EQ(response.model(), body.at("model").get<std::string>());
  EXPECT_EQ(response.usage().prompt_tokens(), body.at("usage").at("prompt_tokens").get<int>());
  EXPECT_EQ(response.usage().total_tokens(), body.at("usage").at("total_tokens").get<int>());
  const json& data = body.at("data");
  ASSERT_EQ(response.data_size(), static_cast<int>(data.size()));
  for (const json& item : data) {
    const int index = item.at("index").get<int>();
    ASSERT_LT(index, response.data_size());
    EXPECT_EQ(response.data(index).index(), index);
    const std::vector<float> expected = ExpectedFloats(item.at("embedding"));
    EXPECT_FALSE(expected.empty());
    EXPECT_EQ(Floats(response.data(index)), expected) << "index " << index;
  }
}

TEST_P(EmbeddingsFixtureTest, MatchesTheFixturesValues) {
  const json fixture = LoadFixture(GetParam());
  absl::StatusOr<v1::CreateEmbeddingsResponse> response =
      EmbeddingsResponseFromUpstreamJson(fixture.at("body").dump());
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectMatchesFixtureBody(*response, fixture.at("body"));
}

// The same answer pretty-printed: whitespace between every token.
TEST_P(EmbeddingsFixtureTest, ReadsPrettyPrintedBody) {
  const json fixture = LoadFixture(GetParam());
  absl::StatusOr<v1::CreateEmbeddingsResponse> response =
      EmbeddingsResponseFromUpstreamJson(fixture.at("body").dump(2));
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectMatchesFixtureBody(*response, fixture.at("body"));
}

// Float answers re-encoded as base64 give bit-identical vectors.
TEST_P(EmbeddingsFixtureTest, Base64AndFloatFormsAgree) {
  const json fixture = LoadFixture(GetParam());
  json base64_body = fixture.at("body");
  for (json& item : base64_body.at("data")) {
    item["embedding"] = Base64OfFloats(ExpectedFloats(item.at("embedding")));
  }
  absl::StatusOr<v1::CreateEmbeddingsResponse> from_fixture =
      EmbeddingsResponseFromUpstreamJson(fixture.at("body").dump());
  absl::StatusOr<v1::CreateEmbeddingsResponse> from_base64 =
      EmbeddingsResponseFromUpstreamJson(base64_body.dump());
  ASSERT_TRUE(from_fixture.ok()) << from_fixture.status();
  ASSERT_TRUE(from_base64.ok()) << from_base64.status();
  ASSERT_EQ(from_fixture->data_size(), from_base64->data_size());
  for (int i = 0; i < from_fixture->data_size(); ++i) {
    EXPECT_EQ(Floats(from_fixture->data(i)), Floats(from_base64->data(i)));
  }
}

// The fixture's own request, as this gateway would send it: the same inputs as an array, the
// same dimensions, and always base64.
TEST_P(EmbeddingsFixtureTest, RequestCarriesTheFixturesParameters) {
  const json fixture = LoadFixture(GetParam());
  const json& recorded = fixture.at("request");
  v1::CreateEmbeddingsRequest request;
  request.set_model(recorded.at("model").get<std::string>());
  const json& input = recorded.at("input");
  if (input.is_string()) {
    request.add_input(input.get<std::string>());
  } else {
    for (const json& text : input) request.add_input(text.get<std::string>());
  }
  if (recorded.contains("dimensions")) request.set_dimensions(recorded.at("dimensions").get<int>());
  const json sent = RequestJson(request);
  EXPECT_EQ(sent.at("model"), recorded.at("model"));
  EXPECT_EQ(sent.at("input"), input.is_string() ? json::array({input}) : input);
  EXPECT_EQ(sent.value("dimensions", json()), recorded.value("dimensions", json()));
  EXPECT_EQ(sent.at("encoding_format"), "base64");
}

INSTANTIATE_TEST_SUITE_P(AllEmbeddingsFixtures, EmbeddingsFixtureTest,
                         testing::ValuesIn(FixtureNames("embeddings-")), FixtureTestName);

TEST(EmbeddingsFixtureListTest, FindsTheFixtures) {
  EXPECT_EQ(FixtureNames("embeddings-").size(), 5u);
}

// ---------------------------------------------------------------------------------------------
// Ordering.

TEST(EmbeddingsResponseTest, OrdersOutOfOrderItemsByIndex) {
  const json fixture = LoadFixture("embeddings-float-batch-ruby-llm.json");
  json body = fixture.at("body");
  std::reverse(body.at("data").begin(), body.at("data").end());
  ASSERT_EQ(body.at("data").front().at("index"), 2);
  absl::StatusOr<v1::CreateEmbeddingsResponse> response =
      EmbeddingsResponseFromUpstreamJson(body.dump());
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectMatchesFixtureBody(*response, body);
  for (int i = 0; i < response->data_size(); ++i) EXPECT_EQ(response->data(i).index(), i);
}

TEST(EmbeddingsResponseTest, OrdersAShuffledBase64AnswerByIndex) {
  std::mt19937 random(5);
  std::normal_distribution<float> normal(0.0f, 0.03f);
  std::vector<std::vector<float>> vectors(64, std::vector<float>(256));
  std::vector<json> items;
  for (int i = 0; i < 64; ++i) {
    for (float& component : vectors[i]) component = normal(random);
    items.push_back(
        {{"object", "embedding"}, {"index", i}, {"embedding", Base64OfFloats(vectors[i])}});
  }
  std::shuffle(items.begin(), items.end(), random);
  ASSERT_NE(items.front().at("index"), 0);
  const json body = {{"object", "list"}, {"data", items}, {"model", "m"}};
  absl::StatusOr<v1::CreateEmbeddingsResponse> response =
      EmbeddingsResponseFromUpstreamJson(body.dump());
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->data_size(), 64);
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(response->data(i).index(), i);
    EXPECT_EQ(Floats(response->data(i)), vectors[i]) << "index " << i;
  }
}

// Vectors of different lengths defeat the reader's guess of where the next string ends.
TEST(EmbeddingsResponseTest, ReadsVectorsOfDifferentLengths) {
  const std::vector<std::vector<float>> vectors = {
      {1.0f, 2.0f, 3.0f, 4.0f}, {0.5f}, {-1.5f, 2.25f}, {}, {7.0f, 8.0f, 9.0f}};
  json data = json::array();
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    data.push_back({{"index", i}, {"embedding", Base64OfFloats(vectors[i])}});
  }
  absl::StatusOr<v1::CreateEmbeddingsResponse> response =
      EmbeddingsResponseFromUpstreamJson(json{{"data", data}}.dump());
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->data_size(), static_cast<int>(vectors.size()));
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    EXPECT_EQ(Floats(response->data(static_cast<int>(i))), vectors[i]) << "index " << i;
  }
}

// ---------------------------------------------------------------------------------------------
// Tolerance: what a valid answer may look like.

TEST(EmbeddingsResponseTest, ReadsEscapedSlashesInBase64) {
  // 0x3F7FFFFF and friends encode with '/' characters; some servers escape them as "\/".
  const std::vector<float> vector = {0.99999994f, -0.99999994f, 1.0e-30f, 3.4e38f};
  const std::string base64 = Base64OfFloats(vector);
  ASSERT_NE(base64.find('/'), std::string::npos) << base64;
  std::string escaped;
  for (char c : base64) escaped += c == '/' ? std::string("\\/") : std::string(1, c);
  const std::string body = R"({"data":[{"index":0,"embedding":")" + escaped + R"("}]})";
  absl::StatusOr<v1::CreateEmbeddingsResponse> response = EmbeddingsResponseFromUpstreamJson(body);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(Floats(response->data(0)), vector);
}

TEST(EmbeddingsResponseTest, SkipsUnknownMembersOfEveryKind) {
  const std::string body = R"({"object":"list","extra":{"a":[1,2.5e3,{"b":null}],"c":"\"\u00e9"},
    "data":[{"object":"embedding","flags":[true,false,null],"index":0,"embedding":[0.5,-2e-1]}],
    "model":"text-embedding-3-small","service_tier":"default"})";
  absl::StatusOr<v1::CreateEmbeddingsResponse> response = EmbeddingsResponseFromUpstreamJson(body);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->model(), "text-embedding-3-small");
  EXPECT_EQ(Floats(response->data(0)), (std::vector<float>{0.5f, -0.2f}));
  EXPECT_FALSE(response->has_usage());
}

TEST(EmbeddingsResponseTest, ToleratesOddlyTypedMetadata) {
  const std::string body =
      R"({"data":[],"model":null,"usage":{"prompt_tokens":12.0,"total_tokens":"12"}})";
  absl::StatusOr<v1::CreateEmbeddingsResponse> response = EmbeddingsResponseFromUpstreamJson(body);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->data_size(), 0);
  EXPECT_EQ(response->model(), "");
  EXPECT_EQ(response->usage().prompt_tokens(), 12);
  EXPECT_EQ(response->usage().total_tokens(), 0);
}

TEST(EmbeddingsResponseTest, UnescapesTheModelName) {
  const std::string body = R"({"data":[],"model":"caf\u00e9-\ud83d\ude00\n"})";
  absl::StatusOr<v1::CreateEmbeddingsResponse> response = EmbeddingsResponseFromUpstreamJson(body);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->model(), "caf\xC3\xA9-\xF0\x9F\x98\x80\n");
}

// ---------------------------------------------------------------------------------------------
// Malformed answers.

struct MalformedCase {
  const char* name;
  std::string body;
  const char* message;  // part of the status message
};

class EmbeddingsMalformedTest : public testing::TestWithParam<MalformedCase> {};

TEST_P(EmbeddingsMalformedTest, IsInternal) {
  absl::StatusOr<v1::CreateEmbeddingsResponse> response =
      EmbeddingsResponseFromUpstreamJson(GetParam().body);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInternal) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr(GetParam().message));
}

// A fixture's body as the upstream sent it: a JSON string body is raw text (INDEX.md).
std::string FixtureBody(const std::string& name) {
  const json body = LoadFixture(name).at("body");
  return body.is_string() ? body.get<std::string>() : body.dump();
}

std::string DeeplyNested(int depth) {
  return R"({"x":)" + std::string(depth, '[') + std::string(depth, ']') + R"(,"data":[]})";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, EmbeddingsMalformedTest,
    testing::Values(
        MalformedCase{"Empty", "", "not a JSON object"},
        MalformedCase{"Html", "<html>502 Bad Gateway</html>", "not a JSON object"},
        MalformedCase{"Array", "[]", "not a JSON object"},
        MalformedCase{"NoData", R"({"model":"m"})", "no data array"},
        MalformedCase{"DataNotArray", R"({"data":{}})", "data is not an array"},
        MalformedCase{"DataNull", R"({"data":null})", "data is not an array"},
        MalformedCase{"ItemNotObject", R"({"data":[1]})", "not an object"},
        MalformedCase{"NoEmbedding", R"({"data":[{"index":0}]})", "no embedding"},
        MalformedCase{"NoIndex", R"({"data":[{"embedding":[1]}]})", "no index"},
        MalformedCase{"NegativeIndex", R"({"data":[{"index":-1,"embedding":[1]}]})",
                      "index"},
        MalformedCase{"FractionalIndex", R"({"data":[{"index":0.5,"embedding":[1]}]})",
                      "index"},
        MalformedCase{"DuplicateIndex",
                      R"({"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]})",
                      "appears twice"},
        MalformedCase{"MissingIndex",
                      R"({"data":[{"index":0,"embedding":[1]},{"index":2,"embedding":[2]}]})",
                      "index 1 is missing"},
        MalformedCase{"BytesNotWholeFloats", R"({"data":[{"index":0,"embedding":"AAAAAAA="}]})",
                      "not a whole number of float32"},
        MalformedCase{"InvalidBase64", R"({"data":[{"index":0,"embedding":"AA-A"}]})",
                      "not valid base64"},
        MalformedCase{"Base64LengthOne", R"({"data":[{"index":0,"embedding":"AAAAA"}]})",
                      "not valid base64"},
        MalformedCase{"EmbeddingNumber", R"({"data":[{"index":0,"embedding":5}]})",
                      "neither a base64 string nor an array"},
        MalformedCase{"ComponentString", R"({"data":[{"index":0,"embedding":["a"]}]})",
                      "not a number"},
        MalformedCase{"TwoEmbeddings",
                      R"({"data":[{"index":0,"embedding":[1],"embedding":[2]}]})",
                      "two embeddings"},
        MalformedCase{"TwoDataMembers", R"({"data":[],"data":[]})", "two data members"},
        MalformedCase{"TrailingContent", R"({"data":[]} x)", "content after"},
        MalformedCase{"TrailingComma", R"({"data":[],})", "member name"},
        MalformedCase{"UnterminatedBase64", R"({"data":[{"index":0,"embedding":"AAAA)",
                      "unterminated"},
        MalformedCase{"ControlCharacterInString", "{\"model\":\"a\x01\",\"data\":[]}",
                      "invalid string"},
        MalformedCase{"InvalidEscape", R"({"model":"\x41","data":[]})", "invalid string"},
        MalformedCase{"LoneSurrogate", R"({"model":"\udc00","data":[]})", "invalid string"},
        MalformedCase{"InvalidUtf8Model", "{\"model\":\"\xC3\x28\",\"data\":[]}",
                      "not valid UTF-8"},
        MalformedCase{"BadLiteral", R"({"x":nul,"data":[]})", "invalid JSON value"},
        MalformedCase{"BadNumber", R"({"x":01,"data":[]})", "expected ','"},
        MalformedCase{"TooDeep", DeeplyNested(100), "invalid JSON value"},
        MalformedCase{"Truncated",
                      FixtureBody("embeddings-float-batch-ruby-llm.json").substr(0, 5000),
                      "malformed"},
        MalformedCase{"NonJsonFixture", FixtureBody("error-200-non-json-body.json"),
                      "not a JSON object"},
        MalformedCase{"ErrorEnvelope",
                      FixtureBody("error-openai-401-invalid-api-key-ruby-llm.json"),
                      "no data array"}),
    [](const testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

TEST(EmbeddingsResponseTest, NestingWithinTheLimitIsSkipped) {
  absl::StatusOr<v1::CreateEmbeddingsResponse> response =
      EmbeddingsResponseFromUpstreamJson(DeeplyNested(60));
  EXPECT_TRUE(response.ok()) << response.status();
}

// ---------------------------------------------------------------------------------------------
// Requests.

TEST(EmbeddingsRequestTest, MinimalRequestHasOnlyModelInputAndEncoding) {
  EXPECT_EQ(RequestJson(MinimalRequest()),
            json::parse(R"({"model":"text-embedding-3-small","input":["Ruby is great"],
                            "encoding_format":"base64"})"));
}

TEST(EmbeddingsRequestTest, SendsEveryParameterThatIsSet) {
  v1::CreateEmbeddingsRequest request = MinimalRequest();
  request.add_input("second");
  request.set_dimensions(768);
  request.set_user("user-42");
  const json sent = RequestJson(request);
  EXPECT_EQ(sent.at("input"), json::array({"Ruby is great", "second"}));
  EXPECT_EQ(sent.at("dimensions"), 768);
  EXPECT_EQ(sent.at("user"), "user-42");
  EXPECT_EQ(sent.size(), 5u);
}

TEST(EmbeddingsRequestTest, SendsTokenIdsAsArraysOfArrays) {
  v1::CreateEmbeddingsRequest request;
  request.set_model("m");
  request.add_input_token_ids()->add_token_ids(1);
  request.mutable_input_token_ids(0)->add_token_ids(2);
  request.add_input_token_ids()->add_token_ids(3);
  EXPECT_EQ(RequestJson(request).at("input"), json::parse("[[1,2],[3]]"));
}

TEST(EmbeddingsRequestTest, ExtraBodyIsMergedLastAndWins) {
  v1::CreateEmbeddingsRequest request = MinimalRequest();
  request.set_user("user-42");
  *request.mutable_extra_body() = JsonToStruct(
      json::parse(R"({"encoding_format":"float","user":null,"input_type":"query"})"));
  const json sent = RequestJson(request);
  EXPECT_EQ(sent.at("encoding_format"), "float");
  EXPECT_EQ(sent.at("input_type"), "query");
  EXPECT_FALSE(sent.contains("user"));
}

struct InvalidRequestCase {
  const char* name;
  std::function<void(v1::CreateEmbeddingsRequest&)> change;
  const char* field;
};

class EmbeddingsInvalidRequestTest : public testing::TestWithParam<InvalidRequestCase> {};

TEST_P(EmbeddingsInvalidRequestTest, IsInvalidArgumentBeforeAnyJson) {
  v1::CreateEmbeddingsRequest request = MinimalRequest();
  GetParam().change(request);
  const absl::Status status = ValidateEmbeddingsRequest(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr(GetParam().field));
  EXPECT_EQ(EmbeddingsRequestToUpstreamJson(request).status(), status);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, EmbeddingsInvalidRequestTest,
    testing::Values(
        InvalidRequestCase{"NoModel", [](auto& r) { r.clear_model(); }, "model"},
        InvalidRequestCase{"NoInput", [](auto& r) { r.clear_input(); }, "input"},
        InvalidRequestCase{"TooManyInputs",
                           [](auto& r) {
                             const std::string text = "x";
                             for (int i = 0; i < 2048; ++i) r.add_input(text);
                           },
                           "at most 2048"},
        InvalidRequestCase{"InputAndTokenIds",
                           [](auto& r) { r.add_input_token_ids()->add_token_ids(1); },
                           "both set"},
        InvalidRequestCase{"EmptyTokenIds",
                           [](auto& r) {
                             r.clear_input();
                             r.add_input_token_ids();
                           },
                           "input_token_ids[0]"},
        InvalidRequestCase{"ZeroDimensions", [](auto& r) { r.set_dimensions(0); },
                           "dimensions"},
        InvalidRequestCase{"NanInExtraBody",
                           [](auto& r) {
                             (*r.mutable_extra_body()->mutable_fields())["x"].set_number_value(
                                 std::nan(""));
                           },
                           "extra_body: holds a number that is not finite"}),
    [](const testing::TestParamInfo<InvalidRequestCase>& info) { return info.param.name; });

TEST(EmbeddingsRequestTest, AcceptsExactly2048Inputs) {
  v1::CreateEmbeddingsRequest request = MinimalRequest();
  const std::string text = "x";
  for (int i = 1; i < 2048; ++i) request.add_input(text);
  ASSERT_EQ(request.input_size(), 2048);
  EXPECT_TRUE(ValidateEmbeddingsRequest(request).ok());
  EXPECT_EQ(RequestJson(request).at("input").size(), 2048u);
}

}  // namespace
}  // namespace gengate::translate
