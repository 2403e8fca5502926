// The canned answers of the benchmark: the mock upstream serves them as JSON and SSE, and the
// gRPC floor (grpc_floor.cc) serves what gengate turns them into, so every target of a run
// answers the same content.
#pragma once

#include <cstdint>
#include <string>

namespace gengate::bench {

// Stream lengths asked for in the model name ("bench:chunks=N") are capped here.
inline constexpr int64_t kMaxChunks = 100000;

// A realistic small chat answer (~0.6 KB), the same for every call.
const std::string& ChatAnswerJson();

// The JSON of stream event `index` of `total`: content pieces, the last with the finish
// reason and the usage.
std::string ChatChunkJson(int64_t index, int64_t total);

}  // namespace gengate::bench
