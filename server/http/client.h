// http::Client: how the services talk to the upstream, without knowing about curl.
//
// A transfer is started with a Request and a ResponseHandler; the handler's callbacks run on
// the client's own thread (the event loop), in order, and OnComplete is called exactly once,
// after which the client never touches the handler again. The handler must stay alive until
// then. Cancel may be called from any thread at any time, also after completion (a no-op).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "status/status.h"

namespace gengate::http {

struct Header {
  std::string name;
  std::string value;
};

// One part of a multipart/form-data body.
struct FormPart {
  std::string name;          // e.g. "image[]", "mask", "prompt"
  std::string value;         // the field value or the file's bytes
  std::string filename;      // set for file parts
  std::string content_type;  // set for file parts
};

struct Request {
  std::string url;
  std::vector<Header> headers;
  // A JSON (or other) body; used when `form` is empty.
  std::string body;
  // A multipart/form-data body; when not empty, `body` is ignored.
  std::vector<FormPart> form;
  // The whole transfer ends with kTimeout at this time.
  absl::Time deadline = absl::InfiniteFuture();
  // The transfer ends with kIdleTimeout when no bytes arrive for this long.
  absl::Duration idle_timeout = absl::InfiniteDuration();
};

struct ResponseHead {
  int status = 0;
  std::vector<Header> headers;  // names in lower case

  // The first header with this (lower-case) name, or empty.
  std::string_view Find(std::string_view lower_name) const;
};

// How a transfer ended: success when `failure` is empty (the whole body arrived).
struct TransferResult {
  std::optional<status::TransportFailure> failure;
  std::string detail;  // human-readable, never contains request headers
  // Other transfers are still running on the client's thread. A handler with heavy work to
  // do on completion may hand it to another thread then, and do it in place when not.
  bool client_busy = false;
};

class ResponseHandler {
 public:
  virtual ~ResponseHandler() = default;
  // Status line and headers arrived. Called at most once, before any OnBody. The head is the
  // handler's to keep (the client moves it in).
  virtual void OnResponseHead(ResponseHead head) = 0;
  // The next piece of the body.
  virtual void OnBody(std::string_view bytes) = 0;
  // The transfer ended (completed, failed or cancelled). Called exactly once, last.
  virtual void OnComplete(const TransferResult& result) = 0;
};

using TransferId = std::uint64_t;

// Upstream connections of a client, for metrics. Each value is read on its own (together
// they are not one consistent snapshot).
struct ConnectionStats {
  std::int64_t open = 0;     // connected now: carrying a transfer or idle in the pool
  std::uint64_t opened = 0;  // connected since the client started
};

class Client {
 public:
  virtual ~Client() = default;

  // Starts a transfer and stores its id in `id` before any callback can run, so that the
  // handler may cancel its own transfer from its first callback. `handler` must outlive its
  // OnComplete.
  void Start(Request request, ResponseHandler& handler, TransferId& id) {
    id = NewTransferId();
    StartTransfer(id, std::move(request), handler);
  }

  // Starts a transfer under `id`, a fresh NewTransferId(). Services call Start; a client that
  // wraps another forwards here with the same id, so Cancel needs no translation.
  virtual void StartTransfer(TransferId id, Request request, ResponseHandler& handler) = 0;

  // Aborts a transfer at once; its OnComplete reports `reason`. Unknown or finished ids are
  // ignored.
  virtual void Cancel(TransferId id, status::TransportFailure reason) = 0;

  // Aborts every transfer started before this call, as Cancel does.
  virtual void CancelAll(status::TransportFailure reason) = 0;

  // Safe from any thread. A client with no connections of its own reports zeros.
  virtual ConnectionStats Connections() const { return {}; }

  // A fresh id, unique in the process: never 0 and never reused.
  static TransferId NewTransferId();
};

}  // namespace gengate::http
