// gengate's configuration: flags with a GENGATE_<FLAG> environment fallback, validated once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gengate::config {

enum class LogFormat { kJson, kText };

struct Config {
  std::string listen = "0.0.0.0:50051";
  std::string admin_listen = "0.0.0.0:9090";
  // Base URL of the upstream; "fake" means the built-in fake upstream.
  std::string upstream_url = "https://api.acedata.cloud/openai";
  bool use_fake_upstream = false;
  // The upstream API key (from --upstream_api_key_file or GENGATE_UPSTREAM_API_KEY). Secret:
  // never logged, never part of an error.
  std::string upstream_api_key;
  // A PEM CA bundle an https upstream is verified against instead of the system's store (a
  // private CA, or a pinned bundle); empty: the system's store.
  std::string upstream_ca_file;
  absl::Duration default_timeout = absl::Seconds(600);
  absl::Duration stream_idle_timeout = absl::Seconds(120);
  absl::Duration drain_timeout = absl::Seconds(30);
  int max_upstream_connections = 64;
  std::int64_t stream_buffer_bytes = 1 << 20;
  std::int64_t max_message_bytes = 64 << 20;
  LogFormat log_format = LogFormat::kJson;
  // Call log lines carry the upstream request body (cut to a few KiB); off by default since
  // prompts are user data. payload_bytes is logged either way.
  bool log_payloads = false;
  // gRPC server reflection (grpcurl, Postman, grpcui can list and call the services).
  bool reflection = true;
  // Every thread runs under SCHED_BATCH: a thread woken by another of gengate's (the event
  // loop by a new request, a gRPC thread by an answer) does not preempt the one running, which
  // then hands over a batch instead of one item per context switch. Needs no privilege. It
  // gives up preempting other processes too, which costs throughput on CPUs shared with busy
  // neighbours (README, Configuration).
  bool sched_batch = true;

  // Server keepalive pings: find dead peers (a client that vanished behind a NAT or load
  // balancer) instead of keeping their streams open.
  absl::Duration keepalive_time = absl::Seconds(60);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  // Connections are closed (GOAWAY) after this age, +-10% jitter, so that long-lived client
  // channels spread over pods added later; infinite disables it.
  absl::Duration max_connection_age = absl::Minutes(30);
  // Calls still running on an aged connection get this long before it is closed.
  absl::Duration max_connection_age_grace = absl::Minutes(10);

  // TLS on the gRPC listener: all empty means plaintext. The PEM contents are read once at
  // startup; the key is secret.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // With a client CA, clients must present a certificate it signed (mTLS).
  std::string tls_client_ca_pem;
  bool tls() const { return !tls_cert_pem.empty(); }
};

// Parses argv (abseil flags) with the environment as fallback for flags not given, reads the
// key file and validates. Errors are one line, meant for the operator.
absl::StatusOr<Config> LoadConfig(int argc, char** argv);

// Parses sizes like "1MiB", "64KiB", "65536", "2MB".
absl::StatusOr<std::int64_t> ParseByteSize(absl::string_view text);

}  // namespace gengate::config
