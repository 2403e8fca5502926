#include "testing/http2_front.h"

#include <unistd.h>

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "testing/sockets.h"

namespace gengate::testing {
namespace {

constexpr char kAccessPrefix[] = "front-access ";

std::string NghttpxBinary() {
  for (const char* path : {"/usr/sbin/nghttpx", "/usr/bin/nghttpx"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

std::optional<FrontRequest> ParseAccessLine(absl::string_view line) {
  if (!absl::ConsumePrefix(&line, kAccessPrefix)) return std::nullopt;
  std::vector<std::string> fields = absl::StrSplit(line, ' ');
  FrontRequest request;
  if (fields.size() != 5 || !absl::SimpleAtoi(fields[1], &request.client_port) ||
      !absl::SimpleAtoi(fields[4], &request.status)) {
    return std::nullopt;
  }
  request.alpn = fields[0];
  request.method = fields[2];
  request.path = fields[3];
  return request;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Http2Front>> Http2Front::Start(const std::string& cert_file,
                                                              const std::string& key_file,
                                                              int backend_port) {
  const std::string binary = NghttpxBinary();
  if (binary.empty()) {
    return absl::FailedPreconditionError(
        "nghttpx is not installed (Debian package nghttp2-proxy; scripts/install-deps.sh)");
  }
  std::string last_output;
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::unique_ptr<Http2Front> front(new Http2Front());
    front->port_ = UnusedLoopbackPort();
    front->process_ = std::make_unique<GengateProcess>(
        binary,
        std::vector<std::string>{
            "--conf=/dev/null",  // not the system's /etc/nghttpx/nghttpx.conf
            "--single-process",
            "--workers=1",
            absl::StrCat("--frontend=127.0.0.1,", front->port_),
            absl::StrCat("--backend=127.0.0.1,", backend_port, ";;proto=http/1.1"),
            "--no-ocsp",
            "--no-via",
            "--log-level=NOTICE",
            "--errorlog-file=/dev/stderr",
            "--accesslog-file=/dev/stdout",
            absl::StrCat("--accesslog-format=", kAccessPrefix,
                         "$alpn $remote_port $method $path $status"),
            key_file,
            cert_file,
        });
    if (absl::Status spawned = front->process_->Spawn(); !spawned.ok()) return spawned;
    std::optional<std::string> line = front->process_->WaitForOutputLine(
        [](absl::string_view text) {
          return absl::StrContains(text, "Listening on ") || absl::StrContains(text, "FATAL");
        },
        absl::Seconds(10));
    // Connections made before its event loop runs wait in the listen backlog.
    if (line.has_value() && absl::StrContains(*line, "Listening on ")) return front;
    last_output = front->process_->OutputText();
    // A bind failure (the port was taken in between) is worth another port; anything else
    // fails the same way again, but five tries cost little.
  }
  return absl::InternalError(absl::StrCat("nghttpx did not start: ", last_output));
}

std::vector<FrontRequest> Http2Front::Requests() const {
  std::vector<FrontRequest> requests;
  for (const std::string& line : process_->StdoutLines()) {
    if (std::optional<FrontRequest> request = ParseAccessLine(line)) {
      requests.push_back(*std::move(request));
    }
  }
  return requests;
}

bool Http2Front::WaitForRequests(int count, absl::Duration timeout) const {
  int seen = 0;
  return process_
      ->WaitForOutputLine(
          [&](absl::string_view line) {
            return ParseAccessLine(line).has_value() && ++seen >= count;
          },
          timeout)
      .has_value();
}

}  // namespace gengate::testing
