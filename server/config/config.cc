#include "config/config.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <utility>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <system_error>
#include <fstream>
#include <sstream>

#include "absl/base/call_once.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "base/visible_ascii.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051", "gRPC listen address (host:port; port 0 picks one)");
ABSL_FLAG(std::string, admin_listen, "0.0.0.0:9090",
          "admin HTTP address for /metrics, /healthz, /readyz");
ABSL_FLAG(std::string, upstream_url, "",
          "upstream base URL (default https://api.acedata.cloud/openai); `fake` = built-in fake");
ABSL_FLAG(std::string, upstream_api_key_file, "",
          "file holding the upstream API key (or env GENGATE_UPSTREAM_API_KEY)");
ABSL_FLAG(std::string, upstream_ca_file, "",
          "PEM CA bundle to verify an https upstream against, instead of the system's store");
ABSL_FLAG(absl::Duration, default_timeout, absl::Seconds(600),
          "upstream time limit of a unary call when the caller set no deadline");
ABSL_FLAG(absl::Duration, stream_idle_timeout, absl::Seconds(120),
          "end a stream when the upstream sends nothing for this long");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(30), "grace for running calls on SIGTERM");
ABSL_FLAG(int, max_upstream_connections, 64, "maximum connections per upstream host");
ABSL_FLAG(std::string, stream_buffer_bytes, "1MiB",
          "per-stream queue cap; a reader that falls behind it gets RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, max_message_bytes, "64MiB", "maximum gRPC message size, received and sent");
ABSL_FLAG(std::string, log_format, "json", "log format: json or text");
ABSL_FLAG(bool, log_payloads, false,
          "add the upstream request body (cut to 4KiB) to call log lines; off: sizes only");
ABSL_FLAG(bool, reflection, true, "serve gRPC server reflection (for grpcurl and friends)");
ABSL_FLAG(bool, sched_batch, true,
          "run gengate's threads as SCHED_BATCH: a woken thread waits for the running one to "
          "block instead of preempting it, so work moves between threads in batches");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Seconds(60),
          "ping a client after this long without activity on its connection");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(20),
          "close a connection whose keepalive ping is not answered within this");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(30),
          "send GOAWAY to connections older than this (+-10%) so clients rebalance; inf = never");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::Minutes(10),
          "time calls still running on an aged connection get before it is closed");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain file: serve gRPC over TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key file for --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle: require client certificates signed by it (mTLS)");

namespace gengate::config {
namespace {

constexpr char kDefaultUpstream[] = "https://api.acedata.cloud/openai";

std::string EnvName(absl::string_view flag) {
  return absl::StrCat("GENGATE_", absl::AsciiStrToUpper(flag));
}

// Applies GENGATE_<FLAG> for every flag not given on the command line.
absl::Status ApplyEnvironment(const std::vector<std::string>& given) {
  for (const char* name :
       {"listen", "admin_listen", "upstream_url", "upstream_api_key_file", "upstream_ca_file",
        "default_timeout",
        "stream_idle_timeout", "drain_timeout", "max_upstream_connections",
        "stream_buffer_bytes", "max_message_bytes", "log_format", "log_payloads", "reflection",
        "sched_batch", "keepalive_time", "keepalive_timeout", "max_connection_age",
        "max_connection_age_grace", "tls_cert", "tls_key", "tls_client_ca"}) {
    if (std::find(given.begin(), given.end(), name) != given.end()) continue;
    const char* value = std::getenv(EnvName(name).c_str());
    if (value == nullptr) continue;
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    std::string error;
    if (flag == nullptr || !flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat(EnvName(name), ": invalid value \"", value, "\": ", error));
    }
  }
  return absl::OkStatus();
}

// Parses --name=value / --name value arguments into the registered flags, so that an unknown
// flag or a bad value becomes one clear error (exit 2) instead of abseil's exit 1. Returns the
// names given, for the environment fallback.
absl::StatusOr<std::vector<std::string>> ParseArguments(int argc, char** argv) {
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (!absl::ConsumePrefix(&arg, "--") && !absl::ConsumePrefix(&arg, "-")) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", arg, "\""));
    }
    const std::size_t eq = arg.find('=');
    std::string name(arg.substr(0, eq));
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    std::string value;
    if (eq != absl::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (flag != nullptr && flag->IsOfType<bool>()) {
      value = "true";  // a switch, as abseil's own parser reads it: --reflection
    } else if (flag == nullptr && absl::StartsWith(name, "no") &&
               absl::FindCommandLineFlag(name.substr(2)) != nullptr &&
               absl::FindCommandLineFlag(name.substr(2))->IsOfType<bool>()) {
      name = name.substr(2);  // --noreflection
      flag = absl::FindCommandLineFlag(name);
      value = "false";
    } else if (flag != nullptr && i + 1 < argc) {
      value = argv[++i];
    } else if (flag != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, ": invalid value \"", value, "\": ", error));
    }
    names.push_back(std::move(name));
  }
  return names;
}

bool AsksForHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::StartsWith(arg, "--help") || absl::StartsWith(arg, "-help") ||
        arg == "--version" || arg == "-h") {
      return true;
    }
  }
  return false;
}

// The key goes into an HTTP header as it is: a line break would end the header there and start
// another, so a key (surrounding whitespace trimmed) must be printable ASCII without spaces.
// The error never quotes the key.
absl::Status CheckKey(absl::string_view key, absl::string_view source) {
  if (!base::IsVisibleAscii(std::string_view(key.data(), key.size()))) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": the key holds a space, a line break or a byte that is not printable ASCII"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadKey() {
  const std::string file = absl::GetFlag(FLAGS_upstream_api_key_file);
  if (!file.empty()) {
    std::error_code error;
    std::ifstream in(file);
    // A directory opens, but holds no key.
    if (!in || !std::filesystem::is_regular_file(file, error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--upstream_api_key_file: cannot read ", file));
    }
    const std::string content((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    const std::string key(absl::StripAsciiWhitespace(content));
    if (key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--upstream_api_key_file: ", file,
                                                     " is empty"));
    }
    RETURN_IF_ERROR(CheckKey(key, "--upstream_api_key_file"));
    return key;
  }
  const char* env = std::getenv("GENGATE_UPSTREAM_API_KEY");
  const std::string key(env == nullptr ? "" : absl::StripAsciiWhitespace(env));
  RETURN_IF_ERROR(CheckKey(key, "GENGATE_UPSTREAM_API_KEY"));
  return key;
}

absl::Status RequirePositive(absl::string_view name, absl::Duration value) {
  if (value <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be positive"));
  }
  return absl::OkStatus();
}

// Reads a PEM file named by --`flag`; `marker` is the block its content must hold.
absl::StatusOr<std::string> ReadPemFile(absl::string_view flag, const std::string& path,
                                        absl::string_view marker) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read ", path));
  std::stringstream content;
  content << in.rdbuf();
  std::string pem = content.str();
  if (!absl::StrContains(pem, marker)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": ", path, " holds no PEM \"", marker, "\" block"));
  }
  return pem;
}

absl::Status LoadTls(Config& config) {
  config.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  config.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  config.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key must be given together");
  }
  if (!config.tls_client_ca_file.empty() && config.tls_cert_file.empty()) {
    return absl::InvalidArgumentError("--tls_client_ca needs --tls_cert and --tls_key");
  }
  if (config.tls_cert_file.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(config.tls_cert_pem,
                   ReadPemFile("tls_cert", config.tls_cert_file, "-----BEGIN CERTIFICATE-----"));
  ASSIGN_OR_RETURN(config.tls_key_pem,
                   ReadPemFile("tls_key", config.tls_key_file, "PRIVATE KEY-----"));
  if (!config.tls_client_ca_file.empty()) {
    ASSIGN_OR_RETURN(config.tls_client_ca_pem,
                     ReadPemFile("tls_client_ca", config.tls_client_ca_file,
                                 "-----BEGIN CERTIFICATE-----"));
  }
  return absl::OkStatus();
}

// host:port with a numeric port (0-65535); the host may be [v6].
absl::Status CheckHostPort(absl::string_view flag, const std::string& address) {
  const std::size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(address).substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " must be host:port, got \"", address, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::int64_t> ParseByteSize(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  std::int64_t number = 0;
  if (digits == 0 || !absl::SimpleAtoi(text.substr(0, digits), &number)) {
    return absl::InvalidArgumentError(absl::StrCat("not a byte size: \"", text, "\""));
  }
  const std::string unit = absl::AsciiStrToLower(text.substr(digits));
  std::int64_t multiplier = 0;
  if (unit.empty() || unit == "b") multiplier = 1;
  else if (unit == "kib" || unit == "ki") multiplier = std::int64_t{1} << 10;
  else if (unit == "mib" || unit == "mi") multiplier = std::int64_t{1} << 20;
  else if (unit == "gib" || unit == "gi") multiplier = std::int64_t{1} << 30;
  else if (unit == "kb" || unit == "k") multiplier = 1000;
  else if (unit == "mb" || unit == "m") multiplier = 1000 * 1000;
  else if (unit == "gb" || unit == "g") multiplier = 1000 * 1000 * 1000;
  else return absl::InvalidArgumentError(absl::StrCat("unknown byte unit in \"", text, "\""));
  if (number > (std::int64_t{1} << 40) / multiplier) {
    return absl::InvalidArgumentError(absl::StrCat("byte size too large: \"", text, "\""));
  }
  return number * multiplier;
}

absl::StatusOr<Config> LoadConfig(int argc, char** argv) {
  static absl::once_flag usage_once;
  absl::call_once(usage_once, [] {
    absl::SetProgramUsageMessage(
        "gengate: a gRPC gateway for OpenAI-compatible generation APIs.\n"
        "Every flag can also be set as GENGATE_<FLAG IN CAPITALS>.");
  });
  if (AsksForHelp(argc, argv)) absl::ParseCommandLine(argc, argv);  // prints usage, exits
  ASSIGN_OR_RETURN(const std::vector<std::string> given, ParseArguments(argc, argv));
  RETURN_IF_ERROR(ApplyEnvironment(given));

  Config config;
  config.listen = absl::GetFlag(FLAGS_listen);
  config.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  config.upstream_url = absl::GetFlag(FLAGS_upstream_url);
  ASSIGN_OR_RETURN(config.upstream_api_key, ReadKey());
  if (config.upstream_url == "fake") {
    config.use_fake_upstream = true;
  } else if (config.upstream_url.empty()) {
    if (config.upstream_api_key.empty()) {
      return absl::InvalidArgumentError(
          "no upstream API key: set GENGATE_UPSTREAM_API_KEY or --upstream_api_key_file, or "
          "run with --upstream_url=fake to try gengate offline");
    }
    config.upstream_url = kDefaultUpstream;
  }
  if (!config.use_fake_upstream) {
    if (!absl::StartsWith(config.upstream_url, "http://") &&
        !absl::StartsWith(config.upstream_url, "https://")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--upstream_url must start with http:// or https:// (or be `fake`), got \"",
          config.upstream_url, "\""));
    }
    while (absl::EndsWith(config.upstream_url, "/")) config.upstream_url.pop_back();
    // user:password@ would be logged in the serving line and taken for the host in errors;
    // the key belongs in --upstream_api_key_file.
    const absl::string_view rest =
        absl::string_view(config.upstream_url).substr(config.upstream_url.find("://") + 3);
    if (rest.substr(0, rest.find_first_of("/?#")).find('@') != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          "--upstream_url must not hold credentials (user@ or user:password@); give the key "
          "with --upstream_api_key_file or GENGATE_UPSTREAM_API_KEY");
    }
  }
  config.upstream_ca_file = absl::GetFlag(FLAGS_upstream_ca_file);
  if (!config.upstream_ca_file.empty()) {
    if (!absl::StartsWith(config.upstream_url, "https://")) {
      return absl::InvalidArgumentError("--upstream_ca_file needs an https:// --upstream_url");
    }
    // Read now so that a wrong path fails at startup, not on the first call; curl reads the
    // file itself when it opens a connection.
    RETURN_IF_ERROR(ReadPemFile("upstream_ca_file", config.upstream_ca_file,
                                "-----BEGIN CERTIFICATE-----")
                        .status());
  }

  config.default_timeout = absl::GetFlag(FLAGS_default_timeout);
  config.stream_idle_timeout = absl::GetFlag(FLAGS_stream_idle_timeout);
  config.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  RETURN_IF_ERROR(RequirePositive("default_timeout", config.default_timeout));
  RETURN_IF_ERROR(RequirePositive("stream_idle_timeout", config.stream_idle_timeout));
  if (config.drain_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--drain_timeout must not be negative");
  }
  config.max_upstream_connections = absl::GetFlag(FLAGS_max_upstream_connections);
  if (config.max_upstream_connections < 1 || config.max_upstream_connections > 10000) {
    return absl::InvalidArgumentError("--max_upstream_connections must be between 1 and 10000");
  }
  auto buffer = ParseByteSize(absl::GetFlag(FLAGS_stream_buffer_bytes));
  if (!buffer.ok() || *buffer < 1024) {
    return absl::InvalidArgumentError(
        "--stream_buffer_bytes must be a byte size of at least 1KiB (e.g. 1MiB)");
  }
  config.stream_buffer_bytes = *buffer;
  auto message = ParseByteSize(absl::GetFlag(FLAGS_max_message_bytes));
  if (!message.ok() || *message < 4096 || *message > (std::int64_t{1} << 30)) {
    return absl::InvalidArgumentError(
        "--max_message_bytes must be a byte size between 4KiB and 1GiB (e.g. 64MiB)");
  }
  config.max_message_bytes = *message;
  const std::string format = absl::GetFlag(FLAGS_log_format);
  if (format == "json") {
    config.log_format = LogFormat::kJson;
  } else if (format == "text") {
    config.log_format = LogFormat::kText;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_format must be json or text, got \"", format, "\""));
  }
  config.log_payloads = absl::GetFlag(FLAGS_log_payloads);
  config.reflection = absl::GetFlag(FLAGS_reflection);
  config.sched_batch = absl::GetFlag(FLAGS_sched_batch);
  RETURN_IF_ERROR(CheckHostPort("admin_listen", config.admin_listen));

  config.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  config.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  config.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  config.max_connection_age_grace = absl::GetFlag(FLAGS_max_connection_age_grace);
  RETURN_IF_ERROR(RequirePositive("keepalive_time", config.keepalive_time));
  RETURN_IF_ERROR(RequirePositive("keepalive_timeout", config.keepalive_timeout));
  RETURN_IF_ERROR(RequirePositive("max_connection_age", config.max_connection_age));
  RETURN_IF_ERROR(RequirePositive("max_connection_age_grace", config.max_connection_age_grace));
  // gRPC takes these as int milliseconds; "inf" is allowed for the connection age only.
  for (const auto& [name, value] :
       {std::pair<absl::string_view, absl::Duration>{"keepalive_time", config.keepalive_time},
        {"keepalive_timeout", config.keepalive_timeout},
        {"max_connection_age_grace", config.max_connection_age_grace}}) {
    if (value > absl::Milliseconds(INT32_MAX)) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " must be at most 24 days"));
    }
  }

  RETURN_IF_ERROR(LoadTls(config));
  return config;
}

}  // namespace gengate::config
