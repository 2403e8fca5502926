// Runs the real gengate binary as a child process for integration tests.
//
// The child gets the flags and environment the test chooses (GENGATE_* variables of the test's
// own environment are dropped so a developer's shell cannot change a test), its stdout and
// stderr are piped into a reader thread that keeps every line, and Start() waits for the JSON
// "serving" line to learn the address the server actually bound (tests pass port 0). The
// child is killed if the test process dies (PR_SET_PDEATHSIG), and the destructor terminates
// and reaps it.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "nlohmann/json.hpp"

namespace gengate::testing {

using EnvironmentList = std::vector<std::pair<std::string, std::string>>;

class GengateProcess {
 public:
  // `args` excludes argv[0]; `environment` is added to the test's environment.
  GengateProcess(std::string binary, std::vector<std::string> args,
                 EnvironmentList environment = {});
  ~GengateProcess();
  GengateProcess(const GengateProcess&) = delete;
  GengateProcess& operator=(const GengateProcess&) = delete;

  // Starts the child without waiting for anything.
  absl::Status Spawn();
  // Spawn(), then waits for a stdout line {"msg":"serving","listen":ADDRESS,...}. The error
  // names the reason (exit, timeout) and quotes everything the process printed.
  absl::Status Start(absl::Duration timeout = absl::Seconds(20));

  // The gRPC address from the serving line, e.g. "127.0.0.1:41234".
  const std::string& listen_address() const { return listen_address_; }
  // The serving line itself, parsed.
  const nlohmann::json& serving_line() const { return serving_line_; }
  // One channel to listen_address(), made on first use.
  std::shared_ptr<grpc::Channel> channel();
  // A fresh channel (its own HTTP/2 connection).
  std::shared_ptr<grpc::Channel> NewChannel() const;

  pid_t pid() const { return pid_; }
  bool Signal(int signal_number);
  // Waits for the child to exit and reaps it. Returns the exit code, 128 + N when signal N
  // killed it, or nullopt on timeout.
  std::optional<int> Wait(absl::Duration timeout = absl::Seconds(30));

  // Every line printed so far, stdout and stderr, in arrival order.
  std::vector<std::string> OutputLines() const;
  std::vector<std::string> StdoutLines() const;
  // All output as one text, for failure messages.
  std::string OutputText() const;
  // Waits for an output line for which `matches` holds; returns it, or nullopt on timeout.
  std::optional<std::string> WaitForOutputLine(std::function<bool(absl::string_view)> matches,
                                               absl::Duration timeout) const;
  // Waits for a stdout line that is a JSON object for which `matches` holds.
  std::optional<nlohmann::json> WaitForJsonLine(
      std::function<bool(const nlohmann::json&)> matches, absl::Duration timeout) const;
  // True once both pipes reached end of file (the process and its heirs are gone).
  bool OutputClosed() const;

 private:
  struct Line {
    bool from_stdout;
    std::string text;
  };
  void ReadOutput(int stdout_fd, int stderr_fd);

  const std::string binary_;
  const std::vector<std::string> args_;
  const EnvironmentList environment_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> exit_code_;
  std::thread reader_;
  std::string listen_address_;
  nlohmann::json serving_line_;
  std::shared_ptr<grpc::Channel> channel_;

  mutable absl::Mutex mu_;
  std::vector<Line> lines_ ABSL_GUARDED_BY(mu_);
  bool output_closed_ ABSL_GUARDED_BY(mu_) = false;
};

// Parses a line as a JSON object; nullopt when it is not one.
std::optional<nlohmann::json> ParseJsonObject(absl::string_view line);

struct ExitResult {
  std::optional<int> exit_code;  // nullopt: did not exit within the timeout (then killed)
  std::vector<std::string> lines;  // stdout and stderr, in arrival order
};

// Runs the binary to completion, for configuration tests (bad config exits 2 with one line).
ExitResult RunToExit(std::string binary, std::vector<std::string> args,
                     EnvironmentList environment = {}, absl::Duration timeout = absl::Seconds(20));

}  // namespace gengate::testing
