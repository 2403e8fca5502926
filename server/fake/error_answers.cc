// The errors every endpoint shares, in OpenAI's envelope, including the demo errors a model
// named "fake-error-<status>" asks for.
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fake/answer_parts.h"
#include "fake/answers.h"

namespace gengate::fake {
namespace {

constexpr absl::string_view kDemoErrorModelPrefix = "fake-error-";

// The `type` and `code` OpenAI (or a proxy in front of it) uses for a status.
struct DemoError {
  int status;
  std::string_view type;
  std::string_view code;
};

constexpr DemoError kDemoErrors[] = {
    {400, "invalid_request_error", "invalid_request"},
    {401, "invalid_request_error", "invalid_api_key"},
    {403, "invalid_request_error", "permission_denied"},
    {404, "invalid_request_error", "model_not_found"},
    {409, "invalid_request_error", "conflict"},
    {413, "invalid_request_error", "request_too_large"},
    {422, "invalid_request_error", "unprocessable_entity"},
    {429, "requests", "rate_limit_exceeded"},
    {500, "server_error", "server_error"},
    {502, "server_error", "bad_gateway"},
    {503, "server_error", "service_unavailable"},
    {504, "server_error", "timeout"},
};

Answer DemoErrorAnswer(int status, std::string_view model) {
  DemoError error = {status, status < 500 ? "invalid_request_error" : "server_error", "fake_error"};
  for (const DemoError& known : kDemoErrors) {
    if (known.status == status) error = known;
  }
  Answer answer = ErrorAnswer(
      status, absl::StrCat("Fake ", status, " error, asked for by model '", ToAbsl(model), "'."),
      error.type, std::nullopt, error.code);
  if (status == 429 || status == 503) {
    // OpenAI's hint on when to retry; the gateway turns it into google.rpc.RetryInfo.
    answer.headers.emplace_back("retry-after-ms", "1000");
    answer.headers.emplace_back("retry-after", "1");
  }
  return answer;
}

}  // namespace

std::optional<Answer> RejectRequest(const Json& request) {
  const Json* model = Field(request, "model");
  if (model == nullptr || !model->is_string() || model->get<std::string>().empty()) {
    return ErrorAnswer(400, "you must provide a model parameter", "invalid_request_error", "model",
                       "missing_model");
  }
  const std::string name = model->get<std::string>();
  int status = 0;
  if (absl::StartsWith(name, kDemoErrorModelPrefix) &&
      absl::SimpleAtoi(absl::string_view(name).substr(kDemoErrorModelPrefix.size()), &status) &&
      status >= 400 && status <= 599) {
    return DemoErrorAnswer(status, name);
  }
  return std::nullopt;
}

Answer InvalidBodyAnswer(std::string_view why) {
  return ErrorAnswer(400,
                     absl::StrCat("We could not parse the JSON body of your request: ", ToAbsl(why),
                                  ". The OpenAI API expects a JSON payload."),
                     "invalid_request_error", std::nullopt, "invalid_json");
}

Answer UnknownPathAnswer(std::string_view method, std::string_view path) {
  return ErrorAnswer(404, absl::StrCat("Invalid URL (", ToAbsl(method), " ", ToAbsl(path), ")"),
                     "invalid_request_error", std::nullopt, "unknown_url");
}

Answer InternalErrorAnswer(std::string_view what) {
  return ErrorAnswer(500, absl::StrCat("The fake upstream failed: ", ToAbsl(what)), "server_error",
                     std::nullopt, "server_error");
}

}  // namespace gengate::fake
