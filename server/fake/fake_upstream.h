// The built-in deterministic upstream behind `--upstream_url=fake`, so every RPC can be tried
// offline and without a key. It serves the five OpenAI-compatible endpoints on 127.0.0.1.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace gengate::fake {

class FakeUpstream {
 public:
  // Starts serving on `host`:`port` (0 picks a free port) on background threads.
  static absl::StatusOr<std::unique_ptr<FakeUpstream>> Start(const std::string& host, int port);

  virtual ~FakeUpstream() = default;  // stops serving and joins its threads

  // The port it listens on.
  virtual int port() const = 0;
  // The base URL to use as --upstream_url, e.g. "http://127.0.0.1:41234".
  virtual std::string base_url() const = 0;
};

}  // namespace gengate::fake
