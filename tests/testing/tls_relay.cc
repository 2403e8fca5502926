#include "testing/tls_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "testing/sockets.h"

namespace gengate::testing {
namespace {

std::string OpenSslError(absl::string_view what) {
  char text[256] = "no OpenSSL error queued";
  if (const unsigned long code = ERR_get_error(); code != 0) {
    ERR_error_string_n(code, text, sizeof(text));
  }
  ERR_clear_error();
  return absl::StrCat(what, ": ", text);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsRelay>> TlsRelay::Start(const std::string& cert_file,
                                                          const std::string& key_file,
                                                          int backend_port) {
  std::unique_ptr<TlsRelay> relay(new TlsRelay());
  relay->backend_port_ = backend_port;
  relay->context_ = SSL_CTX_new(TLS_server_method());
  if (relay->context_ == nullptr) return absl::InternalError(OpenSslError("SSL_CTX_new"));
  if (SSL_CTX_use_certificate_chain_file(relay->context_, cert_file.c_str()) != 1) {
    return absl::InvalidArgumentError(OpenSslError(cert_file));
  }
  if (SSL_CTX_use_PrivateKey_file(relay->context_, key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(relay->context_) != 1) {
    return absl::InvalidArgumentError(OpenSslError(key_file));
  }

  relay->stop_fd_ = eventfd(0, EFD_CLOEXEC);
  relay->listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (relay->stop_fd_ < 0 || relay->listen_fd_ < 0) {
    return absl::InternalError(absl::StrCat("socket: errno ", errno));
  }
  sockaddr_in address = LoopbackAddress(0);
  socklen_t length = sizeof(address);
  if (bind(relay->listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(relay->listen_fd_, 64) != 0 ||
      getsockname(relay->listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return absl::InternalError(absl::StrCat("listen on 127.0.0.1: errno ", errno));
  }
  relay->port_ = ntohs(address.sin_port);
  relay->acceptor_ = std::thread(&TlsRelay::AcceptLoop, relay.get());
  return relay;
}

TlsRelay::~TlsRelay() {
  if (acceptor_.joinable()) {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      // Ends blocking handshakes and reads; the threads close the sockets themselves.
      for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
    }
    const std::uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof(one));
    acceptor_.join();
    std::vector<std::thread> relays;
    {
      absl::MutexLock lock(&mu_);
      relays.swap(relays_);
    }
    for (std::thread& relay : relays) relay.join();
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
  if (context_ != nullptr) SSL_CTX_free(context_);
}

int TlsRelay::handshakes() const {
  absl::MutexLock lock(&mu_);
  return handshakes_;
}

int TlsRelay::failed_handshakes() const {
  absl::MutexLock lock(&mu_);
  return failed_handshakes_;
}

bool TlsRelay::WaitForFailedHandshakes(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return failed_handshakes_ >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

void TlsRelay::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      close(fd);
      return;
    }
    open_fds_.push_back(fd);
    relays_.emplace_back(&TlsRelay::Relay, this, fd);
  }
}

void TlsRelay::Relay(int client_fd) {
  // OpenSSL writes with write(2): a client that left would raise SIGPIPE. Blocked here, the
  // signal stays pending on this thread (and dies with it) and the write fails with EPIPE.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);

  SSL* ssl = SSL_new(context_);
  SSL_set_fd(ssl, client_fd);
  int backend_fd = -1;
  bool reset = false;  // the backend reset its side: reset the client's too
  const bool accepted = SSL_accept(ssl) == 1;
  {
    absl::MutexLock lock(&mu_);
    ++(accepted ? handshakes_ : failed_handshakes_);
  }
  if (!accepted) {
    ERR_clear_error();
  } else {
    backend_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_in backend = LoopbackAddress(backend_port_);
    bool connected = false;
    {
      absl::MutexLock lock(&mu_);
      if (!stopping_) open_fds_.push_back(backend_fd);
      connected = !stopping_;
    }
    const int on = 1;
    setsockopt(backend_fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    connected = connected && connect(backend_fd, reinterpret_cast<const sockaddr*>(&backend),
                                     sizeof(backend)) == 0;
    char buffer[16384];
    while (connected) {
      pollfd fds[3] = {{client_fd, POLLIN, 0}, {backend_fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      // Bytes OpenSSL already decrypted do not show on the socket.
      if (SSL_pending(ssl) == 0 && poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[2].revents != 0) break;
      if (SSL_pending(ssl) > 0 || fds[0].revents != 0) {
        const int read = SSL_read(ssl, buffer, sizeof(buffer));
        if (read <= 0) break;
        if (!SendAll(backend_fd, absl::string_view(buffer, static_cast<std::size_t>(read)))) break;
      }
      if (fds[1].revents != 0) {
        const ssize_t read = recv(backend_fd, buffer, sizeof(buffer), 0);
        if (read < 0 && errno == EINTR) continue;
        if (read <= 0) {
          reset = read < 0;
          break;
        }
        if (SSL_write(ssl, buffer, static_cast<int>(read)) != read) break;
      }
    }
    ERR_clear_error();
  }
  if (reset) {
    const linger abort{1, 0};
    setsockopt(client_fd, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
  } else if (SSL_is_init_finished(ssl)) {
    SSL_shutdown(ssl);  // close_notify, so that the client reads a clean end
    ERR_clear_error();
  }
  SSL_free(ssl);
  absl::MutexLock lock(&mu_);
  open_fds_.erase(std::remove_if(open_fds_.begin(), open_fds_.end(),
                                 [&](int fd) { return fd == client_fd || fd == backend_fd; }),
                  open_fds_.end());
  close(client_fd);
  if (backend_fd >= 0) close(backend_fd);
}

}  // namespace gengate::testing
