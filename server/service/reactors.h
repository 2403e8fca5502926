// The two reactor shapes every service uses: a unary call answered from one upstream JSON
// body, and a server stream fed from an upstream SSE stream.
//
// Each reactor is also the http::ResponseHandler of its upstream transfer. It deletes itself
// when both gRPC (OnDone) and the transfer (OnComplete) are through with it; until then the
// response objects it wrote stay alive.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/alarm.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "http/client.h"
#include "service/upstream_call.h"
#include "sse/parser.h"
#include "status/status.h"

namespace gengate::service {

// Counts the two owners of a reactor: gRPC and the upstream transfer.
class SharedOwnership {
 protected:
  // Returns true when the caller released the last reference and must delete.
  bool Release() { return refs_.fetch_sub(1, std::memory_order_acq_rel) == 1; }
  void DropTransferReference() { refs_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  std::atomic<int> refs_{2};
};

// Upstream error bodies are kept only this far: enough for any JSON envelope.
inline constexpr std::size_t kMaxErrorBody = 64 << 10;

// A unary RPC: one upstream JSON answer parsed into `Response`.
template <typename Response>
class UnaryUpstreamReactor final : public grpc::ServerUnaryReactor,
                                   public http::ResponseHandler,
                                   private SharedOwnership {
 public:
  using Parse = absl::StatusOr<Response> (*)(std::string_view body);
  using Usage = void (*)(const Response&, TokenUsage&);

  // Starts the upstream request for `body` (or finishes at once with its error status: the
  // upstream is never called for a request that failed validation).
  UnaryUpstreamReactor(const ServiceEnv& env, grpc::CallbackServerContext* context,
                       std::string_view method, std::string model, std::string_view path,
                       absl::StatusOr<UpstreamBody> body, Response* response, Parse parse,
                       Usage usage)
      : env_(env), call_(env, *context, method), response_(response),
        parse_(parse), usage_(usage) {
    call_.set_model(std::move(model));
    if (!body.ok()) {
      DropTransferReference();
      Complete(status::FromAbsl(body.status()));
      return;
    }
    call_.NotePayload(*body);
    env_.client.Start(call_.MakeRequest(path, *std::move(body), /*stream=*/false), *this,
                      transfer_);
  }

  void OnResponseHead(http::ResponseHead received) override {
    head_ = std::move(received);
    const http::ResponseHead& head = head_;
    call_.OnUpstreamHead(head);
    // A large answer (embeddings, images) then lands in one allocation instead of a dozen
    // doublings, each a copy and fresh pages.
    const std::string_view header = head.Find("content-length");
    std::uint64_t length = 0;
    if (head.status >= 200 && head.status < 300 &&
        absl::SimpleAtoi(absl::string_view(header.data(), header.size()), &length) &&
        length <= static_cast<std::uint64_t>(env_.settings.max_message_bytes) * 2) {
      body_.reserve(static_cast<std::size_t>(length));
    }
  }

  void OnBody(std::string_view bytes) override {
    const bool ok_status = head_.status >= 200 && head_.status < 300;
    const std::size_t limit =
        ok_status ? static_cast<std::size_t>(env_.settings.max_message_bytes) * 2 : kMaxErrorBody;
    if (body_cut_) return;
    if (body_.size() + bytes.size() > limit) {
      // An error body is mapped on what fits; the rest is not waited for (an HTML page that
      // trickles on would hold the call until its deadline).
      body_cut_ = true;
      if (!ok_status) body_.append(bytes.substr(0, limit - body_.size()));
      env_.client.Cancel(transfer_, status::TransportFailure::kInternal);
      return;
    }
    body_.append(bytes);
  }

  void OnCancel() override {
    env_.client.Cancel(transfer_, call_.DeadlinePassed() ? status::TransportFailure::kTimeout
                                                         : status::TransportFailure::kCancelled);
  }

  void OnDone() override {
    if (Release()) delete this;
  }

  // A large answer (embeddings, images) is turned into the reply and finished on a gRPC
  // thread while other transfers run on the event loop, so that its parse does not hold them
  // up: an alarm whose deadline has passed runs its callback on gRPC's executor at once (a
  // deadline of "now" would wait for the next millisecond tick of gRPC's timer). A small one
  // (a chat answer) is concluded in place: with the threads under SCHED_BATCH the hand-off
  // costs about what it saves (unary chat at c=16, 64 and 256: 10 of 14 interleaved pairs were
  // faster in place, by up to 38 %, and 4 slower, one by 28 %: this machine's noise is as large
  // as the effect; README, Benchmarks), and without other transfers it would only add a thread
  // wakeup to the call's latency. Under SCHED_OTHER every answer takes the hand-off while the
  // loop is busy, which there was clearly better (4.5 against 1.6 context switches per call).
  void OnComplete(const http::TransferResult& result) override {
    result_ = result;
    if (!result.client_busy || body_.size() < env_.settings.conclude_in_place_bytes) {
      Conclude();
      return;
    }
    conclude_.emplace().Set(gpr_inf_past(GPR_CLOCK_MONOTONIC), [this](bool) { Conclude(); });
  }

 private:
  // Maps how the transfer ended (and the answer) to the reply and its status, and finishes.
  void Conclude() {
    const http::TransferResult& result = result_;
    grpc::Status status;
    const bool ok_status = head_.status >= 200 && head_.status < 300;
    if (body_cut_ && ok_status) {
      status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            absl::StrCat("the upstream answer is larger than ",
                                         env_.settings.max_message_bytes * 2, " bytes"));
    } else if (result.failure.has_value() && !body_cut_) {
      status = TransferFailureStatus(result, call_.upstream());
    } else if (!ok_status) {
      status = UpstreamErrorStatus(head_.status, head_, body_, call_.upstream());
    } else if (absl::StatusOr<Response> parsed = Decode(); parsed.ok()) {
      usage_(*parsed, call_.usage());  // spent upstream, also when the answer cannot be sent
      const std::size_t reply_bytes = parsed->ByteSizeLong();
      if (reply_bytes > static_cast<std::size_t>(env_.settings.max_message_bytes)) {
        // gRPC would refuse to send it after Finish(OK), and the log and metrics would say OK.
        status = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              absl::StrCat("the answer is ", reply_bytes,
                                           " bytes, over the limit of ",
                                           env_.settings.max_message_bytes,
                                           " bytes (--max_message_bytes)"));
      } else {
        *response_ = *std::move(parsed);
      }
    } else {
      // A 2xx that is not our answer: an error envelope, an HTML interstitial, or garbage. The
      // error mapping describes it (and keeps http_status in the details).
      status = UpstreamErrorStatus(head_.status, head_, body_, call_.upstream());
    }
    std::string().swap(body_);
    Complete(status);
    if (Release()) delete this;
  }

  // Parses the answer into the reply, timed for gengate_answer_decode_seconds.
  absl::StatusOr<Response> Decode() {
    const absl::Time start = absl::Now();
    absl::StatusOr<Response> parsed = parse_(body_);
    call_.OnAnswerDecoded(absl::Now() - start);
    return parsed;
  }

  void Complete(const grpc::Status& status) {
    call_.Complete(status);
    Finish(status);
  }

  const ServiceEnv& env_;
  CallContext call_;
  Response* response_;
  Parse parse_;
  Usage usage_;
  http::TransferId transfer_ = 0;
  http::ResponseHead head_;
  std::string body_;
  // The answer passed its cap and the transfer was cancelled: a 2xx one is RESOURCE_EXHAUSTED,
  // an error one is mapped on its first kMaxErrorBody bytes.
  bool body_cut_ = false;
  // Set by OnComplete, read by Conclude (the alarm orders the two).
  http::TransferResult result_;
  // Made only for a hand-off: most answers are concluded in place, and an alarm costs an
  // allocation and a timer cancel.
  std::optional<grpc::Alarm> conclude_;
};

// What one upstream SSE event means for a stream.
struct DecodedEvent {
  enum class Kind {
    kSkip,     // nothing to send (keep-alive, empty data)
    kMessage,  // send the decoded message
    kEnd,      // the stream ended well (`[DONE]`)
    kMessageThenEnd,    // send the message, then end well (a terminal typed event)
    kError,    // end with `status` after the messages already sent
    kMessageThenError,  // send the message (a failure event), then end with `status`
  };
  Kind kind = Kind::kSkip;
  grpc::Status status;
};

// Turns SSE events of one API family into messages; one per stream, used on the event loop.
template <typename Message>
class StreamDecoder {
 public:
  virtual ~StreamDecoder() = default;
  virtual DecodedEvent Decode(const sse::Event& event, Message& message, CallContext& call) = 0;
  // True when a clean EOF without a terminal event is an acceptable end (e.g. after a
  // finish_reason).
  virtual bool AcceptsCleanEof() const = 0;
};

// A server-streaming RPC fed by an upstream SSE stream: one event becomes one message, in
// order, one write in flight, the queue capped in bytes.
template <typename Message>
class StreamUpstreamReactor final : public grpc::ServerWriteReactor<Message>,
                                    public http::ResponseHandler,
                                    private SharedOwnership {
 public:
  StreamUpstreamReactor(const ServiceEnv& env, grpc::CallbackServerContext* context,
                        std::string_view method, std::string model, std::string_view path,
                        absl::StatusOr<UpstreamBody> body,
                        std::unique_ptr<StreamDecoder<Message>> decoder)
      : env_(env), call_(env, *context, method),
        decoder_(std::move(decoder)) {
    call_.set_model(std::move(model));
    if (!body.ok()) {
      DropTransferReference();
      transfer_done_.store(true);
      FinishNow(status::FromAbsl(body.status()));
      return;
    }
    call_.NotePayload(*body);
    env_.client.Start(call_.MakeRequest(path, *std::move(body), /*stream=*/true), *this,
                      transfer_);
  }

  // --- http::ResponseHandler, on the event loop ---

  void OnResponseHead(http::ResponseHead received) override {
    head_ = std::move(received);
    const http::ResponseHead& head = head_;
    call_.OnUpstreamHead(head);
    const bool ok_status = head.status >= 200 && head.status < 300;
    // A 2xx answer that is not an event stream is an error body in disguise (or garbage).
    raw_body_mode_ =
        !ok_status || head.Find("content-type").find("event-stream") == std::string_view::npos;
  }

  void OnBody(std::string_view bytes) override {
    if (Ended()) return;
    if (raw_body_mode_) {
      raw_body_.append(bytes.substr(0, kMaxErrorBody - raw_body_.size()));
      // An error body is mapped on what fits; the rest is not waited for.
      if (raw_body_.size() == kMaxErrorBody) End(RawBodyStatus(), /*abort_upstream=*/true);
      return;
    }
    Parse(bytes);
  }

  void OnComplete(const http::TransferResult& result) override {
    transfer_done_.store(true);
    if (!Ended()) {
      if (result.failure.has_value()) {
        End(TransferFailureStatus(result, call_.upstream()), /*abort_upstream=*/false);
      } else if (raw_body_mode_) {
        End(RawBodyStatus(), false);
      } else {
        Parse("\n\n");  // an unterminated last event still counts
        if (!Ended()) {
          End(decoder_->AcceptsCleanEof()
                  ? grpc::Status::OK
                  : status::MapTransportFailure(status::TransportFailure::kReset,
                                                "the upstream closed the stream before it "
                                                "finished",
                                                call_.upstream()),
              false);
        }
      }
    }
    if (Release()) delete this;
  }

  // --- gRPC reactions ---

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!queue_.empty()) {
        queued_bytes_ -= queue_.front().bytes;
        queue_.pop_front();
      }
    }
    if (!ok) {
      FinishNow(grpc::Status(grpc::StatusCode::CANCELLED, "the caller went away"));
      return;
    }
    Pump();
  }

  void OnCancel() override {
    if (call_.DeadlinePassed()) {
      FinishNow(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "the caller's deadline passed"));
    } else {
      FinishNow(grpc::Status(grpc::StatusCode::CANCELLED, "the caller cancelled"));
    }
  }

  void OnDone() override {
    if (Release()) delete this;
  }

 private:
  struct Entry {
    Message message;
    std::size_t bytes;
  };

  void Parse(std::string_view bytes) {
    events_.clear();
    if (!parser_.Feed(bytes, events_)) {
      End(status::MalformedUpstream("an upstream SSE event is too large", call_.upstream()),
          true);
      return;
    }
    for (const sse::Event& event : events_) {
      Message message;
      DecodedEvent decoded = decoder_->Decode(event, message, call_);
      switch (decoded.kind) {
        case DecodedEvent::Kind::kSkip:
          break;
        case DecodedEvent::Kind::kMessage:
          if (!Enqueue(std::move(message))) return;
          break;
        case DecodedEvent::Kind::kMessageThenEnd:
          if (!Enqueue(std::move(message))) return;
          End(grpc::Status::OK, false);
          return;
        case DecodedEvent::Kind::kEnd:
          End(grpc::Status::OK, false);
          return;
        case DecodedEvent::Kind::kError:
          End(decoded.status, true);
          return;
        case DecodedEvent::Kind::kMessageThenError:
          if (!Enqueue(std::move(message))) return;
          End(decoded.status, true);
          return;
      }
    }
  }

  // The stream answered with something that is not an event stream: an error envelope, an
  // HTML page or garbage, whatever its HTTP status.
  grpc::Status RawBodyStatus() const {
    return UpstreamErrorStatus(head_.status, head_, raw_body_, call_.upstream());
  }

  // Queues a message; false when the reader fell behind the cap (the stream then ends).
  bool Enqueue(Message message) {
    const std::size_t bytes = message.ByteSizeLong();
    if (bytes > static_cast<std::size_t>(env_.settings.max_message_bytes)) {
      // gRPC would fail the write, and the call would be logged as cancelled by the caller.
      End(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                       absl::StrCat("an upstream event is ", bytes,
                                    " bytes as a message, over the limit of ",
                                    env_.settings.max_message_bytes,
                                    " bytes (--max_message_bytes)")),
          /*abort_upstream=*/true);
      return false;
    }
    {
      absl::MutexLock lock(&mu_);
      if (finish_called_) return false;
      if (!queue_.empty() &&
          queued_bytes_ + bytes > static_cast<std::size_t>(env_.settings.stream_buffer_bytes)) {
        overflow_ = true;
      } else {
        queued_bytes_ += bytes;
        queue_.push_back(Entry{std::move(message), bytes});
      }
    }
    if (!overflow_) call_.OnStreamMessage(bytes);
    if (overflow_) {
      call_.OnSlowReader();
      env_.client.Cancel(transfer_, status::TransportFailure::kBufferOverflow);
      FinishNow(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("the caller reads too slowly: more than ",
                       env_.settings.stream_buffer_bytes, " bytes are waiting to be sent")));
      return false;
    }
    Pump();
    return true;
  }

  bool Ended() {
    absl::MutexLock lock(&mu_);
    return ended_;
  }

  // The stream's outcome is known: send what is queued, then finish with `status`.
  void End(grpc::Status status, bool abort_upstream) {
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return;
      ended_ = true;
      final_status_ = std::move(status);
    }
    if (abort_upstream && !transfer_done_.load()) {
      env_.client.Cancel(transfer_, status::TransportFailure::kCancelled);
    }
    Pump();
  }

  // Finishes at once, dropping what is queued (caller gone, or too slow).
  void FinishNow(grpc::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (finish_called_) return;
      finish_called_ = true;
      ended_ = true;
      final_status_ = std::move(status);
      // The message being written must live until OnWriteDone; the rest can go.
      while (queue_.size() > (writing_ ? 1u : 0u)) {
        queued_bytes_ -= queue_.back().bytes;
        queue_.pop_back();
      }
    }
    if (!transfer_done_.load()) {
      env_.client.Cancel(transfer_, status::TransportFailure::kCancelled);
    }
    DoFinish();
  }

  // Starts the next write, or finishes when the stream ended and the queue is empty.
  // A message with more queued behind it goes with gRPC's buffer hint: its write completes
  // once buffered, and the next write without the hint (or Finish) sends them together, one
  // syscall for a burst instead of one per message. The last queued message never has the
  // hint, so nothing waits for a message that may not come.
  // The last message of an ended stream goes out with the status in one batch.
  void Pump() {
    const Message* next = nullptr;
    bool more_queued = false;
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (finish_called_ || writing_) return;
      if (!queue_.empty()) {
        writing_ = true;
        next = &queue_.front().message;
        more_queued = queue_.size() > 1;
        finish = !more_queued && ended_;
      } else if (ended_) {
        finish = true;
      }
      finish_called_ = finish;
    }
    if (finish) {
      DoFinish(next);
    } else if (more_queued) {
      this->StartWrite(next, grpc::WriteOptions().set_buffer_hint());
    } else if (next != nullptr) {
      this->StartWrite(next);
    }
  }

  // Sends the status, with `last` in the same batch when there is one (no OnWriteDone follows
  // it then: OnDone, once both are sent).
  void DoFinish(const Message* last = nullptr) {
    call_.Complete(final_status_);
    if (last != nullptr) {
      this->StartWriteAndFinish(last, grpc::WriteOptions(), final_status_);
    } else {
      this->Finish(final_status_);
    }
  }

  const ServiceEnv& env_;
  CallContext call_;
  std::unique_ptr<StreamDecoder<Message>> decoder_;
  http::TransferId transfer_ = 0;
  std::atomic<bool> transfer_done_{false};

  // Event-loop state.
  http::ResponseHead head_;
  bool raw_body_mode_ = false;
  std::string raw_body_;
  sse::Parser parser_;
  std::vector<sse::Event> events_;
  bool overflow_ = false;

  absl::Mutex mu_;
  std::deque<Entry> queue_ ABSL_GUARDED_BY(mu_);
  std::size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_status_;  // written once under mu_ before finish_called_ is set
};

}  // namespace gengate::service
