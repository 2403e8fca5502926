#include "observability/log.h"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/json_escape.h"

namespace gengate::observability {
namespace {

std::atomic<config::LogFormat> g_format{config::LogFormat::kJson};
std::atomic<bool> g_log_payloads{false};

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

using base::AppendJsonString;

// Whether a text-format value must be quoted to stay one value on one line: a space, quote or
// '=' would split it, a control character (a newline above all) would forge a line.
bool NeedsQuotes(std::string_view text) {
  if (text.empty()) return true;
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == ' ' || c == '"' || c == '=' || c == 0x7f) {
      return true;
    }
  }
  return false;
}

void AppendValue(std::string& out, const LogField::Value& value, bool json) {
  if (const auto* s = std::get_if<std::string_view>(&value)) {
    if (json || NeedsQuotes(*s)) {
      AppendJsonString(out, *s);  // in text, quoted and escaped so the line stays parseable
    } else {
      out.append(*s);
    }
  } else if (const auto* i = std::get_if<std::int64_t>(&value)) {
    absl::StrAppend(&out, *i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    if (std::isfinite(*d)) {
      // What printf's "%.3f" gives, without its format parsing.
      char digits[64];
      const auto [end, error] =
          std::to_chars(digits, digits + sizeof(digits), *d, std::chars_format::fixed, 3);
      if (error == std::errc()) {
        out.append(digits, end);
      } else {
        absl::StrAppendFormat(&out, "%.3f", *d);  // beyond 1e60: never a latency
      }
    } else {
      out.append(json ? "null" : "nan");
    }
  } else {
    out.append(std::get<bool>(value) ? "true" : "false");
  }
}

}  // namespace

std::string LogTimestamp(absl::Time time) {
  // Formatting through the time zone library costs more than the rest of a call's line; the
  // seconds part changes once a second, so each thread keeps the last one it made.
  struct Cache {
    std::int64_t second = 0;
    std::string text;  // "YYYY-MM-DDTHH:MM:SS" of `second`, empty before the first use
  };
  thread_local Cache cache;
  const std::int64_t millis = absl::ToUnixMillis(time);
  std::int64_t second = millis / 1000;
  std::int64_t milli = millis % 1000;
  if (milli < 0) {  // before 1970: the second below, as absl formats it
    milli += 1000;
    second -= 1;
  }
  if (cache.text.empty() || cache.second != second) {
    cache.second = second;
    cache.text = absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(second),
                                  absl::UTCTimeZone());
  }
  std::string out;
  out.reserve(cache.text.size() + 5);
  out.append(cache.text);
  const char fraction[] = {'.', static_cast<char>('0' + milli / 100),
                           static_cast<char>('0' + milli / 10 % 10),
                           static_cast<char>('0' + milli % 10), 'Z'};
  out.append(fraction, sizeof(fraction));
  return out;
}

void SetLogFormat(config::LogFormat format) { g_format.store(format); }

void SetLogPayloads(bool enabled) { g_log_payloads.store(enabled); }
bool LogPayloads() { return g_log_payloads.load(std::memory_order_relaxed); }

std::string FormatLogLine(config::LogFormat format, LogLevel level, std::string_view msg,
                          absl::Span<const LogField> fields) {
  const std::string ts = LogTimestamp(absl::Now());
  std::string line;
  line.reserve(256);
  if (format == config::LogFormat::kJson) {
    line.append("{\"ts\":\"").append(ts).append("\",\"level\":\"");
    line.append(LevelName(level)).append("\",\"msg\":");
    AppendJsonString(line, msg);
    for (const LogField& field : fields) {
      line.push_back(',');
      AppendJsonString(line, field.key);
      line.push_back(':');
      AppendValue(line, field.value, /*json=*/true);
    }
    line.push_back('}');
  } else {
    line.append(ts).append(" ").append(LevelName(level)).append(" ").append(msg);
    for (const LogField& field : fields) {
      line.append(" ").append(field.key).append("=");
      AppendValue(line, field.value, /*json=*/false);
    }
  }
  line.push_back('\n');
  return line;
}

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  Log(level, msg, absl::Span<const LogField>(fields.begin(), fields.size()));
}

void Log(LogLevel level, std::string_view msg, absl::Span<const LogField> fields) {
  const std::string line = FormatLogLine(g_format.load(), level, msg, fields);
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, line.data() + written, line.size() - written);
    if (n <= 0) return;  // stdout gone: logging must never take the server down
    written += static_cast<std::size_t>(n);
  }
}

}  // namespace gengate::observability
