// Small POSIX socket helpers that the test fakes share.
#pragma once

#include <netinet/in.h>

#include "absl/strings/string_view.h"

namespace gengate::testing {

// 127.0.0.1:`port`.
sockaddr_in LoopbackAddress(int port);

// A port on 127.0.0.1 that was free a moment ago: the kernel picked it for a socket that is
// closed again. For a server that cannot listen on port 0 (try again if its bind fails), or
// for an address nobody listens on.
int UnusedLoopbackPort();

// Writes all of `bytes` (MSG_NOSIGNAL, retrying EINTR); false once the peer is gone.
bool SendAll(int fd, absl::string_view bytes);

}  // namespace gengate::testing
