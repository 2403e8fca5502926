#include "http/curl_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace gengate::http {
namespace {

using status::TransportFailure;

// Maps curl's result codes to the failure kinds the status library understands; this is the
// only place that knows curl's codes. `before_deadline`: the transfer's request deadline had
// not passed yet.
TransportFailure FailureFromCurl(CURLcode code, bool before_deadline) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return TransportFailure::kResolve;
    case CURLE_COULDNT_CONNECT:
      return TransportFailure::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      // curl runs two timers: CURLOPT_CONNECTTIMEOUT, and CURLOPT_TIMEOUT a second after the
      // request deadline, which the client's own deadline timer beats. So a timeout before the
      // deadline is the connect timeout: the upstream is unreachable, not slow.
      return before_deadline ? TransportFailure::kConnect : TransportFailure::kTimeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return TransportFailure::kTls;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
      return TransportFailure::kReset;
    default:
      return TransportFailure::kInternal;
  }
}

class CurlClient final : public Client {
 public:
  explicit CurlClient(const CurlClientOptions& options)
      : options_(options),
        user_agent_header_(options.user_agent.empty()
                               ? std::string()
                               : absl::StrCat("User-Agent: ", options.user_agent)) {}
  ~CurlClient() override;

  absl::Status Init();

  void StartTransfer(TransferId id, Request request, ResponseHandler& handler) override;
  void Cancel(TransferId id, TransportFailure reason) override;
  void CancelAll(TransportFailure reason) override;
  ConnectionStats Connections() const override {
    return {connections_open_.load(std::memory_order_relaxed),
            connections_opened_.load(std::memory_order_relaxed)};
  }

 private:
  // One transfer; owned by the loop thread.
  struct Transfer {
    TransferId id = 0;
    CURL* easy = nullptr;
    ResponseHandler* handler = nullptr;
    Request request;  // keeps the body alive: CURLOPT_POSTFIELDS does not copy
    curl_slist* headers = nullptr;
    curl_mime* mime = nullptr;
    // Read positions of the multipart parts (curl reads the bytes in place, never copies them).
    std::vector<std::pair<const std::string*, size_t>> form_cursors;
    ResponseHead head;
    bool head_delivered = false;
    absl::Time started;
    absl::Time last_activity;
    absl::Time idle_deadline = absl::InfiniteFuture();  // the key it has in idle_queue_
    char error[CURL_ERROR_SIZE] = {};
  };

  struct Command {
    enum class Kind { kStart, kCancel, kCancelAll } kind;
    TransferId id;
    Request request;
    ResponseHandler* handler = nullptr;
    TransportFailure reason = TransportFailure::kCancelled;
  };

  void Push(Command command);
  void Loop();
  void ProcessCommands();
  void StartTransfer(Command& command);
  // Ends every transfer with `reason`.
  void FinishAll(TransportFailure reason, std::string_view detail);
  // An easy handle from the pool, or a new one, with the options every transfer shares set;
  // nullptr when curl cannot make one. `fresh` asks for one that no transfer used since its
  // last reset.
  CURL* TakeEasy(bool fresh);
  // `clean`: the transfer succeeded and set only what the next one sets again, so the handle
  // can skip curl_easy_reset.
  void ReturnEasy(CURL* easy, bool clean);
  void SetSharedOptions(CURL* easy);
  // `url` parsed once for every transfer to it (CURLOPT_CURLU), or nullptr: curl parses the
  // text itself, and reports the error if there is one.
  CURLU* ParsedUrl(const std::string& url);
  // Removes the transfer and reports `result` to its handler.
  void Finish(TransferId id, TransferResult result);
  void ReapCompleted();
  void ExpireIdle(absl::Time now);
  // Ends the transfers whose request deadline passed.
  void ExpireDeadlines(absl::Time now);
  // Takes the first entry of `queue` that is due at `now`, if any.
  static std::optional<TransferId> PopDue(std::multimap<absl::Time, TransferId>& queue,
                                          absl::Time now);
  // Removes `id`'s entry under `key` (InfiniteFuture: it has none).
  static void EraseTimer(std::multimap<absl::Time, TransferId>& queue, absl::Time key,
                         TransferId id);
  void ArmIdle(Transfer& transfer);
  int NextTimeoutMs(absl::Time now) const;

  static int OnSocket(CURL* easy, curl_socket_t fd, int what, void* self, void* socket_data);
  static curl_socket_t OnOpenSocket(void* self, curlsocktype purpose, curl_sockaddr* address);
  static int OnCloseSocket(void* self, curl_socket_t fd);
  // Makes epoll watch `fd` for `events` (0: curl no longer watches it), with as few epoll_ctl
  // calls as it takes.
  void Watch(int fd, std::uint32_t events);
  // An event on a socket curl parked: it is an idle pooled connection that the upstream
  // closed or wrote to. epoll stops watching it; curl finds it dead when it next checks it.
  bool DropIfParked(int fd);
  static int OnTimer(CURLM* multi, long timeout_ms, void* self);
  static size_t OnHeader(char* data, size_t size, size_t count, void* transfer);
  static size_t OnWrite(char* data, size_t size, size_t count, void* transfer);
  static void DeliverHead(Transfer& transfer);

  const CurlClientOptions options_;
  // Sent as a header of its own: CURLOPT_USERAGENT is formatted into a new string by
  // curl_maprintf on every transfer.
  const std::string user_agent_header_;
  CURLM* multi_ = nullptr;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  // Counted in the open and close socket callbacks; read by any thread.
  std::atomic<std::int64_t> connections_open_{0};
  std::atomic<std::uint64_t> connections_opened_{0};

  absl::Mutex mu_;
  std::vector<Command> commands_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Loop-thread state.
  absl::flat_hash_map<TransferId, std::unique_ptr<Transfer>> transfers_;
  // The sockets epoll watches, each with the events curl asked for. A connection that goes
  // back to curl's pool is *parked*: curl no longer watches it (CURL_POLL_REMOVE), but it stays
  // in epoll for EPOLLIN, so the next transfer that reuses it costs no epoll_ctl, where
  // deleting and adding it back cost two per call. A parked socket that turns readable (the
  // upstream closed it) is dropped from epoll at once. curl's close callback drops a socket
  // before its number can be reused; the open callback and Watch's fallbacks make sure a
  // reused number is never taken for one epoll still has.
  struct Watched {
    std::uint32_t registered = 0;  // the events epoll has for it
    bool parked = false;
  };
  absl::flat_hash_map<int, Watched> watched_;
  std::multimap<absl::Time, TransferId> idle_queue_;
  // Request deadlines, enforced here rather than by curl's CURLOPT_TIMEOUT: a transfer curl
  // times out itself is done before Finish could set FORBID_REUSE, and on HTTP/2 curl then
  // keeps the connection with the stream reset only in its queue (see CURLMOPT_PIPELINING),
  // so the upstream would never hear of it. Keyed by Transfer::request.deadline.
  std::multimap<absl::Time, TransferId> deadline_queue_;
  // Easy handles of finished transfers, kept for the next ones: creating a handle costs more
  // than resetting one (its buffers, DNS and TLS session hooks stay allocated), and resetting
  // one and setting its options again costs more than overwriting the options that differ.
  // A handle whose transfer failed (FORBID_REUSE) or sent a form is reset before it goes back.
  struct PooledEasy {
    CURL* easy = nullptr;
    bool used = false;  // a transfer ran on it since its last reset
  };
  std::vector<PooledEasy> idle_easy_;
  absl::Time curl_deadline_ = absl::InfiniteFuture();
  // Parsed upstream URLs: a gateway sends to a handful of them, and curl would otherwise parse
  // the text anew (curl_url_set, then curl_url_get for each part) on every transfer; handing it
  // a parsed one leaves a copy. At most kMaxParsedUrls; URLs beyond them are parsed by curl.
  static constexpr std::size_t kMaxParsedUrls = 64;
  absl::flat_hash_map<std::string, CURLU*> parsed_urls_;
};

absl::Status CurlClient::Init() {
  static const CURLcode global = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (global != CURLE_OK) return absl::InternalError("curl_global_init failed");
  multi_ = curl_multi_init();
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (multi_ == nullptr || epoll_fd_ < 0 || wake_fd_ < 0) {
    return absl::InternalError(
        absl::StrCat("cannot create the HTTP event loop: ", strerror(errno)));
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = wake_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event);

  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlClient::OnSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlClient::OnTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  // One transfer per connection at a time, HTTP/2 included: an aborted call must stop the
  // upstream at once, and with libcurl 7.88 only closing its connection does that. Its
  // RST_STREAM for a multiplexed stream stays queued until other traffic moves on the
  // connection (curl/curl#17611), so a cancelled generation would run on while its siblings
  // are quiet. Connections are still kept alive and reused call after call.
  curl_multi_setopt(multi_, CURLMOPT_PIPELINING, long{CURLPIPE_NOTHING});
  curl_multi_setopt(multi_, CURLMOPT_MAX_CONCURRENT_STREAMS, 1L);
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, long{options_.max_host_connections});
  // Keep every allowed connection in the cache so bursts reuse them instead of reconnecting.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, long{options_.max_host_connections * 2});
  thread_ = std::thread([this] { Loop(); });
  // Named so that `top -H`, `perf report --sort comm` and /proc tell the loop from gRPC's
  // threads (15 characters at most).
  pthread_setname_np(thread_.native_handle(), "gengate-http");
  return absl::OkStatus();
}

CurlClient::~CurlClient() {
  if (thread_.joinable()) {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
    thread_.join();
  }
  for (const PooledEasy& pooled : idle_easy_) curl_easy_cleanup(pooled.easy);
  for (const auto& [url, parsed] : parsed_urls_) curl_url_cleanup(parsed);
  if (multi_ != nullptr) curl_multi_cleanup(multi_);
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void CurlClient::StartTransfer(TransferId id, Request request, ResponseHandler& handler) {
  Push(Command{Command::Kind::kStart, id, std::move(request), &handler});
}

void CurlClient::Cancel(TransferId id, TransportFailure reason) {
  Push(Command{Command::Kind::kCancel, id, Request{}, nullptr, reason});
}

void CurlClient::CancelAll(TransportFailure reason) {
  Push(Command{Command::Kind::kCancelAll, 0, Request{}, nullptr, reason});
}

void CurlClient::Push(Command command) {
  bool wake;
  {
    absl::MutexLock lock(&mu_);
    wake = commands_.empty();  // a non-empty queue already has a wakeup pending
    commands_.push_back(std::move(command));
  }
  if (wake) {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  }
}

int CurlClient::NextTimeoutMs(absl::Time now) const {
  absl::Time next = curl_deadline_;
  if (!idle_queue_.empty()) next = std::min(next, idle_queue_.begin()->first);
  if (!deadline_queue_.empty()) next = std::min(next, deadline_queue_.begin()->first);
  if (next == absl::InfiniteFuture()) return -1;
  if (next <= now) return 0;
  // Round up so we never wake just before the deadline and spin.
  return static_cast<int>(std::min<std::int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(next - now, absl::Milliseconds(1))), 60'000));
}

void CurlClient::Loop() {
  std::vector<epoll_event> events(256);
  for (;;) {
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                             NextTimeoutMs(absl::Now()));
    int running = 0;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_fd_) {
        std::uint64_t count;
        [[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof(count));
        continue;
      }
      if (DropIfParked(fd)) continue;
      int flags = 0;
      if (events[i].events & EPOLLIN) flags |= CURL_CSELECT_IN;
      if (events[i].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
      curl_multi_socket_action(multi_, fd, flags, &running);
    }
    const absl::Time now = absl::Now();
    if (now >= curl_deadline_) {
      curl_deadline_ = absl::InfiniteFuture();
      curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    ReapCompleted();
    ExpireIdle(now);
    ExpireDeadlines(now);
    ProcessCommands();
    {
      absl::MutexLock lock(&mu_);
      if (stopping_ && commands_.empty()) break;
    }
  }
  // Shutting down: whatever still runs ends now.
  FinishAll(TransportFailure::kShuttingDown, "the gateway is shutting down");
}

void CurlClient::FinishAll(TransportFailure reason, std::string_view detail) {
  std::vector<TransferId> ids;
  ids.reserve(transfers_.size());
  for (const auto& [id, transfer] : transfers_) ids.push_back(id);
  for (TransferId id : ids) Finish(id, {reason, std::string(detail)});
}

void CurlClient::ProcessCommands() {
  std::vector<Command> commands;
  {
    absl::MutexLock lock(&mu_);
    commands.swap(commands_);
  }
  for (Command& command : commands) {
    switch (command.kind) {
      case Command::Kind::kStart:
        StartTransfer(command);
        break;
      case Command::Kind::kCancel:
        if (transfers_.contains(command.id)) {
          Finish(command.id, {command.reason, "cancelled by the gateway"});
        }
        break;
      case Command::Kind::kCancelAll:
        FinishAll(command.reason, "cancelled by the gateway");
        break;
    }
  }
}

void CurlClient::StartTransfer(Command& command) {
  auto transfer = std::make_unique<Transfer>();
  transfer->id = command.id;
  transfer->handler = command.handler;
  transfer->request = std::move(command.request);
  transfer->started = absl::Now();
  transfer->last_activity = transfer->started;
  const Request& request = transfer->request;

  CURL* easy = TakeEasy(/*fresh=*/!request.form.empty());
  if (easy == nullptr) {
    command.handler->OnComplete({TransportFailure::kInternal, "curl_easy_init failed"});
    return;
  }
  transfer->easy = easy;
  // Everything below is set on every transfer, so a reused handle carries nothing over.
  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  // Takes precedence over CURLOPT_URL when not null.
  curl_easy_setopt(easy, CURLOPT_CURLU, ParsedUrl(request.url));
  curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer.get());
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error);
  long timeout_ms = 0;  // none
  if (request.deadline != absl::InfiniteFuture()) {
    deadline_queue_.emplace(request.deadline, transfer->id);
    // curl's own limit only backs up deadline_queue_, a second after it.
    const absl::Duration left = request.deadline - transfer->started + absl::Seconds(1);
    timeout_ms = static_cast<long>(std::max<std::int64_t>(1, absl::ToInt64Milliseconds(left)));
  }
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, transfer.get());
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());

  for (const Header& header : request.headers) {
    transfer->headers = curl_slist_append(transfer->headers,
                                          absl::StrCat(header.name, ": ", header.value).c_str());
  }
  if (!user_agent_header_.empty()) {
    transfer->headers = curl_slist_append(transfer->headers, user_agent_header_.c_str());
  }
  // No "Expect: 100-continue" round trip before large bodies.
  transfer->headers = curl_slist_append(transfer->headers, "Expect:");
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer->headers);

  if (!request.form.empty()) {
    transfer->mime = curl_mime_init(easy);
    transfer->form_cursors.reserve(request.form.size());  // stable addresses for curl
    for (const FormPart& part : request.form) {
      curl_mimepart* field = curl_mime_addpart(transfer->mime);
      curl_mime_name(field, part.name.c_str());
      // The bytes live in transfer->request until the transfer ends, so curl reads them in place.
      auto& cursor = transfer->form_cursors.emplace_back(&part.value, 0);
      curl_mime_data_cb(
          field, static_cast<curl_off_t>(part.value.size()),
          [](char* buffer, size_t size, size_t count, void* arg) -> size_t {
            auto* cursor = static_cast<std::pair<const std::string*, size_t>*>(arg);
            const size_t n = std::min(size * count, cursor->first->size() - cursor->second);
            std::memcpy(buffer, cursor->first->data() + cursor->second, n);
            cursor->second += n;
            return n;
          },
          [](void* arg, curl_off_t offset, int origin) -> int {
            auto* cursor = static_cast<std::pair<const std::string*, size_t>*>(arg);
            if (origin != SEEK_SET || offset < 0 ||
                static_cast<size_t>(offset) > cursor->first->size()) {
              return CURL_SEEKFUNC_CANTSEEK;
            }
            cursor->second = static_cast<size_t>(offset);
            return CURL_SEEKFUNC_OK;
          },
          /*freefunc=*/nullptr, &cursor);
      if (!part.filename.empty()) curl_mime_filename(field, part.filename.c_str());
      if (!part.content_type.empty()) curl_mime_type(field, part.content_type.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_MIMEPOST, transfer->mime);
  } else {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  }

  Transfer& ref = *transfer;
  transfers_.emplace(ref.id, std::move(transfer));
  ArmIdle(ref);
  if (const CURLMcode code = curl_multi_add_handle(multi_, easy); code != CURLM_OK) {
    Finish(ref.id, {TransportFailure::kInternal, curl_multi_strerror(code)});
  }
}

CURL* CurlClient::TakeEasy(bool fresh) {
  PooledEasy pooled;
  if (!idle_easy_.empty()) {
    pooled = idle_easy_.back();
    idle_easy_.pop_back();
  } else {
    pooled.easy = curl_easy_init();
    if (pooled.easy == nullptr) return nullptr;
    SetSharedOptions(pooled.easy);
  }
  if (fresh && pooled.used) {
    curl_easy_reset(pooled.easy);
    SetSharedOptions(pooled.easy);
  }
  return pooled.easy;
}

void CurlClient::ReturnEasy(CURL* easy, bool clean) {
  // As many as the connections that can be busy at once; beyond that, a burst's extra
  // handles are freed rather than kept forever.
  if (idle_easy_.size() >= static_cast<std::size_t>(options_.max_host_connections)) {
    curl_easy_cleanup(easy);
    return;
  }
  if (!clean) {
    curl_easy_reset(easy);  // every option back to its default, FORBID_REUSE and forms included
    SetSharedOptions(easy);
  }
  idle_easy_.push_back({easy, /*used=*/clean});
}

void CurlClient::SetSharedOptions(CURL* easy) {
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, long{CURL_HTTP_VERSION_2TLS});
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  // Connections remember these from the transfer that opened them.
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &CurlClient::OnOpenSocket);
  curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &CurlClient::OnCloseSocket);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
  if (!options_.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &CurlClient::OnHeader);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &CurlClient::OnWrite);
}

CURLU* CurlClient::ParsedUrl(const std::string& url) {
  if (auto it = parsed_urls_.find(url); it != parsed_urls_.end()) return it->second;
  if (parsed_urls_.size() >= kMaxParsedUrls) return nullptr;
  CURLU* parsed = curl_url();
  if (parsed != nullptr && curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    curl_url_cleanup(parsed);
    parsed = nullptr;
  }
  parsed_urls_.emplace(url, parsed);
  return parsed;
}

void CurlClient::ArmIdle(Transfer& transfer) {
  if (transfer.request.idle_timeout == absl::InfiniteDuration()) return;
  transfer.idle_deadline = transfer.last_activity + transfer.request.idle_timeout;
  idle_queue_.emplace(transfer.idle_deadline, transfer.id);
}

// Idle timers are lazy: bytes only move last_activity; an expired entry whose transfer saw
// bytes since is re-armed instead of firing.
void CurlClient::ExpireIdle(absl::Time now) {
  while (const std::optional<TransferId> id = PopDue(idle_queue_, now)) {
    auto it = transfers_.find(*id);
    if (it == transfers_.end()) continue;
    Transfer& transfer = *it->second;
    if (transfer.last_activity + transfer.request.idle_timeout > now) {
      ArmIdle(transfer);
      continue;
    }
    Finish(*id, {TransportFailure::kIdleTimeout,
                 absl::StrCat("the upstream sent nothing for ",
                              absl::FormatDuration(transfer.request.idle_timeout))});
  }
}

std::optional<TransferId> CurlClient::PopDue(std::multimap<absl::Time, TransferId>& queue,
                                             absl::Time now) {
  if (queue.empty() || queue.begin()->first > now) return std::nullopt;
  const TransferId id = queue.begin()->second;
  queue.erase(queue.begin());
  return id;
}

void CurlClient::EraseTimer(std::multimap<absl::Time, TransferId>& queue, absl::Time key,
                            TransferId id) {
  if (key == absl::InfiniteFuture()) return;
  auto [first, last] = queue.equal_range(key);
  for (auto entry = first; entry != last; ++entry) {
    if (entry->second == id) {
      queue.erase(entry);
      return;
    }
  }
}

void CurlClient::ExpireDeadlines(absl::Time now) {
  while (const std::optional<TransferId> id = PopDue(deadline_queue_, now)) {
    auto it = transfers_.find(*id);
    if (it == transfers_.end()) continue;
    const Transfer& transfer = *it->second;
    const absl::Duration allowed = std::max(
        absl::ZeroDuration(),
        absl::Trunc(transfer.request.deadline - transfer.started, absl::Milliseconds(1)));
    Finish(*id, {TransportFailure::kTimeout,
                 absl::StrCat("no complete answer within the request's ",
                              absl::FormatDuration(allowed))});
  }
}

void CurlClient::Finish(TransferId id, TransferResult result) {
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  std::unique_ptr<Transfer> transfer = std::move(it->second);
  transfers_.erase(it);
  EraseTimer(idle_queue_, transfer->idle_deadline, id);
  EraseTimer(deadline_queue_, transfer->request.deadline, id);
  if (result.failure.has_value()) {
    // An aborted transfer closes its connection (it has it to itself: see CURLMOPT_PIPELINING)
    // so the upstream sees the close and stops generating; nothing half-read goes back to
    // the pool.
    curl_easy_setopt(transfer->easy, CURLOPT_FORBID_REUSE, 1L);
  }
  if (!result.failure.has_value() && !transfer->head_delivered) DeliverHead(*transfer);
  curl_multi_remove_handle(multi_, transfer->easy);
  ReturnEasy(transfer->easy, !result.failure.has_value() && transfer->mime == nullptr);
  result.client_busy = !transfers_.empty();
  if (transfer->mime != nullptr) curl_mime_free(transfer->mime);
  curl_slist_free_all(transfer->headers);
  transfer->handler->OnComplete(result);
}

void CurlClient::ReapCompleted() {
  int pending = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &pending)) {
    if (message->msg != CURLMSG_DONE) continue;
    Transfer* transfer = nullptr;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &transfer);
    const CURLcode code = message->data.result;
    TransferResult result;
    if (code != CURLE_OK) {
      result.failure = FailureFromCurl(code, absl::Now() < transfer->request.deadline);
      result.detail = transfer->error[0] != '\0' ? transfer->error : curl_easy_strerror(code);
    }
    Finish(transfer->id, std::move(result));
  }
}

void CurlClient::DeliverHead(Transfer& transfer) {
  long code = 0;
  curl_easy_getinfo(transfer.easy, CURLINFO_RESPONSE_CODE, &code);
  transfer.head.status = static_cast<int>(code);
  transfer.head_delivered = true;
  transfer.handler->OnResponseHead(std::move(transfer.head));
}

int CurlClient::OnSocket(CURL*, curl_socket_t fd, int what, void* self, void*) {
  std::uint32_t events = 0;
  if (what & CURL_POLL_IN) events |= EPOLLIN;
  if (what & CURL_POLL_OUT) events |= EPOLLOUT;
  static_cast<CurlClient*>(self)->Watch(fd, what == CURL_POLL_REMOVE ? 0 : events);
  return 0;
}

void CurlClient::Watch(int fd, std::uint32_t events) {
  auto it = watched_.find(fd);
  if (events == 0) {
    if (it == watched_.end()) return;
    if (it->second.registered == EPOLLIN) {
      it->second.parked = true;
      return;
    }
    // Parked for writing, an idle socket would wake the loop on every turn.
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    watched_.erase(it);
    return;
  }
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  if (it == watched_.end()) {
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0 && errno == EEXIST) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
    }
    watched_.emplace(fd, Watched{events, false});
    return;
  }
  it->second.parked = false;
  if (it->second.registered != events) {
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event) != 0 && errno == ENOENT) {
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
    }
    it->second.registered = events;
  }
}

bool CurlClient::DropIfParked(int fd) {
  auto it = watched_.find(fd);
  if (it == watched_.end() || !it->second.parked) return false;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  watched_.erase(it);
  return true;
}

curl_socket_t CurlClient::OnOpenSocket(void* self, curlsocktype, curl_sockaddr* address) {
  const int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  // Should curl ever have closed a parked socket past the close callback, the kernel dropped
  // it from epoll then, and its number, reused now, must not look watched.
  if (fd < 0) return CURL_SOCKET_BAD;
  auto* client = static_cast<CurlClient*>(self);
  client->watched_.erase(fd);
  client->connections_open_.fetch_add(1, std::memory_order_relaxed);
  client->connections_opened_.fetch_add(1, std::memory_order_relaxed);
  return fd;
}

int CurlClient::OnCloseSocket(void* self, curl_socket_t fd) {
  auto* client = static_cast<CurlClient*>(self);
  if (client->watched_.erase(fd) > 0) epoll_ctl(client->epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  client->connections_open_.fetch_sub(1, std::memory_order_relaxed);
  return close(fd);
}

int CurlClient::OnTimer(CURLM*, long timeout_ms, void* self) {
  auto* client = static_cast<CurlClient*>(self);
  client->curl_deadline_ =
      timeout_ms < 0 ? absl::InfiniteFuture() : absl::Now() + absl::Milliseconds(timeout_ms);
  return 0;
}

size_t CurlClient::OnHeader(char* data, size_t size, size_t count, void* arg) {
  auto& transfer = *static_cast<Transfer*>(arg);
  const size_t bytes = size * count;
  transfer.last_activity = absl::Now();
  absl::string_view line(data, bytes);
  line = absl::StripTrailingAsciiWhitespace(line);
  if (line.empty()) {
    // End of a header block; 1xx blocks (100 Continue) are followed by the real one.
    long code = 0;
    curl_easy_getinfo(transfer.easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && !transfer.head_delivered) DeliverHead(transfer);
    return bytes;
  }
  if (transfer.head_delivered) return bytes;  // trailers: nothing reads them
  if (absl::StartsWith(line, "HTTP/")) {
    transfer.head.headers.clear();  // a new block (after 1xx) starts over
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    transfer.head.headers.push_back(
        {absl::AsciiStrToLower(line.substr(0, colon)),
         std::string(absl::StripLeadingAsciiWhitespace(line.substr(colon + 1)))});
  }
  return bytes;
}

size_t CurlClient::OnWrite(char* data, size_t size, size_t count, void* arg) {
  auto& transfer = *static_cast<Transfer*>(arg);
  const size_t bytes = size * count;
  transfer.last_activity = absl::Now();
  if (!transfer.head_delivered) DeliverHead(transfer);
  transfer.handler->OnBody(std::string_view(data, bytes));
  return bytes;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> NewCurlClient(const CurlClientOptions& options) {
  auto client = std::make_unique<CurlClient>(options);
  if (absl::Status status = client->Init(); !status.ok()) return status;
  return client;
}

}  // namespace gengate::http
