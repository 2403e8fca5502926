// Structured logs: one line per entry on stdout, JSON (default) or text for humans.
//
// Callers pass fields explicitly; nothing here knows about requests, so no secret can slip in
// by accident: the API key is never given to the logger.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "config/config.h"

namespace gengate::observability {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

struct LogField {
  using Value = std::variant<std::string_view, std::int64_t, double, bool>;
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, std::int64_t v) : key(k), value(v) {}
  LogField(std::string_view k, int v) : key(k), value(std::int64_t{v}) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
  std::string_view key;
  Value value;
};

// Sets the format for the whole process; call once at startup (default JSON).
void SetLogFormat(config::LogFormat format);

// Whether call lines may carry the request body sent upstream (--log_payloads; off by
// default, since prompts are user data). Call once at startup.
void SetLogPayloads(bool enabled);
bool LogPayloads();

// Writes one line: {"ts":..., "level":..., "msg":..., fields...}. Thread-safe; each line is one
// write(2), so lines from different threads never interleave.
void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
// The same for fields chosen at run time.
void Log(LogLevel level, std::string_view msg, absl::Span<const LogField> fields);

// The "ts" of a line: RFC 3339 in UTC with milliseconds, e.g. 2026-12-02T14:40:03.512Z.
std::string LogTimestamp(absl::Time time);

// Formats a line without writing it (for tests).
std::string FormatLogLine(config::LogFormat format, LogLevel level, std::string_view msg,
                          absl::Span<const LogField> fields);

}  // namespace gengate::observability
