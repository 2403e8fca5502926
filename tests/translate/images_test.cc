#include "translate/images.h"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "translate/common.h"
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
// Fixture access.

// A fixture's body as the upstream sent it: a JSON string body is raw text (INDEX.md).
std::string FixtureBody(const std::string& name) {
  const json body = LoadFixture(name).at("body");
  return body.is_string() ? body.get<std::string>() : body.dump();
}

// absl's decoder is the reference for image bytes.
std::string ReferenceDecode(const std::string& base64) {
  std::string bytes;
  EXPECT_TRUE(absl::Base64Unescape(base64, &bytes)) << base64.substr(0, 40);
  return bytes;
}

bool IsSet(const json& object, const char* key) {
  return object.is_object() && object.contains(key) && !object.at(key).is_null();
}

// ---------------------------------------------------------------------------------------------
// Every recorded answer.

class ImagesFixtureTest : public testing::TestWithParam<std::string> {};

void ExpectOptionalString(bool has, const std::string& value, const json& object,
                          const char* key) {
  if (IsSet(object, key)) {
    EXPECT_TRUE(has) << key;
    EXPECT_EQ(value, object.at(key).get<std::string>()) << key;
  } else {
    EXPECT_FALSE(has) << key;
  }
}

void ExpectMatchesFixtureBody(const v1::ImagesResponse& response, const json& body) {
  // Ace wraps OpenAI's answer in `data`, next to task_id and trace_id.
  const bool envelope = body.at("data").is_object();
  const json& answer = envelope ? body.at("data") : body;
  const json& envelope_or_answer = envelope ? body : answer;

  EXPECT_EQ(response.created(), answer.at("created").get<std::int64_t>());
  const json& images = answer.at("data");
  ASSERT_EQ(response.data_size(), static_cast<int>(images.size()));
  for (int i = 0; i < response.data_size(); ++i) {
    const json& image = images[i];
    const v1::Image& out = response.data(i);
    EXPECT_EQ(out.url(), image.value("url", std::string())) << "data[" << i << "]";
    if (IsSet(image, "b64_json")) {
      EXPECT_EQ(out.image_data(), ReferenceDecode(image.at("b64_json").get<std::string>()));
      // The fixtures are PNGs: a wrong decoder would not give the signature.
      EXPECT_EQ(out.image_data().substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    } else {
      EXPECT_TRUE(out.image_data().empty());
    }
    ExpectOptionalString(out.has_revised_prompt(), out.revised_prompt(), image, "revised_prompt");
  }
  ExpectOptionalString(response.has_background(), response.background(), answer, "background");
  ExpectOptionalString(response.has_output_format(), response.output_format(), answer,
                       "output_format");
  ExpectOptionalString(response.has_quality(), response.quality(), answer, "quality");
  ExpectOptionalString(response.has_size(), response.size(), answer, "size");
  ExpectOptionalString(response.has_task_id(), response.task_id(), envelope_or_answer,
                       "task_id");
  ExpectOptionalString(response.has_trace_id(), response.trace_id(), envelope_or_answer,
                       "trace_id");

  EXPECT_EQ(response.has_usage(), IsSet(answer, "usage"));
  if (IsSet(answer, "usage")) {
    const json& usage = answer.at("usage");
    EXPECT_EQ(response.usage().input_tokens(), usage.at("input_tokens").get<int>());
    EXPECT_EQ(response.usage().output_tokens(), usage.at("output_tokens").get<int>());
    EXPECT_EQ(response.usage().total_tokens(), usage.at("total_tokens").get<int>());
    for (const auto& [key, details] :
         {std::pair{"input_tokens_details", &response.usage().input_tokens_details()},
          std::pair{"output_tokens_details", &response.usage().output_tokens_details()}}) {
      if (!IsSet(usage, key)) continue;
      EXPECT_EQ(details->text_tokens(), usage.at(key).at("text_tokens").get<int>()) << key;
      EXPECT_EQ(details->image_tokens(), usage.at(key).at("image_tokens").get<int>()) << key;
    }
  }
}

TEST_P(ImagesFixtureTest, MatchesTheFixturesValues) {
  const json fixture = LoadFixture(GetParam());
  absl::StatusOr<v1::ImagesResponse> response =
      ImagesResponseFromUpstreamJson(fixture.at("body").dump());
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectMatchesFixtureBody(*response, fixture.at("body"));
}

TEST_P(ImagesFixtureTest, ReadsPrettyPrintedBody) {
  const json fixture = LoadFixture(GetParam());
  absl::StatusOr<v1::ImagesResponse> response =
      ImagesResponseFromUpstreamJson(fixture.at("body").dump(2));
  ASSERT_TRUE(response.ok()) << response.status();
  ExpectMatchesFixtureBody(*response, fixture.at("body"));
}

// A body cut short anywhere is never mistaken for a whole answer.
TEST_P(ImagesFixtureTest, TruncatedBodyIsInternal) {
  const std::string body = FixtureBody(GetParam());
  for (std::size_t length : {std::size_t{0}, std::size_t{1}, body.size() / 3, body.size() / 2,
                             body.size() - 2, body.size() - 1}) {
    absl::StatusOr<v1::ImagesResponse> response =
        ImagesResponseFromUpstreamJson(std::string_view(body).substr(0, length));
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInternal) << "length " << length;
  }
}

INSTANTIATE_TEST_SUITE_P(AllImagesFixtures, ImagesFixtureTest,
                         testing::ValuesIn(FixtureNames("images-")), FixtureTestName);

TEST(ImagesFixtureListTest, FindsTheFixtures) { EXPECT_EQ(FixtureNames("images-").size(), 5u); }

// The fixture requests, rebuilt as protos, give back the recorded JSON (multipart-only fields
// aside).
TEST(ImagesFixtureRequestTest, GenerationRequestsMatchTheRecordedOnes) {
  for (const char* name : {"images-generations-dalle3-url-revised-prompt-ruby-llm.json",
                           "images-generations-gpt-image-1-b64-usage-ruby-llm.json",
                           "images-generations-multiple-b64-vercel.json"}) {
    const json recorded = LoadFixture(name).at("request");
    v1::GenerateImagesRequest request;
    request.set_model(recorded.at("model").get<std::string>());
    request.set_prompt(recorded.at("prompt").get<std::string>());
    if (recorded.contains("n")) request.set_n(recorded.at("n").get<int>());
    if (recorded.contains("size")) request.set_size(recorded.at("size").get<std::string>());
    if (recorded.value("response_format", "") == "b64_json") {
      request.set_response_format(v1::IMAGE_RESPONSE_FORMAT_IMAGE_DATA);
    }
    absl::StatusOr<std::string> body = GenerateImagesRequestToUpstreamJson(request);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(json::parse(*body), recorded) << name;
  }
}

TEST(ImagesFixtureRequestTest, AceRequestWithCallbackUrlViaExtraBody) {
  const json recorded =
      LoadFixture("images-generations-ace-success-envelope.json").at("request");
  v1::GenerateImagesRequest request;
  request.set_model(recorded.at("model").get<std::string>());
  request.set_prompt(recorded.at("prompt").get<std::string>());
  request.set_size(recorded.at("size").get<std::string>());
  *request.mutable_extra_body() = JsonToStruct({{"callback_url", recorded.at("callback_url")}});
  absl::StatusOr<std::string> body = GenerateImagesRequestToUpstreamJson(request);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(json::parse(*body), recorded);
}

// ---------------------------------------------------------------------------------------------
// Answers beyond the fixtures.

TEST(ImagesResponseTest, ToleratesNullsAndOddTypes) {
  const std::string body = R"({"created":1.7e9,"data":[{"url":"https://x/a.png",
    "revised_prompt":null,"b64_json":null}],"usage":null,"quality":5,"size":"1024x1024"})";
  absl::StatusOr<v1::ImagesResponse> response = ImagesResponseFromUpstreamJson(body);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->created(), 1700000000);
  ASSERT_EQ(response->data_size(), 1);
  EXPECT_EQ(response->data(0).url(), "https://x/a.png");
  EXPECT_FALSE(response->data(0).has_revised_prompt());
  EXPECT_TRUE(response->data(0).image_data().empty());
  EXPECT_FALSE(response->has_usage());
  EXPECT_FALSE(response->has_quality());
  EXPECT_EQ(response->size(), "1024x1024");
}

TEST(ImagesResponseTest, UnescapesUrlsAndBase64) {
  const std::string bytes = "\xFF\xFE\xFD\xFC\xFB\xFA\x00\x01 image";
  std::string base64 = absl::Base64Escape(bytes);
  ASSERT_NE(base64.find('/'), std::string::npos) << base64;
  std::string escaped;
  for (char c : base64) escaped += c == '/' ? std::string("\\/") : std::string(1, c);
  const std::string body = R"({"created":1,"data":[{"b64_json":")" + escaped +
                           R"("},{"url":"https:\/\/x\/a.png?a=1\u0026b=2"}]})";
  absl::StatusOr<v1::ImagesResponse> response = ImagesResponseFromUpstreamJson(body);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->data_size(), 2);
  EXPECT_EQ(response->data(0).image_data(), bytes);
  EXPECT_EQ(response->data(1).url(), "https://x/a.png?a=1&b=2");
}

TEST(ImagesResponseTest, ReadsAnEmptyImageList) {
  absl::StatusOr<v1::ImagesResponse> response =
      ImagesResponseFromUpstreamJson(R"({"created":5,"data":[]})");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->created(), 5);
  EXPECT_EQ(response->data_size(), 0);
}

// `count` images of one URL each, as an answer's data array.
std::string ImageList(std::size_t count) {
  std::string data;
  for (std::size_t i = 0; i < count; ++i) {
    absl::StrAppend(&data, i > 0 ? "," : "", R"({"url":"https://x/)", i, R"(.png"})");
  }
  return absl::StrCat(R"({"created":5,"data":[)", data, "]}");
}

// Memory follows the number of images: past kMaxAnswerItems the answer is malformed.
TEST(ImagesResponseTest, AtMostTheItemCapOfImages) {
  absl::StatusOr<v1::ImagesResponse> at_cap = ImagesResponseFromUpstreamJson(
      ImageList(kMaxAnswerItems));
  ASSERT_TRUE(at_cap.ok()) << at_cap.status();
  EXPECT_EQ(at_cap->data_size(), static_cast<int>(kMaxAnswerItems));
  absl::StatusOr<v1::ImagesResponse> over = ImagesResponseFromUpstreamJson(
      ImageList(kMaxAnswerItems + 1));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(over.status().message()), HasSubstr("more than 128 images"));
}

TEST(ImagesResponseTest, DecodesALargeImage) {
  std::string bytes(3 << 20, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + (i >> 9));
  const json body = {{"created", 1}, {"data", {{{"b64_json", absl::Base64Escape(bytes)}}}}};
  absl::StatusOr<v1::ImagesResponse> response = ImagesResponseFromUpstreamJson(body.dump());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->data(0).image_data(), bytes);
}

struct MalformedCase {
  const char* name;
  std::string body;
  const char* message;
};

class ImagesMalformedTest : public testing::TestWithParam<MalformedCase> {};

TEST_P(ImagesMalformedTest, IsInternal) {
  absl::StatusOr<v1::ImagesResponse> response = ImagesResponseFromUpstreamJson(GetParam().body);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInternal) << response.status();
  EXPECT_THAT(response.status().message(), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ImagesMalformedTest,
    testing::Values(
        MalformedCase{"Empty", "", "not valid JSON"},
        MalformedCase{"Array", "[]", "not a JSON object"},
        MalformedCase{"NoData", R"({"created":1})", "no data array"},
        MalformedCase{"DataString", R"({"data":"x"})", "data is not an array"},
        MalformedCase{"ImageNotObject", R"({"data":[1]})", "data[0] is not an object"},
        MalformedCase{"InvalidBase64", R"({"data":[{"b64_json":"iVBO*w0K"}]})",
                      "data[0].b64_json is not valid base64"},
        MalformedCase{"Base64LengthOne", R"({"data":[{},{"b64_json":"iVBOR"}]})",
                      "data[1].b64_json is not valid base64"},
        MalformedCase{"Base64NotString", R"({"data":[{"b64_json":5}]})",
                      "b64_json is not a string"},
        MalformedCase{"UrlNotString", R"({"data":[{"url":["x"]}]})", "url is not a string"},
        MalformedCase{"AceFailure", R"({"success":false,"data":{"data":[]}})",
                      "success is false"},
        MalformedCase{"EnvelopeTwice", R"({"data":{"data":{"data":[]}}})",
                      "data is not an array"},
        MalformedCase{"TrailingContent", R"({"data":[]} {})", "content after"},
        MalformedCase{"NonJsonFixture", FixtureBody("error-200-non-json-body.json"), "malformed"},
        MalformedCase{"HtmlProxyPage", FixtureBody("error-502-html-proxy-page.json"),
                      "malformed"},
        MalformedCase{"ErrorEnvelope", FixtureBody("error-ace-500-api-error.json"),
                      "malformed"}),
    [](const testing::TestParamInfo<MalformedCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Generation requests.

v1::GenerateImagesRequest MinimalGeneration() {
  v1::GenerateImagesRequest request;
  request.set_model("gpt-image-1");
  request.set_prompt("a siamese cat");
  return request;
}

json GenerationJson(const v1::GenerateImagesRequest& request) {
  absl::StatusOr<std::string> body = GenerateImagesRequestToUpstreamJson(request);
  EXPECT_TRUE(body.ok()) << body.status();
  return body.ok() ? json::parse(*body) : json();
}

TEST(GenerateImagesRequestTest, UnsetFieldsAreAbsent) {
  EXPECT_EQ(GenerationJson(MinimalGeneration()),
            json::parse(R"({"model":"gpt-image-1","prompt":"a siamese cat"})"));
}

TEST(GenerateImagesRequestTest, SendsEveryParameterThatIsSet) {
  v1::GenerateImagesRequest request = MinimalGeneration();
  request.set_n(2);
  request.set_size("1536x1024");
  request.set_quality("high");
  request.set_response_format(v1::IMAGE_RESPONSE_FORMAT_IMAGE_DATA);
  request.set_style("natural");
  request.set_background("transparent");
  request.set_output_format("webp");
  request.set_output_compression(0);  // a set 0 is sent
  request.set_user("user-42");
  request.set_moderation("low");
  EXPECT_EQ(GenerationJson(request), json::parse(R"({
      "model":"gpt-image-1","prompt":"a siamese cat","n":2,"size":"1536x1024",
      "quality":"high","response_format":"b64_json","style":"natural",
      "background":"transparent","output_format":"webp","output_compression":0,
      "user":"user-42","moderation":"low"})"));
}

TEST(GenerateImagesRequestTest, MapsResponseFormat) {
  const std::vector<std::pair<v1::ImageResponseFormat, json>> cases = {
      {v1::IMAGE_RESPONSE_FORMAT_UNSPECIFIED, json()},
      {v1::IMAGE_RESPONSE_FORMAT_URL, "url"},
      {v1::IMAGE_RESPONSE_FORMAT_IMAGE_DATA, "b64_json"}};
  for (const auto& [format, expected] : cases) {
    v1::GenerateImagesRequest request = MinimalGeneration();
    request.set_response_format(format);
    EXPECT_EQ(GenerationJson(request).value("response_format", json()), expected)
        << v1::ImageResponseFormat_Name(format);
  }
}

TEST(GenerateImagesRequestTest, ExtraBodyIsMergedLastAndWins) {
  v1::GenerateImagesRequest request = MinimalGeneration();
  request.set_size("1024x1024");
  request.set_user("user-42");
  *request.mutable_extra_body() =
      JsonToStruct(json::parse(R"({"size":"auto","user":null,"partial_images":2})"));
  const json sent = GenerationJson(request);
  EXPECT_EQ(sent.at("size"), "auto");
  EXPECT_EQ(sent.at("partial_images"), 2);
  EXPECT_FALSE(sent.contains("user"));
}

struct InvalidGenerationCase {
  const char* name;
  std::function<void(v1::GenerateImagesRequest&)> change;
  const char* field;
};

class GenerateImagesInvalidTest : public testing::TestWithParam<InvalidGenerationCase> {};

TEST_P(GenerateImagesInvalidTest, IsInvalidArgument) {
  v1::GenerateImagesRequest request = MinimalGeneration();
  GetParam().change(request);
  const absl::Status status = ValidateGenerateImagesRequest(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr(GetParam().field));
  EXPECT_EQ(GenerateImagesRequestToUpstreamJson(request).status(), status);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GenerateImagesInvalidTest,
    testing::Values(
        InvalidGenerationCase{"NoModel", [](auto& r) { r.clear_model(); }, "model"},
        InvalidGenerationCase{"NoPrompt", [](auto& r) { r.clear_prompt(); }, "prompt"},
        InvalidGenerationCase{"ZeroImages", [](auto& r) { r.set_n(0); }, "n:"},
        InvalidGenerationCase{
            "UnknownResponseFormat",
            [](auto& r) { r.set_response_format(static_cast<v1::ImageResponseFormat>(7)); },
            "response_format"},
        InvalidGenerationCase{"CompressionAbove100",
                              [](auto& r) { r.set_output_compression(101); },
                              "output_compression"},
        InvalidGenerationCase{"NegativeCompression",
                              [](auto& r) { r.set_output_compression(-1); },
                              "output_compression"}),
    [](const testing::TestParamInfo<InvalidGenerationCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------------------------
// Edit requests.

const std::string kPng = std::string("\x89PNG\r\n\x1a\n", 8) + "png-body";
const std::string kJpeg = "\xFF\xD8\xFF\xE0jpeg-body";
const std::string kWebp = std::string("RIFF\x10\x00\x00\x00WEBPVP8 ", 16) + "webp-body";

v1::EditImageRequest MinimalEdit() {
  v1::EditImageRequest request;
  request.set_model("gpt-image-1");
  request.set_prompt("Put these items into a gift basket");
  return request;
}

void AddImageBytes(v1::EditImageRequest& request, const std::string& bytes) {
  request.add_images()->set_data(bytes);
}

void AddImageUrl(v1::EditImageRequest& request, const std::string& url) {
  request.add_images()->set_url(url);
}

EditUpstreamBody EditBody(const v1::EditImageRequest& request) {
  absl::StatusOr<EditUpstreamBody> body = EditImageRequestToUpstream(request);
  EXPECT_TRUE(body.ok()) << body.status();
  return body.ok() ? *std::move(body) : EditUpstreamBody{};
}

// The text fields of a form by name; file parts are checked one by one.
std::map<std::string, std::string> TextFields(const EditUpstreamBody& body) {
  std::map<std::string, std::string> fields;
  for (const MultipartField& field : body.form) {
    if (field.filename.empty()) {
      EXPECT_TRUE(field.content_type.empty()) << field.name;
      EXPECT_TRUE(fields.emplace(field.name, field.value).second) << "twice: " << field.name;
    }
  }
  return fields;
}

std::vector<MultipartField> FileParts(const EditUpstreamBody& body) {
  std::vector<MultipartField> files;
  for (const MultipartField& field : body.form) {
    if (!field.filename.empty()) files.push_back(field);
  }
  return files;
}

TEST(EditImageRequestTest, UrlsGiveTheJsonForm) {
  v1::EditImageRequest request = MinimalEdit();
  AddImageUrl(request, "https://cdn.acedata.cloud/qzx2z1.png");
  AddImageUrl(request, "https://cdn.acedata.cloud/second.png");
  request.mutable_mask()->set_url("https://cdn.acedata.cloud/mask.png");
  request.set_size("1024x1024");
  request.set_input_fidelity("high");
  const EditUpstreamBody body = EditBody(request);
  EXPECT_TRUE(body.form.empty());
  EXPECT_EQ(json::parse(body.json), json::parse(R"({
      "model":"gpt-image-1","prompt":"Put these items into a gift basket","size":"1024x1024",
      "input_fidelity":"high",
      "images":[{"image_url":"https://cdn.acedata.cloud/qzx2z1.png"},
                {"image_url":"https://cdn.acedata.cloud/second.png"}],
      "mask":{"image_url":"https://cdn.acedata.cloud/mask.png"}})"));
}

TEST(EditImageRequestTest, UrlFormWithoutMaskHasNoMaskKey) {
  v1::EditImageRequest request = MinimalEdit();
  AddImageUrl(request, "https://x/a.png");
  const json sent = json::parse(EditBody(request).json);
  EXPECT_FALSE(sent.contains("mask"));
  EXPECT_EQ(sent.size(), 3u);
}

TEST(EditImageRequestTest, UrlFormExtraBodyWins) {
  v1::EditImageRequest request = MinimalEdit();
  AddImageUrl(request, "https://x/a.png");
  *request.mutable_extra_body() = JsonToStruct(json::parse(R"({"prompt":"other","n":3})"));
  const json sent = json::parse(EditBody(request).json);
  EXPECT_EQ(sent.at("prompt"), "other");
  EXPECT_EQ(sent.at("n"), 3);
}

TEST(EditImageRequestTest, BytesGiveMultipartWithTextFields) {
  v1::EditImageRequest request = MinimalEdit();
  AddImageBytes(request, kPng);
  request.set_n(2);
  request.set_size("1024x1024");
  request.set_quality("high");
  request.set_response_format(v1::IMAGE_RESPONSE_FORMAT_URL);
  request.set_background("transparent");
  request.set_output_format("png");
  request.set_output_compression(80);
  request.set_input_fidelity("low");
  request.set_user("user-42");
  const EditUpstreamBody body = EditBody(request);
  EXPECT_TRUE(body.json.empty());
  EXPECT_EQ(TextFields(body), (std::map<std::string, std::string>{
                                  {"model", "gpt-image-1"},
                                  {"prompt", "Put these items into a gift basket"},
                                  {"n", "2"},
                                  {"size", "1024x1024"},
                                  {"quality", "high"},
                                  {"response_format", "url"},
                                  {"background", "transparent"},
                                  {"output_format", "png"},
                                  {"output_compression", "80"},
                                  {"input_fidelity", "low"},
                                  {"user", "user-42"}}));
}

TEST(EditImageRequestTest, UnsetFieldsAreAbsentFromTheForm) {
  v1::EditImageRequest request = MinimalEdit();
  AddImageBytes(request, kPng);
  EXPECT_EQ(TextFields(EditBody(request)),
            (std::map<std::string, std::string>{
                {"model", "gpt-image-1"}, {"prompt", "Put these items into a gift basket"}}));
}

TEST(EditImageRequestTest, FilePartsHaveNamesAndSniffedTypes) {
  v1::EditImageRequest request = MinimalEdit();
  AddImageBytes(request, kPng);
  AddImageBytes(request, kJpeg);
  AddImageBytes(request, kWebp);
  AddImageBytes(request, "not an image");
  // The caller's name and type are kept as given.
  v1::InputImage& named = *request.add_images();
  named.set_data(kPng);
  named.set_filename("basket.png");
  named.set_mime_type("image/png");
  // No type and unknown bytes: the name's extension decides.
  v1::InputImage& by_extension = *request.add_images();
  by_extension.set_data("opaque bytes");
  by_extension.set_filename("photo.JPG");
  // A type but no name: the name follows the type.
  v1::InputImage& typed = *request.add_images();
  typed.set_data("opaque bytes");
  typed.set_mime_type("image/webp");
  request.mutable_mask()->set_data(kPng);

  const std::vector<MultipartField> files = FileParts(EditBody(request));
  struct Expected {
    const char* name;
    const std::string* value;
    const char* filename;
    const char* content_type;
  };
  const std::string unknown = "not an image";
  const std::string opaque = "opaque bytes";
  const std::vector<Expected> expected = {
      {"image[]", &kPng, "image-0.png", "image/png"},
      {"image[]", &kJpeg, "image-1.jpg", "image/jpeg"},
      {"image[]", &kWebp, "image-2.webp", "image/webp"},
      {"image[]", &unknown, "image-3", "application/octet-stream"},
      {"image[]", &kPng, "basket.png", "image/png"},
      {"image[]", &opaque, "photo.JPG", "image/jpeg"},
      {"image[]", &opaque, "image-6.webp", "image/webp"},
      {"mask", &kPng, "mask.png", "image/png"}};
  ASSERT_EQ(files.size(), expected.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(files[i].name, expected[i].name) << i;
    EXPECT_EQ(files[i].value, *expected[i].value) << i;
    EXPECT_EQ(files[i].filename, expected[i].filename) << i;
    EXPECT_EQ(files[i].content_type, expected[i].content_type) << i;
  }
}

TEST(EditImageRequestTest, SingleImageStillUsesBracketedName) {
  v1::EditImageRequest request = MinimalEdit();
  AddImageBytes(request, kPng);
  const std::vector<MultipartField> files = FileParts(EditBody(request));
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].name, "image[]");
}

TEST(EditImageRequestTest, MultipartExtraBodyWinsAndBecomesText) {
  v1::EditImageRequest request = MinimalEdit();
  AddImageBytes(request, kPng);
  request.set_size("1024x1024");
  request.set_user("user-42");
  *request.mutable_extra_body() = JsonToStruct(json::parse(
      R"({"size":"auto","user":null,"partial_images":3,"stream":true,"meta":{"a":[1]}})"));
  const std::map<std::string, std::string> fields = TextFields(EditBody(request));
  EXPECT_EQ(fields.at("size"), "auto");
  EXPECT_EQ(fields.at("partial_images"), "3");
  EXPECT_EQ(fields.at("stream"), "true");
  EXPECT_EQ(json::parse(fields.at("meta")), json::parse(R"({"a":[1]})"));
  EXPECT_EQ(fields.count("user"), 0u);
}

TEST(EditImageRequestTest, AcceptsSixteenImages) {
  v1::EditImageRequest request = MinimalEdit();
  for (int i = 0; i < 16; ++i) AddImageBytes(request, kPng);
  EXPECT_EQ(FileParts(EditBody(request)).size(), 16u);
}

struct InvalidEditCase {
  const char* name;
  std::function<void(v1::EditImageRequest&)> change;
  const char* field;
};

class EditImageInvalidTest : public testing::TestWithParam<InvalidEditCase> {};

TEST_P(EditImageInvalidTest, IsInvalidArgument) {
  v1::EditImageRequest request = MinimalEdit();
  AddImageBytes(request, kPng);
  GetParam().change(request);
  const absl::Status status = ValidateEditImageRequest(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr(GetParam().field));
  EXPECT_EQ(EditImageRequestToUpstream(request).status(), status);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, EditImageInvalidTest,
    testing::Values(
        InvalidEditCase{"NoModel", [](auto& r) { r.clear_model(); }, "model"},
        InvalidEditCase{"NoPrompt", [](auto& r) { r.clear_prompt(); }, "prompt"},
        InvalidEditCase{"NoImages", [](auto& r) { r.clear_images(); }, "at least one image"},
        InvalidEditCase{"SeventeenImages",
                        [](auto& r) {
                          for (int i = 0; i < 16; ++i) AddImageBytes(r, kPng);
                        },
                        "17 images; at most 16"},
        InvalidEditCase{"ImageWithoutSource", [](auto& r) { r.add_images(); },
                        "images[1]: one of data, url"},
        InvalidEditCase{"EmptyBytes", [](auto& r) { r.add_images()->set_data(""); },
                        "images[1].data"},
        InvalidEditCase{"EmptyUrl",
                        [](auto& r) {
                          r.clear_images();
                          r.add_images()->set_url("");
                        },
                        "images[0].url"},
        InvalidEditCase{"MaskWithoutSource", [](auto& r) { r.mutable_mask(); }, "mask"},
        InvalidEditCase{"BytesAndUrl", [](auto& r) { AddImageUrl(r, "https://x/b.png"); },
                        "not both"},
        InvalidEditCase{"UrlsAndMaskBytes",
                        [](auto& r) {
                          r.clear_images();
                          AddImageUrl(r, "https://x/a.png");
                          r.mutable_mask()->set_data(kPng);
                        },
                        "not both"},
        InvalidEditCase{"BytesAndMaskUrl",
                        [](auto& r) { r.mutable_mask()->set_url("https://x/mask.png"); },
                        "not both"},
        InvalidEditCase{"ZeroImagesRequested", [](auto& r) { r.set_n(0); }, "n:"},
        InvalidEditCase{"UnknownResponseFormat",
                        [](auto& r) {
                          r.set_response_format(static_cast<v1::ImageResponseFormat>(9));
                        },
                        "response_format"}),
    [](const testing::TestParamInfo<InvalidEditCase>& info) { return info.param.name; });

}  // namespace
}  // namespace gengate::translate
