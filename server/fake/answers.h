// The fake upstream's answers: one pure function per endpoint, request JSON in, Answer out.
// They keep no state, so the same request always gets the same bytes back; the HTTP side
// (fake_upstream.cc) only parses bodies and writes answers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

namespace gengate::fake {

// Ordered, so answers keep OpenAI's field order (`id` first) and read like the real ones.
using Json = nlohmann::ordered_json;

// What the fake sends back for one request: a whole body, or SSE events that are written one
// per HTTP chunk so that a client sees them arrive separately.
struct Answer {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // when !streamed
  bool streamed = false;
  std::vector<std::string> events;  // when streamed: each a complete event, "...\n\n"
};

// The error answer for checks every endpoint shares: a model is required, and a model named
// "fake-error-<status>" (400..599) asks for that HTTP status, for demos of error handling.
std::optional<Answer> RejectRequest(const Json& request);
// 400 for a body that is empty, not JSON, or not a JSON object.
Answer InvalidBodyAnswer(std::string_view why);
// 404 for a path or method the fake does not serve.
Answer UnknownPathAnswer(std::string_view method, std::string_view path);
// 500 for a failure inside the fake itself.
Answer InternalErrorAnswer(std::string_view what);

// POST /chat/completions: "Echo: <last user text>", a tool call when asked for one, or an SSE
// stream of chunks ending in `data: [DONE]` with "stream": true.
Answer AnswerChatCompletion(const Json& request);
// POST /responses: a Response with one message (or function_call) item, or typed events.
Answer AnswerResponse(const Json& request);
// POST /images/generations: `n` images, as URLs or base64 of a small real PNG.
Answer AnswerImageGeneration(const Json& request);
// POST /images/edits: like generations; `image` holds one entry per input image (a URL, or a
// placeholder naming an uploaded file) and `mask` is set when a mask was given.
Answer AnswerImageEdit(const Json& request);
// POST /embeddings: a unit vector per input derived from a hash of its text.
Answer AnswerEmbeddings(const Json& request);

}  // namespace gengate::fake
