// nghttpx (Debian's nghttp2-proxy) as an HTTP/2-over-TLS front for a plaintext HTTP/1.1 test
// server, for tests of the path most production upstreams take: TLS with h2 chosen in ALPN.
// The test still scripts every answer on the HTTP/1.1 side; nghttpx carries each h2 stream to
// a backend request and an RST_STREAM to a closed backend connection. Its access log tells
// the test which protocol and which client connection (by source port) every request used.
//
// nghttpx cannot listen on port 0, so Start picks a port that was free a moment ago and tries
// again with another if nghttpx fails to bind it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "testing/gengate_process.h"

namespace gengate::testing {

// One request as nghttpx's access log recorded it.
struct FrontRequest {
  std::string alpn;  // "h2", or "http/1.1"
  int client_port = 0;  // the client's source port: requests on one connection share it
  std::string method;
  std::string path;
  int status = 0;
};

class Http2Front {
 public:
  // Serves `cert_file` with `key_file` on 127.0.0.1 and forwards to 127.0.0.1:`backend_port`.
  static absl::StatusOr<std::unique_ptr<Http2Front>> Start(const std::string& cert_file,
                                                           const std::string& key_file,
                                                           int backend_port);

  int port() const { return port_; }
  // The requests nghttpx finished so far, in the order it logged them.
  std::vector<FrontRequest> Requests() const;
  // Blocks until nghttpx logged at least `count` requests; false on timeout.
  bool WaitForRequests(int count, absl::Duration timeout) const;

 private:
  Http2Front() = default;

  std::unique_ptr<GengateProcess> process_;  // a child runner; nothing gengate-specific
  int port_ = 0;
};

}  // namespace gengate::testing
