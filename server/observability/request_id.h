// Request ids: taken from the caller's x-request-id when it is sane, otherwise made here.
#pragma once

#include <string>
#include <string_view>

namespace gengate::observability {

// A new random id: 32 lower-case hex digits.
std::string NewRequestId();

// The caller's id when it is 1-128 characters of [A-Za-z0-9._:-], else a new one. Keeps
// header injection and log forging out.
std::string RequestIdFromCaller(std::string_view caller_id);

}  // namespace gengate::observability
