// The gRPC side of the load generator: one thread drives a completion queue; every call is a
// small state machine whose address is its tag. Channels get distinct arguments and a local
// subchannel pool, so each is its own HTTP/2 connection.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpc/support/time.h"
#include "gengate/v1/chat.grpc.pb.h"
#include "gengate/v1/embeddings.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "load.h"

namespace gengate::bench {
namespace {

namespace v1 = ::gengate::v1;

constexpr size_t kMaxErrorKinds = 32;
constexpr int kMaxMessageBytes = 256 << 20;

v1::CreateChatCompletionRequest ChatRequest(const std::string& model) {
  v1::CreateChatCompletionRequest request;
  request.set_model(model);
  v1::ChatMessage* system = request.add_messages();
  system->set_role(v1::ROLE_SYSTEM);
  system->set_content("You are a helpful assistant. Answer in one short sentence.");
  v1::ChatMessage* user = request.add_messages();
  user->set_role(v1::ROLE_USER);
  user->set_content("Say hello to the benchmark, and tell it how fast you are today.");
  request.set_max_completion_tokens(64);
  return request;
}

v1::CreateEmbeddingsRequest EmbeddingsRequest(const LoadSpec& spec) {
  v1::CreateEmbeddingsRequest request;
  request.set_model(spec.model);
  for (int i = 0; i < spec.embedding_inputs; ++i) {
    request.add_input(absl::StrCat("benchmark input number ", i, ", a short sentence to embed."));
  }
  request.set_dimensions(spec.embedding_dimensions);
  return request;
}

class GrpcLoad {
 public:
  explicit GrpcLoad(const LoadSpec& spec)
      : spec_(spec), chat_request_(ChatRequest(spec.model)), embeddings_request_() {
    if (spec.call == CallKind::kEmbeddings) embeddings_request_ = EmbeddingsRequest(spec);
  }

  LoadResult Run() {
    if (!Connect()) return std::move(result_);
    const Clock::time_point start = Clock::now();
    next_due_ = start;
    period_ = spec_.mode == LoadMode::kOpen   ? Seconds(1.0 / spec_.rate)
              : spec_.mode == LoadMode::kHold ? Seconds(1.0 / spec_.ramp_per_second)
                                              : Clock::duration::zero();
    if (spec_.mode == LoadMode::kHold) {
      window_ = {Clock::time_point::max(), Clock::time_point::max()};  // set when all are open
    } else {
      window_.begin = start + Seconds(spec_.warmup_seconds);
      window_.end = window_.begin + Seconds(spec_.duration_seconds);
      result_.window_seconds = spec_.duration_seconds;
    }
    first_start_ = start;
    if (spec_.mode == LoadMode::kClosed) {
      for (int i = 0; i < spec_.concurrency; ++i) StartCall(NewCall(), start);
    }
    for (;;) {
      StartDueCalls();
      if (spec_.mode == LoadMode::kHold) PaceHold();
      if (outstanding_ == 0 && !Issuing()) break;
      const Clock::time_point now = Clock::now();
      Clock::time_point wake = now + std::chrono::milliseconds(100);
      if (Issuing() && spec_.mode != LoadMode::kClosed) wake = std::min(wake, next_due_);
      if (holding_ && !cancelled_) wake = std::min(wake, window_.end);
      void* tag = nullptr;
      bool ok = false;
      // A monotonic gpr deadline: AsyncNext takes no steady_clock time point.
      const gpr_timespec deadline =
          gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                       gpr_time_from_nanos(static_cast<int64_t>(Nanos(wake - now)), GPR_TIMESPAN));
      const grpc::CompletionQueue::NextStatus status = queue_.AsyncNext(&tag, &ok, deadline);
      if (status == grpc::CompletionQueue::SHUTDOWN) break;
      if (status == grpc::CompletionQueue::GOT_EVENT) OnEvent(*static_cast<Call*>(tag), ok);
    }
    queue_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (queue_.Next(&tag, &ok)) {
    }
    return std::move(result_);
  }

 private:
  enum class State { kUnary, kStarting, kReading, kFinishing };

  struct Call {
    int channel = 0;
    bool active = false;
    State state = State::kUnary;
    Clock::time_point due;
    bool got_first = false;
    int64_t messages = 0;
    std::unique_ptr<grpc::ClientContext> context;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::ChatCompletion>> chat;
    v1::ChatCompletion chat_answer;
    std::unique_ptr<grpc::ClientAsyncReader<v1::ChatCompletionChunk>> stream;
    v1::ChatCompletionChunk chunk;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::CreateEmbeddingsResponse>> embeddings;
    v1::CreateEmbeddingsResponse embeddings_answer;
  };

  struct Endpoint {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<v1::ChatService::Stub> chat;
    std::unique_ptr<v1::EmbeddingsService::Stub> embeddings;
  };

  bool Connect() {
    for (int i = 0; i < std::max(1, spec_.channels); ++i) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("gengate.bench.channel", i);  // distinct args: no shared subchannel
      args.SetMaxReceiveMessageSize(kMaxMessageBytes);
      args.SetMaxSendMessageSize(kMaxMessageBytes);
      Endpoint endpoint;
      endpoint.channel =
          grpc::CreateCustomChannel(spec_.address, grpc::InsecureChannelCredentials(), args);
      if (!endpoint.channel->WaitForConnected(std::chrono::system_clock::now() +
                                              std::chrono::seconds(10))) {
        result_.AddError(absl::StrCat("cannot connect to ", spec_.address));
        return false;
      }
      endpoint.chat = v1::ChatService::NewStub(endpoint.channel);
      endpoint.embeddings = v1::EmbeddingsService::NewStub(endpoint.channel);
      endpoints_.push_back(std::move(endpoint));
    }
    return true;
  }

  bool Issuing() const {
    const Clock::time_point now = Clock::now();
    switch (spec_.mode) {
      case LoadMode::kClosed:
        return false;  // calls restart themselves until the window ends
      case LoadMode::kOpen:
        return now < window_.end;
      case LoadMode::kHold:
        return started_ < spec_.concurrency;
    }
    return false;
  }

  Call& NewCall() {
    if (!free_calls_.empty()) {
      Call* call = free_calls_.back();
      free_calls_.pop_back();
      return *call;
    }
    calls_.push_back(std::make_unique<Call>());
    calls_.back()->channel = static_cast<int>(calls_.size() - 1) % std::max(1, spec_.channels);
    return *calls_.back();
  }

  void StartDueCalls() {
    if (spec_.mode == LoadMode::kClosed) return;
    const Clock::time_point now = Clock::now();
    while (Issuing() && next_due_ <= now) {
      const Clock::time_point due = next_due_;
      next_due_ += period_;
      if (outstanding_ >= spec_.max_outstanding) {
        result_.AddError("dropped: too many calls outstanding");
        continue;
      }
      StartCall(NewCall(), due);
    }
  }

  // Hold mode: the hold begins when every stream is open (or at the open timeout); when it is
  // over, every stream still running is cancelled.
  void PaceHold() {
    const Clock::time_point now = Clock::now();
    if (!holding_ && (result_.opened == spec_.concurrency ||
                      now >= first_start_ + Seconds(spec_.open_timeout_seconds))) {
      holding_ = true;
      window_ = {now, now + Seconds(spec_.hold_seconds)};
      result_.window_seconds = spec_.hold_seconds;
      const double seconds = std::chrono::duration<double>(now - first_start_).count();
      if (result_.opened == spec_.concurrency) result_.seconds_to_all_open = seconds;
      std::fprintf(stderr, "all_open %lld of %d streams after %.2f s\n",
                   static_cast<long long>(result_.opened), spec_.concurrency, seconds);
    }
    if (holding_ && !cancelled_ && now >= window_.end) {
      cancelled_ = true;
      for (const std::unique_ptr<Call>& call : calls_) {
        if (call->active) call->context->TryCancel();
      }
    }
  }

  void StartCall(Call& call, Clock::time_point due) {
    ++outstanding_;
    call.active = true;
    ++started_;
    call.due = due;
    call.got_first = false;
    call.messages = 0;
    call.status = grpc::Status();
    ReleaseCall(call);
    call.context = std::make_unique<grpc::ClientContext>();
    call.context->set_deadline(std::chrono::system_clock::now() +
                               std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                   std::chrono::duration<double>(spec_.deadline_seconds)));
    Endpoint& endpoint = endpoints_[static_cast<size_t>(call.channel)];
    switch (spec_.call) {
      case CallKind::kChat:
        call.state = State::kUnary;
        call.chat = endpoint.chat->PrepareAsyncCreateChatCompletion(call.context.get(),
                                                                    chat_request_, &queue_);
        call.chat->StartCall();
        call.chat->Finish(&call.chat_answer, &call.status, &call);
        break;
      case CallKind::kEmbeddings:
        call.state = State::kUnary;
        call.embeddings = endpoint.embeddings->PrepareAsyncCreateEmbeddings(
            call.context.get(), embeddings_request_, &queue_);
        call.embeddings->StartCall();
        call.embeddings->Finish(&call.embeddings_answer, &call.status, &call);
        break;
      case CallKind::kStream:
        call.state = State::kStarting;
        call.stream = endpoint.chat->PrepareAsyncStreamChatCompletion(call.context.get(),
                                                                      chat_request_, &queue_);
        call.stream->StartCall(&call);
        break;
    }
  }

  void OnEvent(Call& call, bool ok) {
    switch (call.state) {
      case State::kUnary:
        EndCall(call, AnswerProblem(call));
        return;
      case State::kStarting:
      case State::kReading:
        if (call.state == State::kReading && ok) OnMessage(call);
        if (ok) {
          call.state = State::kReading;
          call.stream->Read(&call.chunk, &call);
        } else {
          call.state = State::kFinishing;
          call.stream->Finish(&call.status, &call);
        }
        return;
      case State::kFinishing:
        EndCall(call, StreamProblem(call));
        return;
    }
  }

  void OnMessage(Call& call) {
    const Clock::time_point now = Clock::now();
    ++call.messages;
    ++result_.total_messages;
    if (window_.Contains(now)) ++result_.messages;
    if (call.got_first) return;
    call.got_first = true;
    if (spec_.mode == LoadMode::kHold || window_.Contains(now)) {
      result_.first_message.Record(Nanos(now - call.due));
    }
    if (spec_.mode == LoadMode::kHold) {
      ++result_.opened;
      result_.max_open = std::max(result_.max_open, ++open_now_);
    }
  }

  // Why a finished unary call does not count as a success; empty when it does.
  std::string AnswerProblem(const Call& call) const {
    if (!call.status.ok()) return StatusKind(call.status);
    if (spec_.call == CallKind::kChat && call.chat_answer.choices_size() == 0) {
      return "bad answer: no choices";
    }
    if (spec_.call == CallKind::kEmbeddings) {
      const v1::CreateEmbeddingsResponse& answer = call.embeddings_answer;
      if (answer.data_size() != spec_.embedding_inputs ||
          answer.data(0).embedding_size() != spec_.embedding_dimensions) {
        return "bad answer: wrong embeddings shape";
      }
    }
    return "";
  }

  std::string StreamProblem(const Call& call) const {
    if (spec_.mode == LoadMode::kHold) {
      // Every stream outlasts the hold; the only good end is our cancel after it.
      if (!cancelled_) {
        return call.status.ok() ? "stream ended before the hold was over"
                                : StatusKind(call.status);
      }
      return call.got_first ? "" : "stream not open when the hold ended";
    }
    if (!call.status.ok()) return StatusKind(call.status);
    if (spec_.expect_messages > 0 && call.messages != spec_.expect_messages) {
      return absl::StrCat("short stream: ", call.messages, " of ", spec_.expect_messages,
                          " messages");
    }
    return "";
  }

  static std::string StatusKind(const grpc::Status& status) {
    static constexpr const char* kNames[] = {
        "OK",          "CANCELLED",         "UNKNOWN",       "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED", "NOT_FOUND",   "ALREADY_EXISTS", "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
        "UNIMPLEMENTED", "INTERNAL",        "UNAVAILABLE",   "DATA_LOSS",
        "UNAUTHENTICATED"};
    const int code = static_cast<int>(status.error_code());
    const std::string name = code >= 0 && code <= 16 ? kNames[code] : absl::StrCat(code);
    return absl::StrCat(name, ": ", status.error_message().substr(0, 120));
  }

  void EndCall(Call& call, const std::string& problem) {
    const Clock::time_point now = Clock::now();
    --outstanding_;
    call.active = false;
    if (spec_.mode == LoadMode::kHold && call.got_first) --open_now_;
    if (!problem.empty()) {
      result_.AddError(result_.error_kinds.size() < kMaxErrorKinds ||
                               result_.error_kinds.contains(problem)
                           ? problem
                           : "other errors");
    } else {
      ++result_.total_calls;
      if (spec_.mode == LoadMode::kHold) ++result_.completed;
      if (spec_.mode == LoadMode::kHold || window_.Contains(now)) {
        ++result_.calls;
        result_.latency.Record(Nanos(now - call.due));
      }
    }
    if (spec_.mode == LoadMode::kClosed && now < window_.end) {
      StartCall(call, now);
      return;
    }
    ReleaseCall(call);
    free_calls_.push_back(&call);
  }

  // The readers live in the arena of the call the context owns: they must go first.
  static void ReleaseCall(Call& call) {
    call.chat.reset();
    call.stream.reset();
    call.embeddings.reset();
    call.context.reset();
  }

  const LoadSpec& spec_;
  const v1::CreateChatCompletionRequest chat_request_;
  v1::CreateEmbeddingsRequest embeddings_request_;
  grpc::CompletionQueue queue_;
  std::vector<Endpoint> endpoints_;
  std::vector<std::unique_ptr<Call>> calls_;  // owns every call; free_calls_ borrows
  std::vector<Call*> free_calls_;
  LoadResult result_;
  Window window_;
  Clock::time_point next_due_;
  Clock::time_point first_start_;
  Clock::duration period_{};
  int64_t outstanding_ = 0;
  int64_t started_ = 0;
  int64_t open_now_ = 0;   // hold mode
  bool holding_ = false;   // hold mode: the window has begun
  bool cancelled_ = false;  // hold mode: the streams left were cancelled
};

}  // namespace

LoadResult RunGrpcLoad(const LoadSpec& spec) { return GrpcLoad(spec).Run(); }

std::string GrpcRequestFrame(const LoadSpec& spec) {
  const std::string message = spec.call == CallKind::kEmbeddings
                                  ? EmbeddingsRequest(spec).SerializeAsString()
                                  : ChatRequest(spec.model).SerializeAsString();
  // The gRPC length-prefixed message: no compression, 4-byte big-endian length.
  std::string frame(5, '\0');
  for (int i = 0; i < 4; ++i) {
    frame[static_cast<size_t>(4 - i)] = static_cast<char>((message.size() >> (8 * i)) & 0xff);
  }
  return frame + message;
}

}  // namespace gengate::bench
