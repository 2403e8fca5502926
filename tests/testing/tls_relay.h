// A TLS front for a plaintext test server: it terminates TLS on 127.0.0.1 (a kernel-chosen
// port) with a given certificate and relays the bytes of each connection, both ways, to one
// new TCP connection to a backend port. Put in front of UpstreamServer, it makes an https
// upstream whose every byte the test still scripts, with one backend connection per TLS
// connection so the upstream's connection ids still show reuse. It offers no ALPN protocol,
// so clients speak HTTP/1.1. One thread per connection; blocking reads are ended by
// shutdown(2) on stop.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace gengate::testing {

class TlsRelay {
 public:
  // Serves `cert_file` (a PEM chain) with `key_file` and relays to 127.0.0.1:`backend_port`.
  static absl::StatusOr<std::unique_ptr<TlsRelay>> Start(const std::string& cert_file,
                                                         const std::string& key_file,
                                                         int backend_port);
  // Stops accepting, ends every connection and joins its thread.
  ~TlsRelay();
  TlsRelay(const TlsRelay&) = delete;
  TlsRelay& operator=(const TlsRelay&) = delete;

  int port() const { return port_; }
  // Connections whose TLS handshake completed, and ones whose handshake failed (a client that
  // refused the certificate ends up here).
  int handshakes() const;
  int failed_handshakes() const;
  // Blocks until at least `count` handshakes failed; false on timeout. (A client may report
  // its refusal before the relay's thread has seen the handshake end.)
  bool WaitForFailedHandshakes(int count, absl::Duration timeout) const;

 private:
  TlsRelay() = default;
  void AcceptLoop();
  void Relay(int client_fd);

  ssl_ctx_st* context_ = nullptr;
  int backend_port_ = 0;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // an eventfd, written on stop
  int port_ = 0;
  std::thread acceptor_;

  mutable absl::Mutex mu_;
  int handshakes_ ABSL_GUARDED_BY(mu_) = 0;
  int failed_handshakes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int> open_fds_ ABSL_GUARDED_BY(mu_);  // client and backend sockets in use
  std::vector<std::thread> relays_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gengate::testing
