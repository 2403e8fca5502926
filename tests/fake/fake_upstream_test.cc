// The fake upstream over real sockets: every endpoint unary and streamed, checked against the
// shapes of OpenAI's answers, with an httplib::Client on 127.0.0.1 standing in for gengate.
#include "fake/fake_upstream.h"

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "fake/answer_parts.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"

namespace gengate::fake {
namespace {

using ::nlohmann::json;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;

// ---------------------------------------------------------------------------------------------
// HTTP and SSE as the test sees them.

struct Exchange {
  int status = 0;
  httplib::Headers headers;
  std::string body;
  std::vector<std::string> pieces;  // the body as the client read it, chunk by chunk

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct SseEvent {
  std::string type;  // the `event:` line, empty when there is none
  std::string data;
};

// Splits a whole SSE body on blank lines; the fake writes one `data:` line per event.
std::vector<SseEvent> ParseSse(absl::string_view body) {
  EXPECT_TRUE(absl::EndsWith(body, "\n\n")) << "stream does not end with a blank line";
  std::vector<SseEvent> events;
  for (absl::string_view block : absl::StrSplit(body, "\n\n", absl::SkipEmpty())) {
    SseEvent event;
    for (absl::string_view line : absl::StrSplit(block, '\n')) {
      if (absl::ConsumePrefix(&line, "event: ")) {
        event.type = std::string(line);
      } else if (absl::ConsumePrefix(&line, "data: ")) {
        event.data = std::string(line);
      } else {
        ADD_FAILURE() << "unexpected SSE line: " << line;
      }
    }
    events.push_back(std::move(event));
  }
  return events;
}

json ParseJson(const std::string& text) {
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << text;
  return parsed;
}

// The data of every event but a final [DONE], parsed.
std::vector<json> DataOf(const std::vector<SseEvent>& events) {
  std::vector<json> data;
  for (const SseEvent& event : events) {
    if (event.data != "[DONE]") data.push_back(ParseJson(event.data));
  }
  return data;
}

// Each event must reach the client as its own HTTP chunk: no piece it read ends one event and
// starts the next.
void ExpectOneEventPerChunk(const Exchange& exchange, size_t event_count) {
  EXPECT_GE(exchange.pieces.size(), event_count);
  for (const std::string& piece : exchange.pieces) {
    const size_t boundary = piece.find("\n\n");
    EXPECT_TRUE(boundary == std::string::npos || boundary + 2 == piece.size())
        << "one chunk holds more than one event: " << piece;
  }
}

// ---------------------------------------------------------------------------------------------
// A PNG reader strict enough to catch a broken encoder: signature, chunk CRCs, IHDR, the zlib
// header and Adler-32, and the stored deflate blocks the fake writes (nothing else).

struct DecodedPng {
  uint32_t width = 0;
  uint32_t height = 0;
  std::string rgba;  // the pixels, rows without their filter bytes
};

// Bit by bit, unlike the encoder's table, so that the two do not share a mistake.
uint32_t BitwiseCrc32(absl::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t Adler32(absl::string_view bytes) {
  uint32_t a = 1;
  uint32_t b = 0;
  for (unsigned char byte : bytes) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}

uint32_t BigEndian32(absl::string_view bytes, size_t at) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[at + i]);
  return value;
}

uint16_t LittleEndian16(absl::string_view bytes, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(bytes[at]) |
                               (static_cast<unsigned char>(bytes[at + 1]) << 8));
}

absl::StatusOr<std::string> InflateStoredZlib(absl::string_view zlib) {
  if (zlib.size() < 2 + 5 + 4) return absl::InvalidArgumentError("zlib stream too short");
  const auto cmf = static_cast<unsigned char>(zlib[0]);
  const auto flg = static_cast<unsigned char>(zlib[1]);
  if ((cmf & 0x0F) != 8 || (cmf * 256 + flg) % 31 != 0 || (flg & 0x20) != 0) {
    return absl::InvalidArgumentError("bad zlib header");
  }
  std::string raw;
  size_t at = 2;
  for (bool final_block = false; !final_block;) {
    if (at + 5 > zlib.size()) return absl::InvalidArgumentError("truncated deflate block");
    const auto header = static_cast<unsigned char>(zlib[at]);
    if (((header >> 1) & 3) != 0) return absl::InvalidArgumentError("not a stored block");
    final_block = (header & 1) != 0;
    const uint16_t length = LittleEndian16(zlib, at + 1);
    const uint16_t complement = LittleEndian16(zlib, at + 3);
    if (static_cast<uint16_t>(~length) != complement) {
      return absl::InvalidArgumentError("LEN and NLEN disagree");
    }
    at += 5;
    if (at + length > zlib.size()) return absl::InvalidArgumentError("truncated stored data");
    raw.append(zlib.data() + at, length);
    at += length;
  }
  if (at + 4 != zlib.size()) return absl::InvalidArgumentError("bytes after the deflate data");
  if (BigEndian32(zlib, at) != Adler32(raw)) return absl::InvalidArgumentError("bad Adler-32");
  return raw;
}

absl::StatusOr<DecodedPng> DecodePng(absl::string_view png) {
  if (!absl::StartsWith(png, "\x89PNG\r\n\x1a\n")) return absl::InvalidArgumentError("signature");
  std::string header;
  std::string zlib;
  size_t at = 8;
  bool ended = false;
  while (!ended) {
    if (at + 12 > png.size()) return absl::InvalidArgumentError("truncated chunk");
    const uint32_t length = BigEndian32(png, at);
    if (at + 12 + length > png.size()) return absl::InvalidArgumentError("truncated chunk data");
    const absl::string_view type_and_data = png.substr(at + 4, 4 + length);
    if (BigEndian32(png, at + 8 + length) != BitwiseCrc32(type_and_data)) {
      return absl::InvalidArgumentError(absl::StrCat("bad CRC in ", type_and_data.substr(0, 4)));
    }
    const absl::string_view type = type_and_data.substr(0, 4);
    const absl::string_view data = type_and_data.substr(4);
    if (type == "IHDR") header = std::string(data);
    if (type == "IDAT") zlib.append(data.data(), data.size());
    ended = type == "IEND";
    at += 12 + length;
  }
  if (at != png.size()) return absl::InvalidArgumentError("bytes after IEND");
  if (header.size() != 13) return absl::InvalidArgumentError("IHDR is not 13 bytes");
  DecodedPng decoded;
  decoded.width = BigEndian32(header, 0);
  decoded.height = BigEndian32(header, 4);
  if (header.substr(8) != std::string("\x08\x06\x00\x00\x00", 5)) {
    return absl::InvalidArgumentError("not 8-bit RGBA, deflate, no filter method, no interlace");
  }
  absl::StatusOr<std::string> scanlines = InflateStoredZlib(zlib);
  if (!scanlines.ok()) return scanlines.status();
  const size_t row_bytes = 1 + size_t{4} * decoded.width;
  if (scanlines->size() != row_bytes * decoded.height) {
    return absl::InvalidArgumentError("image data does not match the IHDR size");
  }
  for (size_t row = 0; row < decoded.height; ++row) {
    if ((*scanlines)[row * row_bytes] != 0) return absl::InvalidArgumentError("unknown filter");
    decoded.rgba.append(scanlines->substr(row * row_bytes + 1, row_bytes - 1));
  }
  return decoded;
}

std::vector<float> LittleEndianFloats(absl::string_view bytes) {
  std::vector<float> floats;
  for (size_t at = 0; at + 4 <= bytes.size(); at += 4) {
    uint32_t bits = 0;
    for (int i = 3; i >= 0; --i) bits = (bits << 8) | static_cast<unsigned char>(bytes[at + i]);
    floats.push_back(std::bit_cast<float>(bits));
  }
  return floats;
}

double Norm(const std::vector<float>& vector) {
  double sum = 0;
  for (float value : vector) sum += static_cast<double>(value) * value;
  return std::sqrt(sum);
}

// ---------------------------------------------------------------------------------------------
// One fake upstream for the whole suite, as gengate keeps one for its lifetime.

class FakeUpstreamTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<FakeUpstream>> started = FakeUpstream::Start("127.0.0.1", 0);
    ASSERT_TRUE(started.ok()) << started.status();
    upstream_ = *std::move(started);
  }
  static void TearDownTestSuite() { upstream_.reset(); }

  static Exchange Post(const std::string& path, const std::string& body,
                       const httplib::Headers& headers = {},
                       const std::string& content_type = "application/json") {
    httplib::Client client("127.0.0.1", upstream_->port());
    client.set_read_timeout(30);
    httplib::Request request;
    request.method = "POST";
    request.path = path;
    request.headers = headers;
    request.body = body;
    request.set_header("Content-Type", content_type);
    Exchange exchange;
    request.content_receiver = [&exchange](const char* data, size_t size, uint64_t, uint64_t) {
      exchange.pieces.emplace_back(data, size);
      return true;
    };
    httplib::Result result = client.send(request);
    EXPECT_TRUE(result) << "POST " << path << ": " << httplib::to_string(result.error());
    if (!result) return exchange;
    exchange.status = result->status;
    exchange.headers = result->headers;
    exchange.body = absl::StrJoin(exchange.pieces, "");
    return exchange;
  }

  static Exchange PostJson(const std::string& path, const json& body,
                           const httplib::Headers& headers = {}) {
    return Post(path, body.dump(), headers);
  }

  // POSTs `body`, expects 200 with JSON and returns it.
  static json Ok(const std::string& path, const json& body) {
    Exchange exchange = PostJson(path, body);
    EXPECT_EQ(exchange.status, 200) << exchange.body;
    EXPECT_THAT(exchange.Header("Content-Type"), StartsWith("application/json"));
    return ParseJson(exchange.body);
  }

  // POSTs `body` as a stream, expects 200 with SSE written one event per chunk.
  static std::vector<SseEvent> Stream(const std::string& path, const json& body) {
    Exchange exchange = PostJson(path, body);
    EXPECT_EQ(exchange.status, 200) << exchange.body;
    EXPECT_THAT(exchange.Header("Content-Type"), StartsWith("text/event-stream"));
    std::vector<SseEvent> events = ParseSse(exchange.body);
    ExpectOneEventPerChunk(exchange, events.size());
    return events;
  }

  static inline std::unique_ptr<FakeUpstream> upstream_;
};

json UserChat(std::string text) {
  return {{"model", "gpt-4o-mini"},
          {"messages", json::array({{{"role", "user"}, {"content", std::move(text)}}})}};
}

json WeatherTool() {
  return json::array({{{"type", "function"},
                       {"function",
                        {{"name", "get_weather"},
                         {"description", "Current weather"},
                         {"parameters",
                          {{"type", "object"},
                           {"properties", {{"location", {{"type", "string"}}}}},
                           {"required", json::array({"location"})}}}}}}});
}

// ---------------------------------------------------------------------------------------------
// Starting and stopping.

TEST(FakeUpstreamStartTest, PicksAFreePortAndReportsItsBaseUrl) {
  absl::StatusOr<std::unique_ptr<FakeUpstream>> upstream = FakeUpstream::Start("127.0.0.1", 0);
  ASSERT_TRUE(upstream.ok()) << upstream.status();
  EXPECT_GT((*upstream)->port(), 0);
  EXPECT_EQ((*upstream)->base_url(), absl::StrCat("http://127.0.0.1:", (*upstream)->port()));
}

TEST(FakeUpstreamStartTest, FailsOnAPortInUse) {
  absl::StatusOr<std::unique_ptr<FakeUpstream>> first = FakeUpstream::Start("127.0.0.1", 0);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<FakeUpstream>> second =
      FakeUpstream::Start("127.0.0.1", (*first)->port());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

TEST(FakeUpstreamStartTest, RejectsAPortOutOfRange) {
  for (int port : {-1, 65536}) {
    EXPECT_EQ(FakeUpstream::Start("127.0.0.1", port).status().code(),
              absl::StatusCode::kInvalidArgument)
        << port;
  }
}

TEST(FakeUpstreamStartTest, StopsServingWhenDestroyedEvenWithAKeepAliveConnectionOpen) {
  absl::StatusOr<std::unique_ptr<FakeUpstream>> upstream = FakeUpstream::Start("127.0.0.1", 0);
  ASSERT_TRUE(upstream.ok()) << upstream.status();
  const int port = (*upstream)->port();
  httplib::Client kept_alive("127.0.0.1", port);
  kept_alive.set_keep_alive(true);
  httplib::Result answered =
      kept_alive.Post("/embeddings", R"({"model":"m","input":"x"})", "application/json");
  ASSERT_TRUE(answered);
  EXPECT_EQ(answered->status, 200);

  // httplib's default would wait out the idle connection's 5 s keep-alive timeout here.
  const auto stop_started = std::chrono::steady_clock::now();
  upstream->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, std::chrono::seconds(3));

  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(5);
  EXPECT_FALSE(after.Post("/embeddings", R"({"model":"m","input":"x"})", "application/json"));
}

// ---------------------------------------------------------------------------------------------
// Chat completions.

struct ChatEchoCase {
  std::string name;
  json messages;
  std::string content;
  int prompt_tokens;
};

// "w0 w1 ... w<count-1>".
std::string LongText(std::size_t count) {
  std::string text;
  for (std::size_t i = 0; i < count; ++i) absl::StrAppend(&text, i > 0 ? " " : "", "w", i);
  return text;
}

TEST_F(FakeUpstreamTest, ChatEchoesTheLastUserMessage) {
  const std::vector<ChatEchoCase> cases = {
      {"string content",
       json::array({{{"role", "system"}, {"content", "Be brief"}},
                    {{"role", "user"}, {"content", "hello there"}}}),
       "Echo: hello there", 4},
      {"text and image parts",
       json::array(
           {{{"role", "user"},
             {"content",
              json::array(
                  {{{"type", "text"}, {"text", "what is"}},
                   {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AAAA"}}}},
                   {{"type", "text"}, {"text", "this"}},
                   {{"type", "image_url"}, {"image_url", {{"url", "https://x.test/a.png"}}}}})}}}),
       "Echo: what is this (2 images)", 3},
      {"several turns",
       json::array({{{"role", "user"}, {"content", "first"}},
                    {{"role", "assistant"}, {"content", "Echo: first"}},
                    {{"role", "user"}, {"content", "second"}}}),
       "Echo: second", 4},
      // Long texts are echoed up to kMaxEchoWords words (a stream is built whole, a word an
      // event); exactly that many are echoed whole.
      {"a text past the echo limit",
       json::array({{{"role", "user"}, {"content", LongText(kMaxEchoWords + 500) + "  "}}}),
       "Echo: " + LongText(kMaxEchoWords) + " ...", static_cast<int>(kMaxEchoWords) + 500},
      {"a text at the echo limit",
       json::array({{{"role", "user"}, {"content", LongText(kMaxEchoWords)}}}),
       "Echo: " + LongText(kMaxEchoWords), static_cast<int>(kMaxEchoWords)},
  };
  for (const ChatEchoCase& c : cases) {
    SCOPED_TRACE(c.name);
    json answer = Ok("/chat/completions", {{"model", "gpt-4o-mini"}, {"messages", c.messages}});
    EXPECT_EQ(answer["object"], "chat.completion");
    EXPECT_THAT(answer["id"].get<std::string>(), StartsWith("chatcmpl-fake-"));
    EXPECT_EQ(answer["model"], "gpt-4o-mini");
    EXPECT_TRUE(answer["created"].is_number_integer());
    ASSERT_THAT(answer["choices"], SizeIs(1));
    const json& choice = answer["choices"][0];
    EXPECT_EQ(choice["index"], 0);
    EXPECT_EQ(choice["message"]["role"], "assistant");
    EXPECT_EQ(choice["message"]["content"], c.content);
    EXPECT_EQ(choice["finish_reason"], "stop");
    const json& usage = answer["usage"];
    const std::vector<absl::string_view> words = absl::StrSplit(c.content, ' ');
    const int completion_tokens = static_cast<int>(words.size());
    EXPECT_EQ(usage["prompt_tokens"], c.prompt_tokens);
    EXPECT_EQ(usage["completion_tokens"], completion_tokens);
    EXPECT_EQ(usage["total_tokens"], c.prompt_tokens + completion_tokens);
  }
}

TEST_F(FakeUpstreamTest, ServesEveryEndpointUnderAV1PrefixToo) {
  const std::vector<std::pair<std::string, json>> requests = {
      {"/chat/completions", UserChat("hi")},
      {"/responses", {{"model", "gpt-4o"}, {"input", "hi"}}},
      {"/images/generations", {{"model", "gpt-image-1"}, {"prompt", "a cat"}}},
      {"/images/edits",
       {{"model", "gpt-image-1"}, {"prompt", "a cat"}, {"image", "https://x/a.png"}}},
      {"/embeddings", {{"model", "text-embedding-3-small"}, {"input", "hi"}}},
  };
  for (const auto& [path, body] : requests) {
    SCOPED_TRACE(path);
    Exchange bare = PostJson(path, body);
    Exchange prefixed = PostJson(absl::StrCat("/v1", path), body);
    EXPECT_EQ(bare.status, 200) << bare.body;
    EXPECT_EQ(prefixed.status, 200);
    EXPECT_EQ(prefixed.body, bare.body);
  }
}

TEST_F(FakeUpstreamTest, ChatStreamsWordSizedChunksThenUsageThenDone) {
  json request = UserChat("tell me a short story");
  request["stream"] = true;
  request["stream_options"] = {{"include_usage", true}};
  const std::vector<SseEvent> events = Stream("/chat/completions", request);
  ASSERT_GE(events.size(), 5u);
  EXPECT_EQ(events.back().data, "[DONE]");
  const std::vector<json> chunks = DataOf(events);
  ASSERT_EQ(chunks.size(), events.size() - 1);

  for (const json& chunk : chunks) {
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["id"], chunks.front()["id"]);
    EXPECT_EQ(chunk["model"], "gpt-4o-mini");
    EXPECT_TRUE(chunk.contains("usage"));  // null until the last chunk, as with OpenAI
  }
  EXPECT_EQ(chunks.front()["choices"][0]["delta"]["role"], "assistant");

  std::string content;
  int content_chunks = 0;
  for (size_t i = 1; i + 2 < chunks.size(); ++i) {
    const json& delta = chunks[i]["choices"][0]["delta"];
    ASSERT_TRUE(delta["content"].is_string()) << chunks[i];
    EXPECT_TRUE(chunks[i]["choices"][0]["finish_reason"].is_null());
    content += delta["content"].get<std::string>();
    ++content_chunks;
  }
  EXPECT_EQ(content, "Echo: tell me a short story");
  EXPECT_EQ(content_chunks, 6);  // one per word

  const json& finish = chunks[chunks.size() - 2];
  EXPECT_EQ(finish["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(finish["choices"][0]["delta"], json::object());

  const json& usage_chunk = chunks.back();
  EXPECT_EQ(usage_chunk["choices"], json::array());
  EXPECT_EQ(usage_chunk["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], 6);
  EXPECT_EQ(usage_chunk["usage"]["total_tokens"], 11);

  // The stream says what the unary answer says.
  json unary = Ok("/chat/completions", UserChat("tell me a short story"));
  EXPECT_EQ(unary["choices"][0]["message"]["content"], content);
}

TEST_F(FakeUpstreamTest, ChatStreamWithoutIncludeUsageEndsWithFinishThenDone) {
  json request = UserChat("hello world");
  request["stream"] = true;
  const std::vector<SseEvent> events = Stream("/chat/completions", request);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back().data, "[DONE]");
  const std::vector<json> chunks = DataOf(events);
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "stop");
  for (const json& chunk : chunks) {
    EXPECT_FALSE(chunk.contains("usage")) << chunk;
    EXPECT_THAT(chunk["choices"], SizeIs(1));
  }
}

TEST_F(FakeUpstreamTest, ChatStreamsAToolCallForAWeatherQuestion) {
  json request = UserChat("What's the weather in Berlin?");
  request["tools"] = WeatherTool();
  request["stream"] = true;
  const std::vector<SseEvent> events = Stream("/chat/completions", request);
  EXPECT_EQ(events.back().data, "[DONE]");
  const std::vector<json> chunks = DataOf(events);
  ASSERT_GE(chunks.size(), 4u);

  const json& opening = chunks.front()["choices"][0]["delta"];
  EXPECT_EQ(opening["role"], "assistant");
  EXPECT_TRUE(opening["content"].is_null());
  ASSERT_THAT(opening["tool_calls"], SizeIs(1));
  const json& call = opening["tool_calls"][0];
  EXPECT_EQ(call["index"], 0);
  EXPECT_THAT(call["id"].get<std::string>(), StartsWith("call_"));
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(call["function"]["arguments"], "");

  std::string arguments;
  int argument_chunks = 0;
  for (size_t i = 1; i + 1 < chunks.size(); ++i) {
    const json& delta = chunks[i]["choices"][0]["delta"];
    EXPECT_FALSE(delta.contains("content")) << delta;
    ASSERT_THAT(delta["tool_calls"], SizeIs(1)) << delta;
    EXPECT_EQ(delta["tool_calls"][0]["index"], 0);
    EXPECT_FALSE(delta["tool_calls"][0].contains("id"));
    arguments += delta["tool_calls"][0]["function"]["arguments"].get<std::string>();
    ++argument_chunks;
  }
  EXPECT_GE(argument_chunks, 3);
  EXPECT_EQ(ParseJson(arguments), json({{"location", "Berlin"}}));
  EXPECT_EQ(chunks.back()["choices"][0]["finish_reason"], "tool_calls");
}

TEST_F(FakeUpstreamTest, ChatCallsTheFirstToolWhenToolChoiceIsRequired) {
  json request = UserChat("hi");
  request["tools"] = json::array(
      {{{"type", "function"},
        {"function",
         {{"name", "lookup"},
          {"parameters",
           {{"type", "object"},
            {"properties", {{"city", {{"type", "string"}}}, {"query", {{"type", "string"}}}}},
            {"required", json::array({"query"})}}}}}},
       WeatherTool()[0]});
  request["tool_choice"] = "required";
  json answer = Ok("/chat/completions", request);
  const json& choice = answer["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  ASSERT_THAT(choice["message"]["tool_calls"], SizeIs(1));
  const json& call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "lookup");
  EXPECT_EQ(ParseJson(call["function"]["arguments"].get<std::string>()), json({{"query", "hi"}}));
}

TEST_F(FakeUpstreamTest, ChatAnswersWithTextWhenNoToolCallIsWanted) {
  json none = UserChat("weather in Rome?");
  none["tools"] = WeatherTool();
  none["tool_choice"] = "none";

  json after_tool_result = {
      {"model", "gpt-4o-mini"},
      {"tools", WeatherTool()},
      {"messages",
       json::array(
           {{{"role", "user"}, {"content", "weather in Rome?"}},
            {{"role", "assistant"},
             {"content", nullptr},
             {"tool_calls", json::array({{{"id", "call_1"},
                                          {"type", "function"},
                                          {"function",
                                           {{"name", "get_weather"},
                                            {"arguments", R"({"location":"Rome"})"}}}}})}},
            {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "sunny weather"}}})}};

  for (const json& request : {none, after_tool_result}) {
    json answer = Ok("/chat/completions", request);
    EXPECT_EQ(answer["choices"][0]["finish_reason"], "stop") << answer;
    EXPECT_EQ(answer["choices"][0]["message"]["content"], "Echo: weather in Rome?");
    EXPECT_FALSE(answer["choices"][0]["message"].contains("tool_calls"));
  }
}

TEST_F(FakeUpstreamTest, ChatStopsAtMaxTokensWithFinishReasonLength) {
  json request = UserChat("one two three four");
  request["max_tokens"] = 2;
  json answer = Ok("/chat/completions", request);
  EXPECT_EQ(answer["choices"][0]["message"]["content"], "Echo: one");
  EXPECT_EQ(answer["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(answer["usage"]["completion_tokens"], 2);
}

TEST_F(FakeUpstreamTest, ChatAnswersWithJsonWhenStructuredOutputIsAsked) {
  for (const char* type : {"json_object", "json_schema"}) {
    json request = UserChat("list three colours");
    request["response_format"] = {{"type", type}};
    json answer = Ok("/chat/completions", request);
    EXPECT_EQ(ParseJson(answer["choices"][0]["message"]["content"].get<std::string>()),
              json({{"echo", "Echo: list three colours"}}))
        << type;
  }
}

TEST_F(FakeUpstreamTest, ChatAnswersNChoices) {
  json request = UserChat("hi");
  request["n"] = 3;
  json answer = Ok("/chat/completions", request);
  ASSERT_THAT(answer["choices"], SizeIs(3));
  for (int index = 0; index < 3; ++index) {
    EXPECT_EQ(answer["choices"][index]["index"], index);
    EXPECT_EQ(answer["choices"][index]["message"]["content"], "Echo: hi");
  }
}

// ---------------------------------------------------------------------------------------------
// Responses.

TEST_F(FakeUpstreamTest, ResponsesAnswersWithACompletedResponse) {
  const std::vector<std::pair<json, std::string>> cases = {
      {"say hi", "Echo: say hi"},
      {json::array({{{"role", "user"},
                     {"content", json::array({{{"type", "input_text"}, {"text", "describe"}},
                                              {{"type", "input_image"},
                                               {"image_url", "https://x.test/a.png"}}})}}}),
       "Echo: describe (1 image)"},
  };
  for (const auto& [input, text] : cases) {
    SCOPED_TRACE(input.dump());
    json answer = Ok("/responses", {{"model", "gpt-4o"}, {"input", input}});
    EXPECT_EQ(answer["object"], "response");
    EXPECT_THAT(answer["id"].get<std::string>(), StartsWith("resp_"));
    EXPECT_EQ(answer["status"], "completed");
    EXPECT_EQ(answer["model"], "gpt-4o");
    EXPECT_TRUE(answer["created_at"].is_number_integer());
    ASSERT_THAT(answer["output"], SizeIs(1));
    const json& item = answer["output"][0];
    EXPECT_EQ(item["type"], "message");
    EXPECT_EQ(item["role"], "assistant");
    EXPECT_EQ(item["status"], "completed");
    ASSERT_THAT(item["content"], SizeIs(1));
    EXPECT_EQ(item["content"][0]["type"], "output_text");
    EXPECT_EQ(item["content"][0]["text"], text);
    const json& usage = answer["usage"];
    EXPECT_GT(usage["input_tokens"].get<int>(), 0);
    EXPECT_GT(usage["output_tokens"].get<int>(), 0);
    EXPECT_EQ(usage["total_tokens"].get<int>(),
              usage["input_tokens"].get<int>() + usage["output_tokens"].get<int>());
  }
}

TEST_F(FakeUpstreamTest, ResponsesIsIncompleteAtMaxOutputTokens) {
  json answer =
      Ok("/responses", {{"model", "gpt-4o"}, {"input", "a b c d"}, {"max_output_tokens", 2}});
  EXPECT_EQ(answer["status"], "incomplete");
  EXPECT_EQ(answer["incomplete_details"]["reason"], "max_output_tokens");
  EXPECT_EQ(answer["output"][0]["content"][0]["text"], "Echo: a");
}

TEST_F(FakeUpstreamTest, ResponsesStreamsTypedEventsInOrder) {
  const std::vector<SseEvent> events =
      Stream("/responses", {{"model", "gpt-4o"}, {"input", "count to three"}, {"stream", true}});
  std::vector<std::string> types;
  for (const SseEvent& event : events) types.push_back(event.type);
  EXPECT_THAT(types, ElementsAreArray<std::string>(
                         {"response.created", "response.in_progress", "response.output_item.added",
                          "response.content_part.added", "response.output_text.delta",
                          "response.output_text.delta", "response.output_text.delta",
                          "response.output_text.delta", "response.output_text.done",
                          "response.content_part.done", "response.output_item.done",
                          "response.completed"}));

  const std::vector<json> data = DataOf(events);
  ASSERT_EQ(data.size(), events.size());  // no [DONE] on the Responses API
  std::string deltas;
  for (size_t i = 0; i < data.size(); ++i) {
    EXPECT_EQ(data[i]["type"], events[i].type);
    EXPECT_EQ(data[i]["sequence_number"], i);
    if (events[i].type == "response.output_text.delta") {
      deltas += data[i]["delta"].get<std::string>();
    }
  }
  EXPECT_EQ(deltas, "Echo: count to three");
  EXPECT_EQ(data[0]["response"]["status"], "in_progress");
  EXPECT_EQ(data[8]["text"], deltas);
  const json& completed = data.back()["response"];
  EXPECT_EQ(completed["object"], "response");
  EXPECT_EQ(completed["status"], "completed");
  EXPECT_EQ(completed["output"][0]["content"][0]["text"], deltas);
  EXPECT_EQ(completed["output"][0]["id"], data[2]["item"]["id"]);
  EXPECT_EQ(completed["usage"]["output_tokens"], 4);
}

TEST_F(FakeUpstreamTest, ResponsesStreamsAFunctionCallForAWeatherQuestion) {
  json tools =
      json::array({{{"type", "function"},
                    {"name", "get_weather"},
                    {"parameters",
                     {{"type", "object"}, {"properties", {{"location", {{"type", "string"}}}}}}}}});
  const std::vector<SseEvent> events = Stream("/responses", {{"model", "gpt-4o"},
                                                             {"input", "weather in Paris, please"},
                                                             {"tools", tools},
                                                             {"stream", true}});
  const std::vector<json> data = DataOf(events);
  ASSERT_GE(data.size(), 6u);
  EXPECT_EQ(data[2]["type"], "response.output_item.added");
  EXPECT_EQ(data[2]["item"]["type"], "function_call");
  EXPECT_EQ(data[2]["item"]["name"], "get_weather");
  std::string arguments;
  for (const json& event : data) {
    if (event["type"] == "response.function_call_arguments.delta") {
      arguments += event["delta"].get<std::string>();
    }
  }
  EXPECT_EQ(ParseJson(arguments), json({{"location", "Paris"}}));
  const json& completed = data.back();
  EXPECT_EQ(completed["type"], "response.completed");
  EXPECT_EQ(completed["response"]["output"][0]["type"], "function_call");
  EXPECT_EQ(completed["response"]["output"][0]["arguments"], arguments);
  EXPECT_THAT(completed["response"]["output"][0]["call_id"].get<std::string>(),
              StartsWith("call_"));
}

// ---------------------------------------------------------------------------------------------
// Images.

TEST_F(FakeUpstreamTest, ImagesGenerateRealPngsAsBase64) {
  json answer =
      Ok("/images/generations", {{"model", "gpt-image-1"}, {"prompt", "a red fox"}, {"n", 2}});
  EXPECT_TRUE(answer["created"].is_number_integer());
  ASSERT_THAT(answer["data"], SizeIs(2));
  std::vector<std::string> first_pixels;
  for (const json& item : answer["data"]) {
    std::string png;
    ASSERT_TRUE(absl::Base64Unescape(item["b64_json"].get<std::string>(), &png));
    absl::StatusOr<DecodedPng> decoded = DecodePng(png);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->width, 8u);
    EXPECT_EQ(decoded->height, 8u);
    const std::string first_pixel = decoded->rgba.substr(0, 4);
    EXPECT_EQ(first_pixel[3], '\xff');  // opaque
    for (size_t at = 0; at < decoded->rgba.size(); at += 4) {
      ASSERT_EQ(decoded->rgba.substr(at, 4), first_pixel) << "pixel " << at / 4;
    }
    first_pixels.push_back(first_pixel);
  }
  EXPECT_NE(first_pixels[0], first_pixels[1]);  // each image has its own colour
  const json& usage = answer["usage"];
  EXPECT_EQ(usage["total_tokens"].get<int>(),
            usage["input_tokens"].get<int>() + usage["output_tokens"].get<int>());
  EXPECT_EQ(answer["output_format"], "png");
}

TEST_F(FakeUpstreamTest, ImagesGenerateUrlsForUrlFormatAndForDalle) {
  const std::vector<json> requests = {
      {{"model", "dall-e-3"}, {"prompt", "a siamese cat"}},
      {{"model", "gpt-image-1"}, {"prompt", "a siamese cat"}, {"response_format", "url"}},
  };
  for (const json& request : requests) {
    SCOPED_TRACE(request.dump());
    json answer = Ok("/images/generations", request);
    ASSERT_THAT(answer["data"], SizeIs(1));
    EXPECT_THAT(answer["data"][0]["url"].get<std::string>(),
                StartsWith("https://fake.gengate.local/images/"));
    EXPECT_FALSE(answer["data"][0].contains("b64_json"));
    EXPECT_THAT(answer["data"][0]["revised_prompt"].get<std::string>(), HasSubstr("a siamese cat"));
  }
  EXPECT_FALSE(Ok("/images/generations", requests[0]).contains("usage"));  // dall-e has none
}

TEST_F(FakeUpstreamTest, ImageEditsCountMultipartUploads) {
  httplib::Client client("127.0.0.1", upstream_->port());
  const std::string png_bytes("\x89PNG\r\n\x1a\nnot-really", 18);
  const httplib::MultipartFormDataItems items = {
      {"image[]", png_bytes, "first.png", "image/png"},
      {"image[]", png_bytes, "second.png", "image/png"},
      {"mask", png_bytes, "mask.png", "image/png"},
      {"prompt", "add a hat", "", ""},
      {"model", "gpt-image-1", "", ""},
      {"n", "1", "", ""},
  };
  httplib::Result result = client.Post("/images/edits", items);
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  ASSERT_EQ(result->status, 200) << result->body;
  json answer = ParseJson(result->body);
  ASSERT_THAT(answer["data"], SizeIs(1));
  EXPECT_THAT(answer["data"][0]["revised_prompt"].get<std::string>(),
              HasSubstr("2 images with a mask: add a hat"));
  std::string png;
  ASSERT_TRUE(absl::Base64Unescape(answer["data"][0]["b64_json"].get<std::string>(), &png));
  EXPECT_TRUE(DecodePng(png).ok());
}

TEST_F(FakeUpstreamTest, ImageEditsAcceptJsonWithImageUrls) {
  json answer = Ok("/images/edits", {{"model", "gpt-image-1"},
                                     {"prompt", "a gift basket"},
                                     {"image", json::array({"https://cdn.test/a.png"})}});
  ASSERT_THAT(answer["data"], SizeIs(1));
  EXPECT_THAT(answer["data"][0]["revised_prompt"].get<std::string>(),
              HasSubstr("1 image: a gift basket"));
}

// ---------------------------------------------------------------------------------------------
// Embeddings.

struct EmbeddingsCase {
  std::string name;
  json request;
  size_t count;
  size_t dimensions;
  int prompt_tokens;
};

TEST_F(FakeUpstreamTest, EmbeddingsAreUnitVectorsOfTheRequestedSize) {
  const std::vector<EmbeddingsCase> cases = {
      {"default size",
       {{"model", "text-embedding-3-small"}, {"input", "Ruby is great"}},
       1,
       1536,
       3},
      {"dimensions",
       {{"model", "text-embedding-3-small"}, {"input", "hello"}, {"dimensions", 256}},
       1,
       256,
       1},
      {"large model", {{"model", "text-embedding-3-large"}, {"input", "hello"}}, 1, 3072, 1},
      {"batch",
       {{"model", "text-embedding-3-small"},
        {"input", json::array({"one", "two words", "three more words"})},
        {"dimensions", 64}},
       3,
       64,
       6},
      {"token array",
       {{"model", "text-embedding-3-small"}, {"input", json::array({1, 2, 3})}, {"dimensions", 8}},
       1,
       8,
       3},
  };
  for (const EmbeddingsCase& c : cases) {
    SCOPED_TRACE(c.name);
    json answer = Ok("/embeddings", c.request);
    EXPECT_EQ(answer["object"], "list");
    EXPECT_EQ(answer["model"], c.request["model"]);
    ASSERT_THAT(answer["data"], SizeIs(c.count));
    for (size_t index = 0; index < c.count; ++index) {
      const json& item = answer["data"][index];
      EXPECT_EQ(item["object"], "embedding");
      EXPECT_EQ(item["index"], index);
      const std::vector<float> vector = item["embedding"].get<std::vector<float>>();
      EXPECT_EQ(vector.size(), c.dimensions);
      EXPECT_NEAR(Norm(vector), 1.0, 1e-4);
    }
    EXPECT_EQ(answer["usage"]["prompt_tokens"], c.prompt_tokens);
    EXPECT_EQ(answer["usage"]["total_tokens"], c.prompt_tokens);
  }
}

TEST_F(FakeUpstreamTest, EmbeddingsInBase64AreLittleEndianFloat32OfTheSameVector) {
  json request = {{"model", "text-embedding-3-small"}, {"input", "same text"}, {"dimensions", 768}};
  const std::vector<float> floats =
      Ok("/embeddings", request)["data"][0]["embedding"].get<std::vector<float>>();
  request["encoding_format"] = "base64";
  json answer = Ok("/embeddings", request);
  std::string bytes;
  ASSERT_TRUE(absl::Base64Unescape(answer["data"][0]["embedding"].get<std::string>(), &bytes));
  EXPECT_EQ(bytes.size(), 768u * 4);
  EXPECT_EQ(LittleEndianFloats(bytes), floats);
}

TEST_F(FakeUpstreamTest, EmbeddingsDependOnTheText) {
  json answer = Ok("/embeddings", {{"model", "text-embedding-3-small"},
                                   {"input", json::array({"cat", "dog", "cat"})},
                                   {"dimensions", 32}});
  ASSERT_THAT(answer["data"], SizeIs(3));
  EXPECT_NE(answer["data"][0]["embedding"], answer["data"][1]["embedding"]);
  EXPECT_EQ(answer["data"][0]["embedding"], answer["data"][2]["embedding"]);
}

// ---------------------------------------------------------------------------------------------
// Determinism, request ids, authorization.

TEST_F(FakeUpstreamTest, AnswersTheSameRequestWithTheSameBytes) {
  json chat_stream = UserChat("same again");
  chat_stream["stream"] = true;
  chat_stream["stream_options"] = {{"include_usage", true}};
  const std::vector<std::pair<std::string, json>> requests = {
      {"/chat/completions", UserChat("same again")},
      {"/chat/completions", chat_stream},
      {"/responses", {{"model", "gpt-4o"}, {"input", "same again"}}},
      {"/responses", {{"model", "gpt-4o"}, {"input", "same again"}, {"stream", true}}},
      {"/images/generations", {{"model", "gpt-image-1"}, {"prompt", "same again"}}},
      {"/images/edits",
       {{"model", "gpt-image-1"}, {"prompt", "same"}, {"image", "https://x/a.png"}}},
      {"/embeddings", {{"model", "text-embedding-3-small"}, {"input", "same again"}}},
  };
  for (const auto& [path, body] : requests) {
    SCOPED_TRACE(absl::StrCat(path, " ", body.dump()));
    Exchange first = PostJson(path, body);
    Exchange second = PostJson(path, body);
    EXPECT_EQ(first.status, 200) << first.body;
    EXPECT_FALSE(first.body.empty());
    EXPECT_EQ(first.body, second.body);
  }
}

TEST_F(FakeUpstreamTest, IgnoresAuthorization) {
  Exchange without = PostJson("/chat/completions", UserChat("hi"));
  Exchange with =
      PostJson("/chat/completions", UserChat("hi"), {{"Authorization", "Bearer sk-anything"}});
  EXPECT_EQ(without.status, 200);
  EXPECT_EQ(with.status, 200);
  EXPECT_EQ(with.body, without.body);
}

TEST_F(FakeUpstreamTest, EchoesTheCallersRequestIdOnEveryAnswer) {
  json failing = UserChat("hi");
  failing["model"] = "fake-error-500";
  for (const json& request : {UserChat("hi"), failing}) {
    Exchange exchange =
        PostJson("/chat/completions", request, {{"X-Request-Id", "req-from-caller-7"}});
    EXPECT_EQ(exchange.Header("x-request-id"), "req-from-caller-7") << exchange.status;
  }
}

TEST_F(FakeUpstreamTest, MakesARequestIdWhenNoneIsSent) {
  const std::string first = PostJson("/chat/completions", UserChat("hi")).Header("x-request-id");
  const std::string second = Post("/nowhere", "{}").Header("x-request-id");
  EXPECT_FALSE(first.empty());
  EXPECT_FALSE(second.empty());
  EXPECT_NE(first, second);
}

// ---------------------------------------------------------------------------------------------
// Errors, in OpenAI's envelope {"error": {"message", "type", "param", "code"}}.

void ExpectErrorEnvelope(const Exchange& exchange, int status, const std::string& code) {
  EXPECT_EQ(exchange.status, status) << exchange.body;
  EXPECT_THAT(exchange.Header("Content-Type"), StartsWith("application/json"));
  json body = ParseJson(exchange.body);
  ASSERT_TRUE(body["error"].is_object()) << exchange.body;
  const json& error = body["error"];
  EXPECT_TRUE(error["message"].is_string());
  EXPECT_FALSE(error["message"].get<std::string>().empty());
  EXPECT_TRUE(error["type"].is_string());
  EXPECT_TRUE(error.contains("param"));
  EXPECT_EQ(error["code"], code);
}

struct DemoErrorCase {
  std::string path;
  json request;
  int status;
  std::string code;
  std::string retry_after_ms;  // empty: no header
};

TEST_F(FakeUpstreamTest, FakeErrorModelsAnswerWithThatStatus) {
  json streamed = UserChat("hi");
  streamed["model"] = "fake-error-429";
  streamed["stream"] = true;
  const std::vector<DemoErrorCase> cases = {
      {"/chat/completions",
       {{"model", "fake-error-429"}, {"messages", json::array()}},
       429,
       "rate_limit_exceeded",
       "1000"},
      {"/chat/completions", streamed, 429, "rate_limit_exceeded", "1000"},
      {"/responses", {{"model", "fake-error-401"}, {"input", "hi"}}, 401, "invalid_api_key", ""},
      {"/images/generations",
       {{"model", "fake-error-503"}, {"prompt", "x"}},
       503,
       "service_unavailable",
       "1000"},
      {"/embeddings", {{"model", "fake-error-500"}, {"input", "x"}}, 500, "server_error", ""},
      {"/embeddings", {{"model", "fake-error-418"}, {"input", "x"}}, 418, "fake_error", ""},
  };
  for (const DemoErrorCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.path, " ", c.request.dump()));
    Exchange exchange = PostJson(c.path, c.request);
    ExpectErrorEnvelope(exchange, c.status, c.code);
    EXPECT_EQ(exchange.Header("retry-after-ms"), c.retry_after_ms);
  }
}

struct BadRequestCase {
  std::string path;
  std::string body;
  std::string code;
  std::string param;  // empty: param is null
};

// A chat request whose extra member "x" is an object of `members` numbers, and whose strings
// hold ':' and '{' that must not count.
std::string ChatWithMembers(int members) {
  std::string object;
  for (int i = 0; i < members; ++i) absl::StrAppend(&object, i > 0 ? "," : "", "\"k", i, "\":", i);
  return absl::StrCat(R"({"model":"m","messages":[{"role":"user","content":"a: {b: c"}],"x":{)",
                      object, "}}");
}

// Parsing into an ordered object costs a scan per member: past 1000 members in one object the
// fake answers 400 instead of spending seconds on it.
TEST_F(FakeUpstreamTest, ObjectsOfMoreThanAThousandMembersAreRefused) {
  EXPECT_EQ(Post("/chat/completions", ChatWithMembers(1000)).status, 200);
  Exchange refused = Post("/chat/completions", ChatWithMembers(1001));
  ExpectErrorEnvelope(refused, 400, "invalid_json");
  EXPECT_THAT(refused.body, HasSubstr("more than 1000 members"));
}

TEST_F(FakeUpstreamTest, BadRequestsGet400InTheErrorEnvelope) {
  const std::vector<BadRequestCase> cases = {
      {"/chat/completions", "", "invalid_json", ""},
      {"/chat/completions", "not json", "invalid_json", ""},
      {"/responses", "[1, 2]", "invalid_json", ""},
      {"/chat/completions", R"({"messages":[{"role":"user","content":"hi"}]})", "missing_model",
       "model"},
      {"/embeddings", R"({"model":"","input":"x"})", "missing_model", "model"},
      {"/chat/completions", R"({"model":"m"})", "missing_required_parameter", "messages"},
      {"/chat/completions", R"({"model":"m","n":0,"messages":[{"role":"user","content":"x"}]})",
       "invalid_value", "n"},
      {"/images/generations", R"({"model":"dall-e-3"})", "missing_required_parameter", "prompt"},
      {"/images/edits", R"({"model":"gpt-image-1","prompt":"x"})", "missing_required_parameter",
       "image"},
      {"/embeddings", R"({"model":"m"})", "missing_required_parameter", "input"},
      {"/embeddings", R"({"model":"m","input":"x","dimensions":0})", "invalid_value", "dimensions"},
      {"/embeddings", R"({"model":"m","input":"x","encoding_format":"hex"})", "invalid_value",
       "encoding_format"},
  };
  for (const BadRequestCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.path, " ", c.body));
    Exchange exchange = Post(c.path, c.body);
    ExpectErrorEnvelope(exchange, 400, c.code);
    json body = ParseJson(exchange.body);
    if (c.param.empty()) {
      EXPECT_TRUE(body["error"]["param"].is_null());
    } else {
      EXPECT_EQ(body["error"]["param"], c.param);
    }
  }
}

TEST_F(FakeUpstreamTest, UnknownPathsGet404InTheErrorEnvelope) {
  Exchange exchange = Post("/v1/models/list", "{}");
  ExpectErrorEnvelope(exchange, 404, "unknown_url");
  EXPECT_THAT(ParseJson(exchange.body)["error"]["message"].get<std::string>(),
              HasSubstr("/v1/models/list"));
}

}  // namespace
}  // namespace gengate::fake
