#include "testing/gengate_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

extern char** environ;

namespace gengate::testing {
namespace {

constexpr int kMaxMessageBytes = 64 << 20;

// Reads `fd` until EOF into `partial`, handing complete lines to `emit`.
// Returns false at end of file.
template <typename Emit>
bool DrainPipe(int fd, std::string& partial, Emit emit) {
  char chunk[8192];
  ssize_t got = read(fd, chunk, sizeof(chunk));
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (got <= 0) {
    if (!partial.empty()) emit(std::move(partial));
    partial.clear();
    return false;
  }
  partial.append(chunk, static_cast<size_t>(got));
  size_t newline;
  while ((newline = partial.find('\n')) != std::string::npos) {
    std::string line = partial.substr(0, newline);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    emit(std::move(line));
    partial.erase(0, newline + 1);
  }
  return true;
}

}  // namespace

std::optional<nlohmann::json> ParseJsonObject(absl::string_view line) {
  if (line.empty() || line.front() != '{') return std::nullopt;
  nlohmann::json json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  return json;
}

GengateProcess::GengateProcess(std::string binary, std::vector<std::string> args,
                               EnvironmentList environment)
    : binary_(std::move(binary)), args_(std::move(args)), environment_(std::move(environment)) {}

GengateProcess::~GengateProcess() {
  // An idle client connection makes gRPC's graceful shutdown wait; drop ours first.
  channel_.reset();
  if (pid_ > 0 && !exit_code_.has_value()) {
    Signal(SIGTERM);
    if (!Wait(absl::Seconds(5)).has_value()) {
      Signal(SIGKILL);
      Wait(absl::Seconds(30));
    }
  }
  if (reader_.joinable()) reader_.join();
  if (pidfd_ >= 0) close(pidfd_);
}

absl::Status GengateProcess::Spawn() {
  if (pid_ > 0) return absl::FailedPreconditionError("already started");
  // Everything the child needs is built before fork: after it only async-signal-safe calls.
  std::vector<std::string> argv_storage = {binary_};
  argv_storage.insert(argv_storage.end(), args_.begin(), args_.end());
  std::vector<std::string> env_storage;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (!absl::StartsWith(*entry, "GENGATE_")) env_storage.emplace_back(*entry);
  }
  for (const auto& [name, value] : environment_) env_storage.push_back(absl::StrCat(name, "=", value));
  std::vector<char*> argv;
  for (std::string& arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int stdout_pipe[2];
  int stderr_pipe[2];
  if (pipe2(stdout_pipe, O_CLOEXEC) != 0 || pipe2(stderr_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", strerror(errno)));
  }
  int dev_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid_ == 0) {
    dup2(dev_null, STDIN_FILENO);
    dup2(stdout_pipe[1], STDOUT_FILENO);
    dup2(stderr_pipe[1], STDERR_FILENO);
    // The server must not outlive a crashed test.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    execve(argv[0], argv.data(), envp.data());
    static constexpr char kExecFailed[] = "GengateProcess: execve failed\n";
    ssize_t ignored = write(STDERR_FILENO, kExecFailed, sizeof(kExecFailed) - 1);
    (void)ignored;
    _exit(127);
  }
  close(dev_null);
  close(stdout_pipe[1]);
  close(stderr_pipe[1]);
  // Debian 12's <sys/pidfd.h> lacks extern "C", so the system calls are made directly.
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  if (pidfd_ < 0) return absl::InternalError(absl::StrCat("pidfd_open: ", strerror(errno)));
  reader_ = std::thread([this, out = stdout_pipe[0], err = stderr_pipe[0]] {
    ReadOutput(out, err);
  });
  return absl::OkStatus();
}

absl::Status GengateProcess::Start(absl::Duration timeout) {
  if (absl::Status spawned = Spawn(); !spawned.ok()) return spawned;
  std::optional<nlohmann::json> serving = WaitForJsonLine(
      [](const nlohmann::json& line) {
        return line.value("msg", "") == "serving" && line.contains("listen") &&
               line["listen"].is_string();
      },
      timeout);
  if (!serving.has_value()) {
    const bool exited = OutputClosed();
    return absl::DeadlineExceededError(absl::StrCat(
        binary_, " ", absl::StrJoin(args_, " "),
        exited ? ": exited before its serving line" : ": no serving line within ",
        exited ? "" : absl::FormatDuration(timeout), "; output:\n", OutputText()));
  }
  serving_line_ = *serving;
  listen_address_ = (*serving)["listen"].get<std::string>();
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> GengateProcess::channel() {
  if (channel_ == nullptr) channel_ = NewChannel();
  return channel_;
}

std::shared_ptr<grpc::Channel> GengateProcess::NewChannel() const {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(kMaxMessageBytes);
  arguments.SetMaxSendMessageSize(kMaxMessageBytes);
  // Separate channels must not share one subchannel: tests use them to get separate connections.
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(listen_address_, grpc::InsecureChannelCredentials(), arguments);
}

bool GengateProcess::Signal(int signal_number) {
  if (pidfd_ < 0 || exit_code_.has_value()) return false;
  return syscall(SYS_pidfd_send_signal, pidfd_, signal_number, nullptr, 0) == 0;
}

std::optional<int> GengateProcess::Wait(absl::Duration timeout) {
  if (exit_code_.has_value()) return exit_code_;
  if (pidfd_ < 0) return std::nullopt;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return std::nullopt;
    pollfd poll_fd{pidfd_, POLLIN, 0};
    int ready = poll(&poll_fd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready > 0) break;
  }
  int status = 0;
  if (waitpid(pid_, &status, 0) != pid_) return std::nullopt;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

void GengateProcess::ReadOutput(int stdout_fd, int stderr_fd) {
  std::string stdout_partial;
  std::string stderr_partial;
  bool stdout_open = true;
  bool stderr_open = true;
  auto emit = [this](bool from_stdout) {
    return [this, from_stdout](std::string line) {
      absl::MutexLock lock(&mu_);
      lines_.push_back(Line{from_stdout, std::move(line)});
    };
  };
  while (stdout_open || stderr_open) {
    pollfd fds[2] = {{stdout_open ? stdout_fd : -1, POLLIN, 0},
                     {stderr_open ? stderr_fd : -1, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (stdout_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      stdout_open = DrainPipe(stdout_fd, stdout_partial, emit(true));
    }
    if (stderr_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      stderr_open = DrainPipe(stderr_fd, stderr_partial, emit(false));
    }
  }
  close(stdout_fd);
  close(stderr_fd);
  absl::MutexLock lock(&mu_);
  output_closed_ = true;
}

std::vector<std::string> GengateProcess::OutputLines() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> lines;
  for (const Line& line : lines_) lines.push_back(line.text);
  return lines;
}

std::vector<std::string> GengateProcess::StdoutLines() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> lines;
  for (const Line& line : lines_) {
    if (line.from_stdout) lines.push_back(line.text);
  }
  return lines;
}

std::string GengateProcess::OutputText() const {
  absl::MutexLock lock(&mu_);
  std::string text;
  for (const Line& line : lines_) absl::StrAppend(&text, line.from_stdout ? "" : "[stderr] ", line.text, "\n");
  return text;
}

bool GengateProcess::OutputClosed() const {
  absl::MutexLock lock(&mu_);
  return output_closed_;
}

std::optional<std::string> GengateProcess::WaitForOutputLine(
    std::function<bool(absl::string_view)> matches, absl::Duration timeout) const {
  std::optional<std::string> found;
  size_t checked = 0;
  // Re-evaluated by the mutex whenever the reader thread adds a line, and possibly again after
  // it held: each line goes to `matches` once (callers may count in it), and a found line stays
  // found.
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (found.has_value()) return true;
    for (; checked < lines_.size(); ++checked) {
      if (matches(lines_[checked].text)) {
        found = lines_[checked].text;
        ++checked;
        return true;
      }
    }
    return output_closed_;
  };
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  return found;
}

std::optional<nlohmann::json> GengateProcess::WaitForJsonLine(
    std::function<bool(const nlohmann::json&)> matches, absl::Duration timeout) const {
  std::optional<std::string> line = WaitForOutputLine(
      [&matches](absl::string_view text) {
        std::optional<nlohmann::json> json = ParseJsonObject(text);
        return json.has_value() && matches(*json);
      },
      timeout);
  if (!line.has_value()) return std::nullopt;
  return ParseJsonObject(*line);
}

ExitResult RunToExit(std::string binary, std::vector<std::string> args,
                     EnvironmentList environment, absl::Duration timeout) {
  ExitResult result;
  {
    GengateProcess process(std::move(binary), std::move(args), std::move(environment));
    if (absl::Status spawned = process.Spawn(); !spawned.ok()) {
      result.lines.push_back(std::string(spawned.message()));
      return result;
    }
    result.exit_code = process.Wait(timeout);
    if (!result.exit_code.has_value()) {
      process.Signal(SIGKILL);
      process.Wait();
    }
    // The process is gone; its pipes reach EOF once the reader has drained them.
    process.WaitForOutputLine([](absl::string_view) { return false; }, absl::Seconds(5));
    result.lines = process.OutputLines();
  }
  return result;
}

}  // namespace gengate::testing
