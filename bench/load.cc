#include <string>

#include "load.h"
#include "nlohmann/json.hpp"

namespace gengate::bench {
namespace {

nlohmann::json Micros(const Histogram& histogram) {
  const auto us = [](uint64_t nanos) { return static_cast<double>(nanos) / 1000.0; };
  return {{"count", histogram.count()},
          {"mean", histogram.mean() / 1000.0},
          {"min", us(histogram.min())},
          {"p50", us(histogram.Percentile(0.50))},
          {"p90", us(histogram.Percentile(0.90))},
          {"p99", us(histogram.Percentile(0.99))},
          {"max", us(histogram.max())}};
}

}  // namespace

std::string ResultJson(const LoadSpec& spec, const LoadResult& result) {
  const double seconds = result.window_seconds > 0 ? result.window_seconds : 1;
  nlohmann::json json = {
      {"concurrency", spec.concurrency},
      {"calls", result.calls},
      {"errors", result.errors},
      {"total_calls", result.total_calls},
      {"error_kinds", result.error_kinds},
      {"window_seconds", result.window_seconds},
      {"calls_per_second", static_cast<double>(result.calls) / seconds},
      {"latency_us", Micros(result.latency)},
  };
  if (spec.call == CallKind::kStream) {
    json["messages"] = result.messages;
    json["total_messages"] = result.total_messages;
    json["messages_per_second"] = static_cast<double>(result.messages) / seconds;
    json["first_message_us"] = Micros(result.first_message);
  }
  if (spec.mode == LoadMode::kOpen) json["rate"] = spec.rate;
  if (spec.mode == LoadMode::kHold) {
    json["opened"] = result.opened;
    json["max_open"] = result.max_open;
    json["completed"] = result.completed;
    json["seconds_to_all_open"] = result.seconds_to_all_open;
  }
  return json.dump();
}

}  // namespace gengate::bench
