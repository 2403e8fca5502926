#include "observability/request_id.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/str_format.h"

namespace gengate::observability {

std::string NewRequestId() {
  thread_local absl::BitGen gen;
  return absl::StrFormat("%016x%016x", absl::Uniform<std::uint64_t>(gen),
                         absl::Uniform<std::uint64_t>(gen));
}

std::string RequestIdFromCaller(std::string_view caller_id) {
  if (caller_id.empty() || caller_id.size() > 128) return NewRequestId();
  for (char c : caller_id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return NewRequestId();
  }
  return std::string(caller_id);
}

}  // namespace gengate::observability
