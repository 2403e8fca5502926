// End-to-end tests of the Images RPCs: the real gengate binary, real sockets and real libcurl,
// against a scripted upstream on 127.0.0.1 (tests/testing/upstream_server.h).
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gengate/v1/images.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "integration/integration_test_base.h"
#include "testing/upstream_server.h"

namespace gengate::integration {
namespace {

using ::gengate::testing::Fixture;
using ::gengate::testing::RecordedRequest;
using ::gengate::testing::Responder;
using ::testing::HasSubstr;

namespace v1 = ::gengate::v1;

constexpr char kGenerationsPath[] = "/openai/images/generations";
constexpr char kEditsPath[] = "/openai/images/edits";

// `size` bytes that start with `magic` and then cover every byte value, CR LF and "--" included,
// so that a multipart encoder that mangles binary data is caught.
std::string ImageBytes(absl::string_view magic, size_t size, uint32_t seed) {
  std::string bytes(magic);
  std::mt19937 random(seed);
  bytes += std::string("\r\n--\r\n\0\xff", 8);
  while (bytes.size() < size) bytes.push_back(static_cast<char>(random() & 0xff));
  bytes.resize(size);
  return bytes;
}

const std::string& PngMagic() {
  static const auto* const kMagic = new std::string("\x89PNG\r\n\x1a\n", 8);
  return *kMagic;
}

std::string Base64Decoded(absl::string_view text) {
  std::string bytes;
  EXPECT_TRUE(absl::Base64Unescape(text, &bytes)) << "fixture base64 is not valid";
  return bytes;
}

v1::GenerateImagesRequest GenerateRequest(std::string model, std::string prompt) {
  v1::GenerateImagesRequest request;
  request.set_model(std::move(model));
  request.set_prompt(std::move(prompt));
  return request;
}

v1::EditImageRequest EditRequestWithBytes(std::string image) {
  v1::EditImageRequest request;
  request.set_model("gpt-image-1");
  request.set_prompt("Add a hat");
  v1::InputImage* input = request.add_images();
  input->set_data(std::move(image));
  input->set_filename("input.png");
  input->set_mime_type("image/png");
  return request;
}

// One part of a multipart/form-data body, as the upstream received it.
struct FormPart {
  std::string name;
  std::string filename;  // "" for text fields
  std::string content_type;
  std::string data;
};

// A parameter of a header value: `name="value"` or `name=value`.
std::optional<std::string> HeaderParameter(absl::string_view value, absl::string_view name) {
  for (absl::string_view piece : absl::StrSplit(value, ';')) {
    piece = absl::StripAsciiWhitespace(piece);
    if (!absl::ConsumePrefix(&piece, absl::StrCat(name, "="))) continue;
    if (piece.size() >= 2 && piece.front() == '"' && piece.back() == '"') {
      piece = piece.substr(1, piece.size() - 2);
    }
    return std::string(piece);
  }
  return std::nullopt;
}

// Parses a multipart/form-data body by RFC 7578; nullopt (and a test failure) when malformed.
std::optional<std::vector<FormPart>> ParseMultipart(const RecordedRequest& request) {
  const std::string content_type = request.Header("content-type");
  if (!absl::StartsWith(content_type, "multipart/form-data")) {
    ADD_FAILURE() << "not multipart: " << content_type;
    return std::nullopt;
  }
  std::optional<std::string> boundary = HeaderParameter(content_type, "boundary");
  if (!boundary.has_value() || boundary->empty()) {
    ADD_FAILURE() << "no boundary in " << content_type;
    return std::nullopt;
  }
  const std::string delimiter = absl::StrCat("--", *boundary);
  absl::string_view body = request.body;
  if (!absl::ConsumePrefix(&body, absl::StrCat(delimiter, "\r\n"))) {
    ADD_FAILURE() << "body does not start with the boundary";
    return std::nullopt;
  }
  const std::string separator = absl::StrCat("\r\n", delimiter);
  std::vector<FormPart> parts;
  while (true) {
    const size_t head_end = body.find("\r\n\r\n");
    if (head_end == absl::string_view::npos) {
      ADD_FAILURE() << "part without the end of its headers";
      return std::nullopt;
    }
    FormPart part;
    for (absl::string_view line : absl::StrSplit(body.substr(0, head_end), "\r\n")) {
      const size_t colon = line.find(':');
      if (colon == absl::string_view::npos) continue;
      const std::string name = absl::AsciiStrToLower(line.substr(0, colon));
      const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
      if (name == "content-disposition") {
        part.name = HeaderParameter(value, "name").value_or("");
        part.filename = HeaderParameter(value, "filename").value_or("");
      } else if (name == "content-type") {
        part.content_type = std::string(value);
      }
    }
    body.remove_prefix(head_end + 4);
    const size_t data_end = body.find(separator);
    if (data_end == absl::string_view::npos) {
      ADD_FAILURE() << "part " << part.name << " has no closing boundary";
      return std::nullopt;
    }
    part.data = std::string(body.substr(0, data_end));
    parts.push_back(std::move(part));
    body.remove_prefix(data_end + separator.size());
    if (absl::ConsumePrefix(&body, "--")) return parts;
    if (!absl::ConsumePrefix(&body, "\r\n")) {
      ADD_FAILURE() << "garbage after a boundary";
      return std::nullopt;
    }
  }
}

class ImagesIntegrationTest : public GatewayTestBase {
 protected:
  static void SetUpTestSuite() {
    StartGengate({absl::StrCat("--upstream_api_key_file=", WriteKeyFile()),
                  "--default_timeout=60s"},
                 {});
  }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(GatewayTestBase::SetUp());
    stub_ = v1::ImagesService::NewStub(LargeMessageChannel());
  }

  std::unique_ptr<v1::ImagesService::Stub> stub_;
};

// The images of an answer, with Ace's envelope (`data` holding the OpenAI answer) unwrapped.
const json& ImagesAnswer(const json& body) {
  const json& data = JsonObject(body, "data");
  return data.is_object() ? data : body;
}

// Every field of an images answer, against the JSON it came from.
void ExpectImagesResponseMatches(const v1::ImagesResponse& got, const json& body) {
  const json& answer = ImagesAnswer(body);
  EXPECT_EQ(got.created(), JsonInt(answer, "created"));
  const json& data = JsonObject(answer, "data");
  ASSERT_TRUE(data.is_array());
  ASSERT_EQ(got.data_size(), static_cast<int>(data.size()));
  for (int i = 0; i < got.data_size(); ++i) {
    SCOPED_TRACE(absl::StrCat("image ", i));
    EXPECT_EQ(got.data(i).url(), JsonString(data[i], "url"));
    EXPECT_EQ(got.data(i).has_revised_prompt(), JsonObject(data[i], "revised_prompt").is_string());
    EXPECT_EQ(got.data(i).revised_prompt(), JsonString(data[i], "revised_prompt"));
    const std::string b64 = JsonString(data[i], "b64_json");
    EXPECT_TRUE(got.data(i).image_data() == Base64Decoded(b64))
        << "image_data differs from the decoded b64_json (" << got.data(i).image_data().size()
        << " bytes)";
    if (!b64.empty()) {
      EXPECT_TRUE(absl::StartsWith(got.data(i).image_data(), PngMagic()));
    }
  }
  EXPECT_EQ(got.task_id(), JsonString(body, "task_id"));
  EXPECT_EQ(got.trace_id(), JsonString(body, "trace_id"));
  EXPECT_EQ(got.background(), JsonString(answer, "background"));
  EXPECT_EQ(got.output_format(), JsonString(answer, "output_format"));
  EXPECT_EQ(got.quality(), JsonString(answer, "quality"));
  EXPECT_EQ(got.size(), JsonString(answer, "size"));
  const json& usage = JsonObject(answer, "usage");
  EXPECT_EQ(got.has_usage(), usage.is_object());
  EXPECT_EQ(got.usage().input_tokens(), JsonInt(usage, "input_tokens"));
  EXPECT_EQ(got.usage().output_tokens(), JsonInt(usage, "output_tokens"));
  EXPECT_EQ(got.usage().total_tokens(), JsonInt(usage, "total_tokens"));
  EXPECT_EQ(got.usage().output_tokens_details().image_tokens(),
            JsonInt(JsonObject(usage, "output_tokens_details"), "image_tokens"));
}

// ---------------------------------------------------------------------------------------
// GenerateImages.

TEST_F(ImagesIntegrationTest, GenerateImagesSendsTheRequestAndReturnsDecodedBytes) {
  Fixture fixture = MustLoad("images-generations-gpt-image-1-b64-usage-ruby-llm");
  upstream_->Handle(kGenerationsPath, gengate::testing::ReplayFixture(fixture));
  v1::GenerateImagesRequest request = GenerateRequest("gpt-image-1", "a siamese cat");
  request.set_n(1);
  request.set_size("1024x1024");
  request.set_quality("medium");
  request.set_response_format(v1::IMAGE_RESPONSE_FORMAT_IMAGE_DATA);
  (*request.mutable_extra_body()->mutable_fields())["partial_images"].set_number_value(0);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::ImagesResponse response;

  grpc::Status status = stub_->GenerateImages(&context, request, &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  std::vector<RecordedRequest> received = upstream_->requests();
  std::optional<json> sent = OnlyJsonPost(received, kGenerationsPath);
  ASSERT_TRUE(sent.has_value());
  const json& body = *sent;
  EXPECT_EQ(body["model"], "gpt-image-1");
  EXPECT_EQ(body["prompt"], "a siamese cat");
  EXPECT_EQ(body["n"], 1);
  EXPECT_EQ(body["size"], "1024x1024");
  EXPECT_EQ(body["quality"], "medium");
  EXPECT_EQ(body["response_format"], "b64_json");
  EXPECT_EQ(body["partial_images"], 0);
  for (const char* unset : {"style", "background", "output_format", "output_compression", "user",
                            "moderation", "extra_body"}) {
    EXPECT_FALSE(body.contains(unset)) << "unset field sent upstream: " << unset;
  }
  ExpectImagesResponseMatches(response, ParseJson(fixture.body));
  ASSERT_EQ(response.data_size(), 1);
  EXPECT_TRUE(response.data(0).url().empty());
  EXPECT_EQ(response.usage().total_tokens(), 1066);
}

class ImagesGenerateFixtureTest : public ImagesIntegrationTest,
                                  public ::testing::WithParamInterface<std::string> {};

TEST_P(ImagesGenerateFixtureTest, ReturnsEveryFieldOfTheAnswer) {
  Fixture fixture = MustLoad(GetParam());
  upstream_->Handle(kGenerationsPath, gengate::testing::ReplayFixture(fixture));
  v1::GenerateImagesRequest request =
      GenerateRequest(JsonString(fixture.request, "model"), JsonString(fixture.request, "prompt"));
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::ImagesResponse response;

  grpc::Status status = stub_->GenerateImages(&context, request, &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  ExpectImagesResponseMatches(response, ParseJson(fixture.body));
  ASSERT_EQ(upstream_->requests().size(), 1u);
  const json sent = ParseJson(upstream_->requests()[0].body);
  EXPECT_EQ(sent["model"], fixture.request["model"]);
  EXPECT_FALSE(sent.contains("response_format")) << "unset response_format was sent";
}

INSTANTIATE_TEST_SUITE_P(AllGenerationFixtures, ImagesGenerateFixtureTest,
                         ::testing::Values("images-generations-ace-success-envelope",
                                           "images-generations-dalle3-url-revised-prompt-ruby-llm",
                                           "images-generations-gpt-image-1-b64-usage-ruby-llm",
                                           "images-generations-multiple-b64-vercel"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return absl::StrReplaceAll(info.param, {{"-", "_"}});
                         });

TEST_F(ImagesIntegrationTest, TwentyMegabyteImageArrivesAsTheOriginalBytes) {
  constexpr size_t kImageBytes = 20 << 20;
  auto image = std::make_shared<const std::string>(ImageBytes(PngMagic(), kImageBytes, 20));
  auto answer = std::make_shared<const std::string>(absl::StrCat(
      R"({"created":1780000000,"data":[{"b64_json":")", absl::Base64Escape(*image),
      R"(","revised_prompt":"big"}],"usage":{"input_tokens":1,"output_tokens":2,"total_tokens":3}})"));
  upstream_->Handle(kGenerationsPath, [answer](const RecordedRequest&, Responder& responder) {
    responder.Reply(200, {{"Content-Type", "application/json"}}, *answer);
  });
  v1::GenerateImagesRequest request = GenerateRequest("gpt-image-1", "a very detailed map");
  request.set_response_format(v1::IMAGE_RESPONSE_FORMAT_IMAGE_DATA);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(60));
  v1::ImagesResponse response;

  grpc::Status status = stub_->GenerateImages(&context, request, &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  ASSERT_EQ(response.data_size(), 1);
  ASSERT_EQ(response.data(0).image_data().size(), kImageBytes);
  EXPECT_TRUE(response.data(0).image_data() == *image) << "the bytes differ from the original";
  EXPECT_EQ(response.data(0).revised_prompt(), "big");
  EXPECT_EQ(response.usage().total_tokens(), 3);
}

// ---------------------------------------------------------------------------------------
// EditImage.

TEST_F(ImagesIntegrationTest, EditImageUploadsTwoImagesAndAMaskAsMultipart) {
  Fixture fixture = MustLoad("images-edits-gpt-image-1-vercel");
  upstream_->Handle(kEditsPath, gengate::testing::ReplayFixture(fixture));
  const std::string first = ImageBytes(PngMagic(), 3000, 1);
  const std::string second = ImageBytes("\xFF\xD8\xFF\xE0", 2500, 2);
  const std::string mask = ImageBytes(PngMagic(), 1200, 3);
  v1::EditImageRequest request;
  request.set_model("gpt-image-1");
  request.set_prompt("Put these items into a gift basket");
  request.set_n(2);
  request.set_size("1024x1024");
  request.set_response_format(v1::IMAGE_RESPONSE_FORMAT_IMAGE_DATA);
  v1::InputImage* image = request.add_images();
  image->set_data(first);
  image->set_filename("soap.png");
  image->set_mime_type("image/png");
  // No name or type given: the type is sniffed from the bytes and the name follows it.
  request.add_images()->set_data(second);
  request.mutable_mask()->set_data(mask);
  request.mutable_mask()->set_filename("basket-mask.png");
  request.mutable_mask()->set_mime_type("image/png");
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::ImagesResponse response;

  grpc::Status status = stub_->EditImage(&context, request, &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  std::vector<RecordedRequest> received = upstream_->requests();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].method, "POST");
  EXPECT_EQ(received[0].path, kEditsPath);
  EXPECT_EQ(received[0].Header("authorization"), absl::StrCat("Bearer ", kApiKey));
  std::optional<std::vector<FormPart>> parts = ParseMultipart(received[0]);
  ASSERT_TRUE(parts.has_value());
  std::map<std::string, std::string> fields;
  std::vector<const FormPart*> images;
  std::vector<const FormPart*> masks;
  for (const FormPart& part : *parts) {
    if (part.name == "image[]") {
      images.push_back(&part);
    } else if (part.name == "mask") {
      masks.push_back(&part);
    } else {
      EXPECT_TRUE(part.filename.empty()) << part.name << " is sent as a file";
      fields[part.name] = part.data;
    }
  }
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(images[0]->filename, "soap.png");
  EXPECT_EQ(images[0]->content_type, "image/png");
  EXPECT_TRUE(images[0]->data == first) << "first image bytes differ";
  EXPECT_EQ(images[1]->filename, "image-1.jpg");
  EXPECT_EQ(images[1]->content_type, "image/jpeg");
  EXPECT_TRUE(images[1]->data == second) << "second image bytes differ";
  ASSERT_EQ(masks.size(), 1u);
  EXPECT_EQ(masks[0]->filename, "basket-mask.png");
  EXPECT_EQ(masks[0]->content_type, "image/png");
  EXPECT_TRUE(masks[0]->data == mask) << "mask bytes differ";
  EXPECT_EQ(fields, (std::map<std::string, std::string>{
                        {"model", "gpt-image-1"},
                        {"prompt", "Put these items into a gift basket"},
                        {"n", "2"},
                        {"size", "1024x1024"},
                        {"response_format", "b64_json"}}));
  ExpectImagesResponseMatches(response, ParseJson(fixture.body));
}

TEST_F(ImagesIntegrationTest, LargeUploadArrivesAsTheOriginalBytes) {
  upstream_->Handle(kEditsPath, gengate::testing::ReplayFixture(
                                    MustLoad("images-edits-gpt-image-1-vercel")));
  // Several MB: curl reads the form from the request in many pieces.
  const std::string image = ImageBytes(PngMagic(), 12 << 20, 7);
  const std::string mask = ImageBytes(PngMagic(), 3 << 20, 8);
  v1::EditImageRequest request = EditRequestWithBytes(image);
  request.mutable_mask()->set_data(mask);
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(60));
  v1::ImagesResponse response;

  grpc::Status status = stub_->EditImage(&context, request, &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  ASSERT_EQ(upstream_->requests().size(), 1u);
  std::optional<std::vector<FormPart>> parts = ParseMultipart(upstream_->requests()[0]);
  ASSERT_TRUE(parts.has_value());
  const FormPart* got_image = nullptr;
  const FormPart* got_mask = nullptr;
  for (const FormPart& part : *parts) {
    if (part.name == "image[]") got_image = &part;
    if (part.name == "mask") got_mask = &part;
  }
  ASSERT_NE(got_image, nullptr);
  ASSERT_NE(got_mask, nullptr);
  EXPECT_EQ(got_image->data.size(), image.size());
  EXPECT_TRUE(got_image->data == image) << "the uploaded image differs";
  EXPECT_EQ(got_mask->filename, "mask.png");
  EXPECT_EQ(got_mask->content_type, "image/png");
  EXPECT_TRUE(got_mask->data == mask) << "the uploaded mask differs";
  EXPECT_EQ(response.data_size(), 1);
}

TEST_F(ImagesIntegrationTest, EditImageWithUrlsSendsJson) {
  Fixture fixture = MustLoad("images-edits-gpt-image-1-vercel");
  upstream_->Handle(kEditsPath, gengate::testing::ReplayFixture(fixture));
  v1::EditImageRequest request;
  request.set_model("gpt-image-1");
  request.set_prompt("Put these items into a gift basket");
  request.add_images()->set_url("https://cdn.example.com/soap.png");
  request.add_images()->set_url("https://cdn.example.com/lotion.png");
  request.mutable_mask()->set_url("https://cdn.example.com/mask.png");
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::ImagesResponse response;

  grpc::Status status = stub_->EditImage(&context, request, &response);

  ASSERT_TRUE(status.ok()) << Describe(status);
  std::vector<RecordedRequest> received = upstream_->requests();
  std::optional<json> sent = OnlyJsonPost(received, kEditsPath);
  ASSERT_TRUE(sent.has_value());
  const json& body = *sent;
  EXPECT_EQ(body["model"], "gpt-image-1");
  EXPECT_EQ(body["prompt"], "Put these items into a gift basket");
  EXPECT_EQ(body["images"], json::parse(R"([{"image_url": "https://cdn.example.com/soap.png"},
                                            {"image_url": "https://cdn.example.com/lotion.png"}])"));
  EXPECT_EQ(body["mask"], json::parse(R"({"image_url": "https://cdn.example.com/mask.png"})"));
  EXPECT_FALSE(body.contains("n"));
  ExpectImagesResponseMatches(response, ParseJson(fixture.body));
}

// ---------------------------------------------------------------------------------------
// Failures: the shared table, for both RPCs (edits both as a form and as JSON).

RpcUnderTest GenerateImagesRpc(v1::GenerateImagesRequest request) {
  return {"GenerateImages", kGenerationsPath, false,
          [request](std::shared_ptr<grpc::Channel> channel, grpc::ClientContext& context) {
            v1::ImagesResponse response;
            return RpcOutcome{
                v1::ImagesService::NewStub(channel)->GenerateImages(&context, request, &response),
                0};
          }};
}

RpcUnderTest EditImageRpc(std::string name, v1::EditImageRequest request) {
  return {std::move(name), kEditsPath, false,
          [request](std::shared_ptr<grpc::Channel> channel, grpc::ClientContext& context) {
            v1::ImagesResponse response;
            return RpcOutcome{
                v1::ImagesService::NewStub(channel)->EditImage(&context, request, &response), 0};
          }};
}

std::vector<RpcUnderTest> ImagesRpcs() {
  v1::EditImageRequest with_urls;
  with_urls.set_model("gpt-image-1");
  with_urls.set_prompt("Add a hat");
  with_urls.add_images()->set_url("https://cdn.example.com/cat.png");
  return {GenerateImagesRpc(GenerateRequest("gpt-image-1", "a cat")),
          EditImageRpc("EditImageMultipart", EditRequestWithBytes(ImageBytes(PngMagic(), 512, 9))),
          EditImageRpc("EditImageJson", with_urls)};
}

class ImagesUpstreamFailureTest
    : public ImagesIntegrationTest,
      public ::testing::WithParamInterface<std::tuple<RpcUnderTest, UpstreamFailure>> {};

TEST_P(ImagesUpstreamFailureTest, MapsToTheDocumentedStatus) {
  RunUpstreamFailure(*upstream_, *gengate_, std::get<0>(GetParam()), std::get<1>(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(AllFailures, ImagesUpstreamFailureTest,
                         ::testing::Combine(::testing::ValuesIn(ImagesRpcs()),
                                            ::testing::ValuesIn(UpstreamFailures())),
                         FailureCaseName);

using ImagesUnreachableTest = UnreachableUpstreamTest;

TEST_P(ImagesUnreachableTest, ConnectionRefusedIsUnavailable) { ExpectUnavailable(); }

INSTANTIATE_TEST_SUITE_P(AllRpcs, ImagesUnreachableTest, ::testing::ValuesIn(ImagesRpcs()),
                         RpcName);

using ImagesRequestLimitTest = SmallMessageLimitTest;

TEST_P(ImagesRequestLimitTest, OversizedRequestIsInvalidArgumentNamingTheLimit) {
  ExpectRefusedAsTooLarge();
}

std::vector<RpcUnderTest> OversizedImagesRpcs() {
  const size_t size = kSmallMessageLimit + (16 << 10);
  return {GenerateImagesRpc(GenerateRequest("gpt-image-1", std::string(size, 'p'))),
          EditImageRpc("EditImageMultipart",
                       EditRequestWithBytes(ImageBytes(PngMagic(), size, 4)))};
}

INSTANTIATE_TEST_SUITE_P(AllRpcs, ImagesRequestLimitTest,
                         ::testing::ValuesIn(OversizedImagesRpcs()), RpcName);

// Answers over what the gateway may send: --max_message_bytes bounds the reply too.
class ImagesAnswerLimitTest : public GatewayTestBase,
                              public ::testing::WithParamInterface<size_t> {
 protected:
  static void SetUpTestSuite() {
    StartGengate({absl::StrCat("--max_message_bytes=", kSmallMessageLimit)},
                 {{"GENGATE_UPSTREAM_API_KEY", kApiKey}});
  }
};

TEST_P(ImagesAnswerLimitTest, AnswerOverTheLimitIsResourceExhausted) {
  const std::string answer =
      absl::StrCat(R"({"created":1,"data":[{"b64_json":")",
                   absl::Base64Escape(ImageBytes(PngMagic(), GetParam(), 11)), R"("}]})");
  upstream_->Handle(kGenerationsPath, [answer](const RecordedRequest&, Responder& responder) {
    responder.Reply(200, {{"Content-Type", "application/json"}}, answer);
  });
  auto stub = v1::ImagesService::NewStub(LargeMessageChannel());
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  const std::string request_id = absl::StrCat("images-answer-limit-", GetParam());
  context.AddMetadata("x-request-id", request_id);
  v1::ImagesResponse response;

  grpc::Status status =
      stub->GenerateImages(&context, GenerateRequest("gpt-image-1", "a cat"), &response);

  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << Describe(status);
  EXPECT_THAT(status.error_message(), HasSubstr("bytes"));
  EXPECT_EQ(response.data_size(), 0);
  // The gateway's own record of the call says what the caller got.
  std::optional<json> line = CallLogLine(request_id);
  ASSERT_TRUE(line.has_value()) << gengate_->OutputText();
  EXPECT_EQ(JsonString(*line, "code"), "RESOURCE_EXHAUSTED") << line->dump();
}

// The decoded image over the limit though its base64 is under twice it, and both over.
INSTANTIATE_TEST_SUITE_P(DecodedAndEncoded, ImagesAnswerLimitTest,
                         ::testing::Values(kSmallMessageLimit + (16 << 10),
                                           3 * kSmallMessageLimit),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return absl::StrCat("Image", info.param, "Bytes");
                         });

// ---------------------------------------------------------------------------------------
// Validation: the upstream is never called.

class ImagesValidationTest : public ImagesIntegrationTest,
                             public ::testing::WithParamInterface<RpcUnderTest> {};

TEST_P(ImagesValidationTest, RejectsTheRequestWithoutCallingTheUpstream) {
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));

  RpcOutcome outcome = GetParam().call(gengate_->channel(), context);

  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << Describe(outcome.status);
  EXPECT_FALSE(outcome.status.error_message().empty());
  EXPECT_TRUE(upstream_->requests().empty()) << "the upstream was called";
}

std::vector<RpcUnderTest> InvalidImagesRequests() {
  v1::EditImageRequest no_images = EditRequestWithBytes("x");
  no_images.clear_images();
  v1::EditImageRequest mixed = EditRequestWithBytes(ImageBytes(PngMagic(), 64, 5));
  mixed.add_images()->set_url("https://cdn.example.com/cat.png");
  v1::EditImageRequest too_many = EditRequestWithBytes(ImageBytes(PngMagic(), 64, 6));
  for (int i = 0; i < 16; ++i) *too_many.add_images() = too_many.images(0);
  v1::GenerateImagesRequest no_prompt = GenerateRequest("gpt-image-1", "");
  v1::GenerateImagesRequest bad_n = GenerateRequest("gpt-image-1", "a cat");
  bad_n.set_n(0);
  std::vector<RpcUnderTest> rpcs = {
      GenerateImagesRpc(GenerateRequest("", "a cat")), GenerateImagesRpc(no_prompt),
      GenerateImagesRpc(bad_n), EditImageRpc("", no_images), EditImageRpc("", mixed),
      EditImageRpc("", too_many)};
  const char* names[] = {"GenerateNoModel", "GenerateNoPrompt", "GenerateZeroImages",
                         "EditNoImages", "EditBytesAndUrlsMixed", "EditSeventeenImages"};
  for (size_t i = 0; i < rpcs.size(); ++i) rpcs[i].name = names[i];
  return rpcs;
}

INSTANTIATE_TEST_SUITE_P(BadRequests, ImagesValidationTest,
                         ::testing::ValuesIn(InvalidImagesRequests()), RpcName);

}  // namespace
}  // namespace gengate::integration
