#include "observability/gateway_metrics.h"

#include <initializer_list>
#include <utility>

#include "absl/strings/str_cat.h"
#include "observability/process_metrics.h"

namespace gengate::observability {
namespace {

// Whole calls: from a few milliseconds (embeddings, errors) to the ten minutes a unary
// generation may take (--default_timeout).
const std::vector<double> kCallSeconds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                          2.5,   5,    10,    30,   60,  120,  300, 600};
// Turning one upstream answer into a reply: microseconds for a chat answer, milliseconds for a
// 2,048 x 1,536 embeddings batch (DESIGN.md's target for that one is 5 ms).
const std::vector<double> kDecodeSeconds = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
                                            0.0005,  0.001,    0.0025,  0.005,  0.01,
                                            0.025,   0.05,     0.1,     0.25,   1};
// Time to the first stream message, where the gateway's own overhead (well under a
// millisecond) must stay visible next to the model's think time.
const std::vector<double> kFirstMessageSeconds = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05,  0.1,    0.25,  0.5,  1,
                                                  2.5,   5,      10,    30,   60};

// Label values are capped so that an upstream or caller-chosen string (a model name, an
// error reason) cannot make a series with a huge label.
constexpr std::size_t kMaxLabelBytes = 128;

std::string_view CapLabel(std::string_view value) {
  if (value.size() <= kMaxLabelBytes) return value;
  std::size_t end = kMaxLabelBytes;
  // Cut on a UTF-8 character boundary: never before a continuation byte.
  while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80) --end;
  return value.substr(0, end);
}

// "/gengate.v1.ChatService/StreamChatCompletion" -> {"gengate.v1.ChatService", "Stream..."}.
std::pair<std::string, std::string> SplitMethod(std::string_view full_method) {
  std::string_view rest = full_method;
  if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return {"", std::string(rest)};
  return {std::string(rest.substr(0, slash)), std::string(rest.substr(slash + 1))};
}

absl::string_view AbslView(std::string_view text) { return {text.data(), text.size()}; }

bool NoActiveCalls(std::atomic<std::int64_t>* active) {
  return active->load(std::memory_order_acquire) == 0;
}

}  // namespace

std::string_view GrpcCodeName(int code) {
  static constexpr std::string_view kNames[GatewayMetrics::kCodes] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED"};
  return code >= 0 && code < GatewayMetrics::kCodes ? kNames[code] : "UNKNOWN";
}

GatewayMetrics::GatewayMetrics(const std::vector<RpcMethod>& methods)
    : requests_(registry_.AddCounter("gengate_requests_total",
                                     "gRPC calls finished, by service, method and status code.",
                                     {"service", "method", "code"})),
      duration_(registry_.AddHistogram(
          "gengate_request_duration_seconds",
          "Time from the start of a gRPC call to its status, by service and method.",
          {"service", "method"}, kCallSeconds)),
      answer_decode_(registry_.AddHistogram(
          "gengate_answer_decode_seconds",
          "Time to turn a unary call's upstream answer into its reply message (JSON parse and "
          "translation), by service and method.",
          {"service", "method"}, kDecodeSeconds)),
      first_message_(registry_.AddHistogram(
          "gengate_stream_first_message_seconds",
          "Time from the start of a streaming call to its first message being queued.",
          {"service", "method"}, kFirstMessageSeconds)),
      stream_messages_(registry_.AddCounter("gengate_stream_messages_total",
                                            "Stream messages queued for callers.",
                                            {"service", "method"})),
      stream_bytes_(registry_.AddCounter(
          "gengate_stream_sent_bytes_total",
          "Bytes of stream messages (serialized protobuf) queued for callers.",
          {"service", "method"})),
      slow_readers_(registry_.AddCounter(
          "gengate_slow_reader_aborts_total",
          "Streams ended with RESOURCE_EXHAUSTED because the caller read too slowly.",
          {"service", "method"})),
      tokens_(registry_.AddCounter(
          "gengate_tokens_total",
          "Tokens as the upstream reported them, by model and direction (input or output); "
          "cut-off streams count what was reported before the end.",
          {"model", "direction"})),
      upstream_errors_(registry_.AddCounter(
          "gengate_upstream_errors_total",
          "Failed calls by google.rpc.ErrorInfo reason (the upstream's error code, or the "
          "gateway's reason for a transport failure).",
          {"reason"})),
      upstream_requests_(registry_.AddCounter(
          "gengate_upstream_requests_total",
          "Upstream HTTP requests by endpoint and HTTP status (\"none\" when no answer came).",
          {"endpoint", "status"})),
      upstream_time_to_headers_(registry_.AddHistogram(
          "gengate_upstream_time_to_headers_seconds",
          "Time from sending an upstream request to its response headers.", {"endpoint"},
          kCallSeconds)),
      upstream_duration_(registry_.AddHistogram(
          "gengate_upstream_duration_seconds",
          "Time from sending an upstream request to the end of its transfer.", {"endpoint"},
          kCallSeconds)),
      upstream_bytes_(registry_.AddCounter(
          "gengate_upstream_bytes_total",
          "Upstream HTTP body bytes by endpoint and direction (sent or received).",
          {"endpoint", "direction"})) {
  registry_.AddCallbackGauge("gengate_active_calls", "gRPC calls in progress.", [this] {
    return static_cast<double>(active_calls_.load(std::memory_order_relaxed));
  });
  registry_.AddCallbackGauge("gengate_active_streams", "Streaming gRPC calls in progress.", [this] {
    return static_cast<double>(active_streams_.load(std::memory_order_relaxed));
  });
  AddProcessMetrics(registry_);
  tokens_.set_max_series(2 * (kMaxModels + 1));
  upstream_errors_.set_max_series(100);
  for (const RpcMethod& rpc : methods) {
    methods_.emplace(rpc.full_name, MakeMethod(rpc.full_name, rpc.server_streaming));
  }
}

std::unique_ptr<GatewayMetrics::Method> GatewayMetrics::MakeMethod(std::string_view full_method,
                                                                  bool streaming) {
  auto [service, method] = SplitMethod(full_method);
  auto cells = std::make_unique<Method>();
  cells->service_ = std::move(service);
  cells->method_ = std::move(method);
  cells->streaming_ = streaming;
  const std::initializer_list<std::string_view> labels = {cells->service_, cells->method_};
  cells->duration_ = &duration_.WithLabels(labels);
  if (streaming) {
    cells->first_message_ = &first_message_.WithLabels(labels);
    cells->stream_messages_ = &stream_messages_.WithLabels(labels);
    cells->stream_bytes_ = &stream_bytes_.WithLabels(labels);
    cells->slow_readers_ = &slow_readers_.WithLabels(labels);
  } else {
    cells->answer_decode_ = &answer_decode_.WithLabels(labels);
  }
  // OK exists from the start so that rate() sees the first successful call.
  cells->requests_[0].store(&requests_.WithLabels({cells->service_, cells->method_, "OK"}));
  return cells;
}

const GatewayMetrics::Method& GatewayMetrics::ForMethod(std::string_view full_method) {
  if (auto it = methods_.find(AbslView(full_method)); it != methods_.end()) return *it->second;
  absl::MutexLock lock(&extra_mu_);
  if (auto it = extra_methods_.find(AbslView(full_method)); it != extra_methods_.end()) {
    return *it->second;
  }
  // Not announced at startup; a name that says "Stream" is taken to be a server stream.
  auto added = extra_methods_.emplace(
      std::string(full_method),
      MakeMethod(full_method, full_method.find("/Stream") != std::string_view::npos));
  return *added.first->second;
}

Counter& GatewayMetrics::RequestsCell(const Method& method, int code) {
  if (code < 0 || code >= kCodes) code = 2;  // UNKNOWN
  std::atomic<Counter*>& slot = method.requests_[code];
  Counter* cell = slot.load(std::memory_order_acquire);
  if (cell == nullptr) {
    // Two threads may resolve the same cell at once; WithLabels returns the same one.
    cell = &requests_.WithLabels({method.service_, method.method_, GrpcCodeName(code)});
    slot.store(cell, std::memory_order_release);
  }
  return *cell;
}

void GatewayMetrics::CallStarted(const Method& method) {
  active_calls_.fetch_add(1, std::memory_order_relaxed);
  if (method.streaming_) active_streams_.fetch_add(1, std::memory_order_relaxed);
}

void GatewayMetrics::CallFinished(const Method& method, int code, absl::Duration latency) {
  RequestsCell(method, code).Increment();
  method.duration_->Observe(absl::ToDoubleSeconds(latency));
  if (method.streaming_) active_streams_.fetch_sub(1, std::memory_order_relaxed);
  if (active_calls_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    // Releasing the mutex makes a waiter in WaitForNoActiveCalls re-check its condition.
    absl::MutexLock lock(&drain_mu_);
  }
}

void GatewayMetrics::StreamMessageQueued(const Method& method, std::size_t bytes, bool first,
                                         absl::Duration since_start) {
  if (method.stream_messages_ == nullptr) return;  // a unary method has no stream cells
  method.stream_messages_->Increment();
  method.stream_bytes_->Increment(bytes);
  if (first) method.first_message_->Observe(absl::ToDoubleSeconds(since_start));
}

void GatewayMetrics::AnswerDecoded(const Method& method, absl::Duration elapsed) {
  if (method.answer_decode_ != nullptr) {
    method.answer_decode_->Observe(absl::ToDoubleSeconds(elapsed));
  }
}

void GatewayMetrics::SlowReaderAborted(const Method& method) {
  if (method.slow_readers_ != nullptr) method.slow_readers_->Increment();
}

void GatewayMetrics::TokensUsed(std::string_view model, std::int64_t input, std::int64_t output) {
  if (input <= 0 && output <= 0) return;
  model = CapLabel(model);
  ModelTokens cells;
  {
    absl::ReaderMutexLock lock(&models_mu_);
    if (auto it = models_.find(AbslView(model)); it != models_.end()) cells = it->second;
  }
  if (cells.input == nullptr) {
    absl::MutexLock lock(&models_mu_);
    if (auto it = models_.find(AbslView(model)); it != models_.end()) {
      cells = it->second;
    } else {
      const std::string label = models_.size() < kMaxModels ? std::string(model) : "other";
      cells.input = &tokens_.WithLabels({label, "input"});
      cells.output = &tokens_.WithLabels({label, "output"});
      if (models_.size() < kMaxModels) models_.emplace(label, cells);
    }
  }
  if (input > 0) cells.input->Increment(static_cast<std::uint64_t>(input));
  if (output > 0) cells.output->Increment(static_cast<std::uint64_t>(output));
}

void GatewayMetrics::UpstreamError(std::string_view reason) {
  upstream_errors_.WithLabels({CapLabel(reason)}).Increment();
}

const GatewayMetrics::Endpoint& GatewayMetrics::ForEndpoint(std::string_view path) {
  path = CapLabel(path);
  {
    absl::ReaderMutexLock lock(&endpoints_mu_);
    if (auto it = endpoints_.find(AbslView(path)); it != endpoints_.end()) return *it->second;
  }
  absl::MutexLock lock(&endpoints_mu_);
  if (auto it = endpoints_.find(AbslView(path)); it != endpoints_.end()) return *it->second;
  auto endpoint = std::make_unique<Endpoint>();
  endpoint->path = std::string(path);
  endpoint->requests = &upstream_requests_;
  endpoint->time_to_headers = &upstream_time_to_headers_.WithLabels({endpoint->path});
  endpoint->duration = &upstream_duration_.WithLabels({endpoint->path});
  endpoint->sent_bytes = &upstream_bytes_.WithLabels({endpoint->path, "sent"});
  endpoint->received_bytes = &upstream_bytes_.WithLabels({endpoint->path, "received"});
  const Endpoint& added = *endpoint;
  endpoints_.emplace(endpoint->path, std::move(endpoint));
  return added;
}

void GatewayMetrics::UpstreamTransferFinished(const Endpoint& endpoint, int http_status,
                                              absl::Duration time_to_headers,
                                              absl::Duration duration, std::uint64_t sent_bytes,
                                              std::uint64_t received_bytes) {
  if (http_status < 0 || http_status > Endpoint::kMaxHttpStatus) http_status = 0;
  std::atomic<Counter*>& slot = endpoint.requests_by_status[http_status];
  Counter* requests = slot.load(std::memory_order_acquire);
  if (requests == nullptr) {
    const std::string status = http_status > 0 ? absl::StrCat(http_status) : "none";
    requests = &endpoint.requests->WithLabels({endpoint.path, status});
    slot.store(requests, std::memory_order_release);
  }
  requests->Increment();
  if (http_status > 0) endpoint.time_to_headers->Observe(absl::ToDoubleSeconds(time_to_headers));
  endpoint.duration->Observe(absl::ToDoubleSeconds(duration));
  endpoint.sent_bytes->Increment(sent_bytes);
  endpoint.received_bytes->Increment(received_bytes);
}

bool GatewayMetrics::WaitForNoActiveCalls(absl::Time deadline) {
  const bool idle =
      drain_mu_.LockWhenWithDeadline(absl::Condition(&NoActiveCalls, &active_calls_), deadline);
  drain_mu_.Unlock();
  return idle;
}

}  // namespace gengate::observability
