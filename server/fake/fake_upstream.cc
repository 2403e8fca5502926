// The HTTP side of the fake upstream: cpp-httplib on a background thread, routing the five
// endpoints (with or without a /v1 prefix) to the pure answers in answers.h.
#include "fake/fake_upstream.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/json_scan.h"
#include "fake/answers.h"
#include "httplib.h"

namespace gengate::fake {
namespace {

// httplib keeps a worker per open keep-alive connection, so the pool matches the connections
// gengate keeps to one upstream (--max_upstream_connections defaults to 64).
constexpr size_t kWorkerThreads = 64;
constexpr size_t kMaxBodyBytes = size_t{256} << 20;  // up to 16 uploaded images per edit

using EndpointAnswer = Answer (*)(const Json& request);

struct Endpoint {
  const char* path;
  EndpointAnswer answer;
};

constexpr Endpoint kEndpoints[] = {
    {"/chat/completions", &AnswerChatCompletion},
    {"/responses", &AnswerResponse},
    {"/images/generations", &AnswerImageGeneration},
    {"/images/edits", &AnswerImageEdit},
    {"/embeddings", &AnswerEmbeddings},
};

// What the answers see of an uploaded file: its name and size, not its bytes.
std::string UploadPlaceholder(const httplib::MultipartFormData& part) {
  return absl::StrCat("upload:", part.filename.empty() ? part.name : part.filename, " (",
                      part.content.size(), " bytes, ",
                      part.content_type.empty() ? "no content type" : part.content_type, ")");
}

// A multipart images/edits request as the JSON the answers read: text fields as they are
// (numbers as numbers), each `image` / `image[]` file as an entry of "image", and "mask".
Json JsonFromMultipart(const httplib::Request& req) {
  Json request = Json::object();
  Json images = Json::array();
  for (const auto& [name, part] : req.files) {
    if (name == "image" || name == "image[]") {
      images.push_back(UploadPlaceholder(part));
    } else if (name == "mask") {
      request["mask"] = UploadPlaceholder(part);
    } else if (int64_t number = 0; (name == "n" || name == "output_compression") &&
                                   absl::SimpleAtoi(part.content, &number)) {
      request[name] = number;
    } else {
      request[name] = part.content;
    }
  }
  if (!images.empty()) request["image"] = std::move(images);
  return request;
}

// The most members any one object of the JSON text has (a ':' outside strings follows a key).
// Parsing into ordered_json costs a scan of the object per member, so 150k keys in one
// extra_body kept a core busy for 20 s; the fake refuses objects past kMaxObjectMembers.
constexpr std::size_t kMaxObjectMembers = 1000;
std::size_t MostMembersInOneObject(std::string_view text) {
  std::vector<std::size_t> members;  // per open bracket; arrays count nothing
  std::vector<bool> is_object;
  std::size_t most = 0;
  base::ForEachStructuralByte(text, [&](char c) {
    if (c == '{' || c == '[') {
      members.push_back(0);
      is_object.push_back(c == '{');
    } else if ((c == '}' || c == ']') && !members.empty()) {
      members.pop_back();
      is_object.pop_back();
    } else if (c == ':' && !members.empty() && is_object.back()) {
      most = std::max(most, ++members.back());
    }
    return true;
  });
  return most;
}

Answer AnswerFor(const httplib::Request& req, EndpointAnswer answer) {
  Json request;
  if (req.is_multipart_form_data()) {
    request = JsonFromMultipart(req);
  } else {
    if (req.body.empty()) return InvalidBodyAnswer("the body is empty");
    if (MostMembersInOneObject(req.body) > kMaxObjectMembers) {
      return InvalidBodyAnswer("an object has more than 1000 members");
    }
    request = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (request.is_discarded()) return InvalidBodyAnswer("it is not valid JSON");
    if (!request.is_object()) return InvalidBodyAnswer("it is not a JSON object");
  }
  if (std::optional<Answer> rejection = RejectRequest(request)) return *std::move(rejection);
  return answer(request);
}

// The events of a streamed answer and how far the writer got; shared by the copies httplib
// makes of the content provider.
struct EventCursor {
  std::vector<std::string> events;
  size_t next = 0;
};

void WriteAnswer(Answer answer, httplib::Response& res) {
  res.status = answer.status;
  for (const auto& [name, value] : answer.headers) res.set_header(name, value);
  if (!answer.streamed) {
    res.set_content(answer.body, answer.content_type);
    return;
  }
  auto cursor = std::make_shared<EventCursor>();
  cursor->events = std::move(answer.events);
  // One event per call, hence per HTTP chunk and per socket write.
  auto write_next_event = [cursor](size_t /*offset*/, httplib::DataSink& sink) {
    if (cursor->next == cursor->events.size()) {
      sink.done();
      return true;
    }
    const std::string& event = cursor->events[cursor->next++];
    return sink.write(event.data(), event.size());
  };
  res.set_chunked_content_provider(answer.content_type, std::move(write_next_event));
}

// The address clients should dial: a wildcard bind is reached over loopback.
std::string DialHost(const std::string& host) {
  if (host == "0.0.0.0" || host.empty()) return "127.0.0.1";
  if (host == "::") return "[::1]";
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]");
  return host;
}

class HttplibFakeUpstream final : public FakeUpstream {
 public:
  HttplibFakeUpstream() { Configure(); }

  ~HttplibFakeUpstream() override {
    if (listener_.joinable()) {
      server_.stop();
      listener_.join();
    }
  }

  absl::Status Listen(const std::string& host, int port) {
    if (port < 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("fake upstream: bad port ", port));
    }
    if (port == 0) {
      port_ = server_.bind_to_any_port(host);
    } else {
      port_ = server_.bind_to_port(host, port) ? port : -1;
    }
    if (port_ < 0) {
      return absl::UnavailableError(
          absl::StrCat("fake upstream: cannot listen on ", host, ":", port));
    }
    host_ = host;
    std::future<void> running = running_.get_future();
    listener_ = std::thread([this] { server_.listen_after_bind(); });
    // Waited for so that the destructor's stop() cannot come before the accept loop runs
    // (httplib ignores a stop() issued before then).
    running.wait();
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  std::string base_url() const override {
    return absl::StrCat("http://", DialHost(host_), ":", port_);
  }

 private:
  void Configure() {
    // httplib creates the task queue once its accept loop is marked running: that is the
    // moment Listen() waits for. httplib takes ownership of the returned pool.
    server_.new_task_queue = [this]() -> httplib::TaskQueue* {
      running_.set_value();
      return std::make_unique<httplib::ThreadPool>(kWorkerThreads).release();
    };
    // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let two servers
    // share a fixed port silently instead of the second failing.
    server_.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    // Streamed events go out as they are written, not held back by Nagle's algorithm.
    server_.set_tcp_nodelay(true);
    // gengate reuses its upstream connections; httplib's default closes one every 5 requests.
    server_.set_keep_alive_max_count(1000);
    // stop() cannot interrupt a worker waiting on an idle keep-alive connection, so this bounds
    // how long the destructor takes while a client keeps connections open (default 5 s).
    server_.set_keep_alive_timeout(1);
    server_.set_payload_max_length(kMaxBodyBytes);

    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      res.set_header("x-request-id", RequestIdFor(req));
      return httplib::Server::HandlerResponse::Unhandled;
    });
    for (const Endpoint& endpoint : kEndpoints) {
      auto handler = [answer = endpoint.answer](const httplib::Request& req,
                                                httplib::Response& res) {
        WriteAnswer(AnswerFor(req, answer), res);
      };
      server_.Post(endpoint.path, handler);
      server_.Post(absl::StrCat("/v1", endpoint.path), handler);
    }
    // Runs for every status >= 400; fills in only what httplib itself refused (unknown path,
    // unreadable request), leaving the envelopes the answers wrote alone.
    server_.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
          if (!res.has_header("x-request-id")) res.set_header("x-request-id", RequestIdFor(req));
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          Answer answer = res.status == 404 ? UnknownPathAnswer(req.method, req.path)
                                            : InvalidBodyAnswer("the request could not be read");
          answer.status = res.status;
          WriteAnswer(std::move(answer), res);
          return httplib::Server::HandlerResponse::Handled;
        }));
    server_.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
          std::string what = "unknown exception";
          try {
            std::rethrow_exception(error);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          WriteAnswer(InternalErrorAnswer(what), res);
        });
  }

  // The caller's X-Request-Id when it sent one, else a new one.
  std::string RequestIdFor(const httplib::Request& req) {
    std::string id = req.get_header_value("X-Request-Id");
    if (!id.empty()) return id;
    return absl::StrCat("req_fake_", next_request_id_.fetch_add(1, std::memory_order_relaxed));
  }

  httplib::Server server_;
  std::promise<void> running_;
  std::string host_;
  int port_ = -1;
  std::atomic<uint64_t> next_request_id_{1};
  std::thread listener_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<FakeUpstream>> FakeUpstream::Start(const std::string& host,
                                                                  int port) {
  auto upstream = std::make_unique<HttplibFakeUpstream>();
  if (absl::Status status = upstream->Listen(host, port); !status.ok()) return status;
  return std::unique_ptr<FakeUpstream>(std::move(upstream));
}

}  // namespace gengate::fake
