// bench_loadgen: drives chat, streaming chat or embeddings calls at gengate (gRPC) or at an
// HTTP server (the mock upstream, nginx), closed loop at a concurrency, open loop at a rate, or
// as many long streams held open; prints one JSON object with latency percentiles, throughput
// and errors on stdout. bench/run_bench.py runs it for every row of the table.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "load.h"

ABSL_FLAG(std::string, target, "grpc", "grpc (gengate) or http (mock upstream, nginx)");
ABSL_FLAG(std::string, address, "127.0.0.1:50051", "host:port to load");
ABSL_FLAG(std::string, call, "chat", "chat, stream or embeddings");
ABSL_FLAG(std::string, mode, "closed", "closed (concurrency), open (rate) or hold (streams)");
ABSL_FLAG(int, concurrency, 1, "calls in flight (closed), connections (http open), streams (hold)");
ABSL_FLAG(double, rate, 1000, "open loop: calls per second");
ABSL_FLAG(double, warmup_s, 1, "seconds of load before the measured window");
ABSL_FLAG(double, duration_s, 10, "seconds in the measured window");
ABSL_FLAG(double, deadline_s, 60, "per-call deadline");
ABSL_FLAG(int, channels, 1, "gRPC: channels (connections) the calls are spread over");
ABSL_FLAG(std::string, model, "bench", "model name; carries the mock's parameters");
ABSL_FLAG(int64_t, expect_messages, 0, "streams: messages a complete stream has (0: no check)");
ABSL_FLAG(int, embedding_inputs, 2048, "embeddings: inputs per call");
ABSL_FLAG(int, embedding_dimensions, 1536, "embeddings: dimensions asked for");
ABSL_FLAG(double, ramp_per_s, 2000, "hold: streams opened per second");
ABSL_FLAG(double, hold_s, 30, "hold: seconds all streams stay open, then they are cancelled");
ABSL_FLAG(double, open_timeout_s, 120, "hold: the hold starts then even if not all are open");
ABSL_FLAG(int64_t, max_outstanding, 20000, "open loop: calls beyond this are dropped as errors");
ABSL_FLAG(std::string, http_path, "/chat/completions", "http: path to POST to");
ABSL_FLAG(std::string, body_file, "", "http: JSON body to POST (default: built in)");
ABSL_FLAG(std::string, write_grpc_frame, "",
          "write the gRPC request of --call as a length-prefixed message to this file and exit "
          "(a body for h2load)");

namespace gengate::bench {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "bench_loadgen: %s\n", message.c_str());
  return 2;
}

int Run(int argc, char** argv) {
  absl::SetProgramUsageMessage("Load generator for the gengate benchmark.");
  absl::ParseCommandLine(argc, argv);
  LoadSpec spec;
  spec.address = absl::GetFlag(FLAGS_address);
  const std::string call = absl::GetFlag(FLAGS_call);
  if (call == "chat") {
    spec.call = CallKind::kChat;
  } else if (call == "stream") {
    spec.call = CallKind::kStream;
  } else if (call == "embeddings") {
    spec.call = CallKind::kEmbeddings;
  } else {
    return Fail("--call must be chat, stream or embeddings");
  }
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "closed") {
    spec.mode = LoadMode::kClosed;
  } else if (mode == "open") {
    spec.mode = LoadMode::kOpen;
  } else if (mode == "hold") {
    spec.mode = LoadMode::kHold;
  } else {
    return Fail("--mode must be closed, open or hold");
  }
  spec.concurrency = absl::GetFlag(FLAGS_concurrency);
  spec.rate = absl::GetFlag(FLAGS_rate);
  spec.warmup_seconds = absl::GetFlag(FLAGS_warmup_s);
  spec.duration_seconds = absl::GetFlag(FLAGS_duration_s);
  spec.deadline_seconds = absl::GetFlag(FLAGS_deadline_s);
  spec.channels = absl::GetFlag(FLAGS_channels);
  spec.model = absl::GetFlag(FLAGS_model);
  spec.expect_messages = absl::GetFlag(FLAGS_expect_messages);
  spec.embedding_inputs = absl::GetFlag(FLAGS_embedding_inputs);
  spec.embedding_dimensions = absl::GetFlag(FLAGS_embedding_dimensions);
  spec.ramp_per_second = absl::GetFlag(FLAGS_ramp_per_s);
  spec.hold_seconds = absl::GetFlag(FLAGS_hold_s);
  spec.open_timeout_seconds = absl::GetFlag(FLAGS_open_timeout_s);
  spec.max_outstanding = absl::GetFlag(FLAGS_max_outstanding);
  spec.http_path = absl::GetFlag(FLAGS_http_path);
  if (spec.concurrency < 1) return Fail("--concurrency must be at least 1");
  if (spec.rate <= 0 || spec.ramp_per_second <= 0) return Fail("rates must be positive");
  if (const std::string file = absl::GetFlag(FLAGS_body_file); !file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Fail("cannot read --body_file " + file);
    std::ostringstream body;
    body << in.rdbuf();
    spec.http_body = body.str();
  }
  if (const std::string file = absl::GetFlag(FLAGS_write_grpc_frame); !file.empty()) {
    const std::string frame = GrpcRequestFrame(spec);
    std::ofstream out(file, std::ios::binary);
    out.write(frame.data(), static_cast<std::streamsize>(frame.size()));
    return out ? 0 : Fail("cannot write " + file);
  }
  const std::string target = absl::GetFlag(FLAGS_target);
  LoadResult result;
  if (target == "grpc") {
    result = RunGrpcLoad(spec);
  } else if (target == "http") {
    result = RunHttpLoad(spec);
  } else {
    return Fail("--target must be grpc or http");
  }
  std::printf("%s\n", ResultJson(spec, result).c_str());
  return 0;
}

}  // namespace
}  // namespace gengate::bench

int main(int argc, char** argv) { return gengate::bench::Run(argc, argv); }
