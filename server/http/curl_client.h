// The libcurl implementation of http::Client: one event-loop thread owns a curl multi handle
// driven by epoll and curl_multi_socket_action. Other threads hand it work through a command
// queue and an eventfd; connections are pooled and reused (HTTP/2 over TLS where the upstream
// offers it), one transfer at a time each, so that aborting a transfer can close its
// connection.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "http/client.h"

namespace gengate::http {

struct CurlClientOptions {
  // Connections per upstream host (CURLMOPT_MAX_HOST_CONNECTIONS); more transfers wait.
  int max_host_connections = 64;
  absl::Duration connect_timeout = absl::Seconds(10);
  std::string user_agent = "gengate/0.1";
  // A PEM CA bundle that https upstreams are verified against (CURLOPT_CAINFO) in place of the
  // system's store; empty: the system's. Verification of the peer and its name is always on.
  std::string ca_file;
};

// Starts the event-loop thread. The client must outlive every transfer's OnComplete; its
// destructor completes the transfers still running with kShuttingDown and joins the thread.
absl::StatusOr<std::unique_ptr<Client>> NewCurlClient(const CurlClientOptions& options);

}  // namespace gengate::http
