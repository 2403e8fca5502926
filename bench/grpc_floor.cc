// The gRPC floor of the benchmark: a bare callback-API ChatService that answers from memory
// with exactly the messages gengate makes of the mock's canned answers (canned.h), written the
// way gengate writes them (buffer hint within a burst, the last message with the status). It
// calls no upstream and translates nothing per call, so its CPU per call is what gRPC itself
// costs; gengate's cost above it is curl, translation and the hops between them.
//
// With --hand_off, unary calls are finished from one other thread, woken through an eventfd,
// as gengate's event loop finishes them: the floor then also holds the hop between threads.
//
//   bench_grpc_floor --port=0 [--hand_off] [--sched_batch]
//                                 prints "listening PORT", serves until SIGINT or SIGTERM
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "canned.h"
#include "gengate/v1/chat.grpc.pb.h"
#include "grpcpp/alarm.h"
#include "grpcpp/grpcpp.h"
#include "request_scan.h"
#include "translate/chat.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on");
ABSL_FLAG(int, port, 0, "port to listen on; 0 picks a free one (printed on stdout)");
ABSL_FLAG(bool, hand_off, false,
          "finish unary calls from one other thread, woken through an eventfd, as gengate's "
          "event loop finishes them: what the hop between threads costs gRPC");
ABSL_FLAG(bool, sched_batch, false, "run the threads under SCHED_BATCH, as gengate does");

namespace gengate::bench {
namespace {

using Chunks = std::vector<v1::ChatCompletionChunk>;

// The chunks gengate sends for a mock stream of `total` events, built once per length.
class ChunkCache {
 public:
  std::shared_ptr<const Chunks> Get(int64_t total) {
    absl::MutexLock lock(&mu_);
    std::shared_ptr<const Chunks>& slot = cache_[total];
    if (slot == nullptr) {
      auto chunks = std::make_shared<Chunks>(total);
      for (int64_t i = 0; i < total; ++i) {
        // A floor that sent other messages than gengate would measure something else.
        if (!translate::ParseChatStreamData(ChatChunkJson(i, total), (*chunks)[i]).ok()) {
          std::fprintf(stderr, "bench_grpc_floor: the canned chunk %ld does not translate\n",
                       static_cast<long>(i));
          std::abort();
        }
      }
      slot = std::move(chunks);
    }
    return slot;
  }

 private:
  absl::Mutex mu_;
  std::map<int64_t, std::shared_ptr<const Chunks>> cache_ ABSL_GUARDED_BY(mu_);
};

class StreamReactor final : public grpc::ServerWriteReactor<v1::ChatCompletionChunk> {
 public:
  // The headers go first, on their own, as gengate sends them when the upstream answers: a
  // buffer-hinted first write that carried them would wait for a flush to complete.
  // With an `interval` (the mock's interval_ms), the chunks are paced as the mock paces them:
  // the first at once, each next one `interval` after the previous write completed, none with
  // the buffer hint, since nothing is queued behind it (as in gengate).
  StreamReactor(std::shared_ptr<const Chunks> chunks, int64_t interval_ms)
      : chunks_(std::move(chunks)), interval_ms_(interval_ms) {
    StartSendInitialMetadata();
    Next();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the caller went away"));
      return;
    }
    if (interval_ms_ <= 0) {
      Next();
      return;
    }
    // Only one write or one timer is pending at a time, and Finish comes from a failed write
    // or with the last chunk, so the alarm never outlives the reactor.
    pacer_.Set(gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                            gpr_time_from_millis(interval_ms_, GPR_TIMESPAN)),
               [this](bool) { Next(); });
  }
  void OnCancel() override {}
  void OnDone() override { delete this; }

 private:
  void Next() {
    const v1::ChatCompletionChunk& chunk = (*chunks_)[next_++];
    if (next_ == chunks_->size()) {
      StartWriteAndFinish(&chunk, grpc::WriteOptions(), grpc::Status::OK);
    } else if (interval_ms_ > 0) {
      StartWrite(&chunk);
    } else {
      StartWrite(&chunk, grpc::WriteOptions().set_buffer_hint());
    }
  }

  const std::shared_ptr<const Chunks> chunks_;
  const int64_t interval_ms_;
  std::size_t next_ = 0;
  grpc::Alarm pacer_;
};

// One thread that finishes what it is handed, woken through an eventfd as gengate's event
// loop is woken by its command queue.
class Finisher {
 public:
  Finisher() : wakeup_(eventfd(0, EFD_CLOEXEC)), thread_([this] { Run(); }) {}
  Finisher(const Finisher&) = delete;
  Finisher& operator=(const Finisher&) = delete;
  ~Finisher() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    Wake();
    thread_.join();
    close(wakeup_);
  }

  void Finish(grpc::ServerUnaryReactor* reactor) {
    bool was_idle = false;
    {
      absl::MutexLock lock(&mu_);
      was_idle = pending_.empty();
      pending_.push_back(reactor);
    }
    if (was_idle) Wake();  // a non-empty queue has a wakeup on its way already
  }

 private:
  void Wake() {
    const std::uint64_t one = 1;
    (void)!write(wakeup_, &one, sizeof one);
  }

  void Run() {
    std::deque<grpc::ServerUnaryReactor*> batch;
    for (;;) {
      std::uint64_t count = 0;
      (void)!read(wakeup_, &count, sizeof count);
      bool stopping = false;
      {
        absl::MutexLock lock(&mu_);
        batch.swap(pending_);
        stopping = stopping_;
      }
      for (grpc::ServerUnaryReactor* reactor : batch) reactor->Finish(grpc::Status::OK);
      batch.clear();
      if (stopping) return;
    }
  }

  const int wakeup_;
  absl::Mutex mu_;
  std::deque<grpc::ServerUnaryReactor*> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: it runs on the members above
};

class FloorChatService final : public v1::ChatService::CallbackService {
 public:
  FloorChatService() {
    absl::StatusOr<v1::ChatCompletion> answer =
        translate::ChatCompletionFromUpstreamJson(ChatAnswerJson());
    if (!answer.ok()) {
      std::fprintf(stderr, "bench_grpc_floor: the canned answer does not translate\n");
      std::abort();
    }
    answer_ = *std::move(answer);
  }

  grpc::ServerUnaryReactor* CreateChatCompletion(grpc::CallbackServerContext* context,
                                                 const v1::CreateChatCompletionRequest*,
                                                 v1::ChatCompletion* reply) override {
    context->AddInitialMetadata("x-request-id", RequestId());
    *reply = answer_;
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (finisher_ != nullptr) {
      finisher_->Finish(reactor);
    } else {
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

  grpc::ServerWriteReactor<v1::ChatCompletionChunk>* StreamChatCompletion(
      grpc::CallbackServerContext* context,
      const v1::CreateChatCompletionRequest* request) override {
    context->AddInitialMetadata("x-request-id", RequestId());
    // 8 when unnamed, as the mock's --default_chunks.
    const int64_t total = IntParam(request->model(), "chunks").value_or(8);
    return new StreamReactor(chunks_.Get(std::clamp<int64_t>(total, 1, kMaxChunks)),
                             IntParam(request->model(), "interval_ms").value_or(0));
  }

 private:
  // As long as gengate's ids (32 hex digits).
  std::string RequestId() {
    return absl::StrCat(absl::Hex(0xbe9c4u, absl::kZeroPad16),
                        absl::Hex(next_id_.fetch_add(1), absl::kZeroPad16));
  }

  v1::ChatCompletion answer_;
  std::unique_ptr<Finisher> finisher_ =
      absl::GetFlag(FLAGS_hand_off) ? std::make_unique<Finisher>() : nullptr;
  ChunkCache chunks_;
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace
}  // namespace gengate::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before gRPC starts its threads
  if (absl::GetFlag(FLAGS_sched_batch)) {
    sched_param param{};
    if (sched_setscheduler(0, SCHED_BATCH, &param) != 0) {
      std::fprintf(stderr, "bench_grpc_floor: cannot run under SCHED_BATCH\n");
      return 1;
    }
  }

  gengate::bench::FloorChatService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::StrCat(absl::GetFlag(FLAGS_host), ":", absl::GetFlag(FLAGS_port)),
                           grpc::InsecureServerCredentials(), &port);
  // gengate's default --max_message_bytes.
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "bench_grpc_floor: cannot listen\n");
    return 1;
  }
  std::printf("listening %d\n", port);
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  server->Shutdown();
  return 0;
}
