// Where the process is in its life: starting, serving or draining. main sets it; the admin
// server's /readyz and the drain gate in front of the upstream read it.
#pragma once

#include <atomic>
#include <string_view>

namespace gengate::observability {

enum class ServingPhase { kStarting, kServing, kDraining };

class ServingState {
 public:
  void Set(ServingPhase phase) { phase_.store(phase, std::memory_order_release); }
  ServingPhase phase() const { return phase_.load(std::memory_order_acquire); }
  bool serving() const { return phase() == ServingPhase::kServing; }
  bool draining() const { return phase() == ServingPhase::kDraining; }

 private:
  std::atomic<ServingPhase> phase_{ServingPhase::kStarting};
};

inline std::string_view PhaseName(ServingPhase phase) {
  switch (phase) {
    case ServingPhase::kStarting: return "starting";
    case ServingPhase::kServing: return "serving";
    case ServingPhase::kDraining: return "draining";
  }
  return "starting";
}

}  // namespace gengate::observability
