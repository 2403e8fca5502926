// Flags, the GENGATE_<FLAG> environment fallback, the key file and validation.
#include "config/config.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gengate::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Runs LoadConfig on `args` with the flags restored afterwards.
absl::StatusOr<Config> Load(std::vector<std::string> args) {
  absl::FlagSaver saver;
  args.insert(args.begin(), "gengate");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  return LoadConfig(static_cast<int>(argv.size()), argv.data());
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name :
         {"GENGATE_UPSTREAM_API_KEY", "GENGATE_LISTEN", "GENGATE_LOG_FORMAT",
          "GENGATE_STREAM_IDLE_TIMEOUT", "GENGATE_UPSTREAM_URL", "GENGATE_REFLECTION",
          "GENGATE_LOG_PAYLOADS", "GENGATE_MAX_CONNECTION_AGE", "GENGATE_TLS_CERT",
          "GENGATE_TLS_KEY", "GENGATE_TLS_CLIENT_CA", "GENGATE_KEEPALIVE_TIME",
          "GENGATE_SCHED_BATCH", "GENGATE_UPSTREAM_CA_FILE"}) {
      unsetenv(name);
    }
  }
};

TEST_F(ConfigTest, NoKeyAndNoUpstreamIsAnError) {
  absl::StatusOr<Config> config = Load({});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("--upstream_url=fake"));
}

TEST_F(ConfigTest, FakeUpstreamNeedsNoKey) {
  absl::StatusOr<Config> config = Load({"--upstream_url=fake"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->use_fake_upstream);
  EXPECT_EQ(config->listen, "0.0.0.0:50051");
  EXPECT_EQ(config->stream_buffer_bytes, 1 << 20);
  EXPECT_EQ(config->default_timeout, absl::Seconds(600));
  EXPECT_EQ(config->stream_idle_timeout, absl::Seconds(120));
  EXPECT_EQ(config->max_upstream_connections, 64);
}

TEST_F(ConfigTest, KeyFromEnvironmentSelectsDefaultUpstream) {
  setenv("GENGATE_UPSTREAM_API_KEY", "  sk-env \n", 1);
  absl::StatusOr<Config> config = Load({});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->upstream_api_key, "sk-env");
  EXPECT_EQ(config->upstream_url, "https://api.acedata.cloud/openai");
}

TEST_F(ConfigTest, KeyFromFile) {
  const std::string path = ::testing::TempDir() + "/key";
  std::ofstream(path) << "sk-file\n";
  absl::StatusOr<Config> config = Load({"--upstream_api_key_file=" + path});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->upstream_api_key, "sk-file");
}

TEST_F(ConfigTest, MissingKeyFileIsAnError) {
  absl::StatusOr<Config> config = Load({"--upstream_api_key_file=/nonexistent/key"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("cannot read"));
}

// The key goes into a header as it is: an empty key file, or a key with a line break in it,
// is refused at startup, and the message never quotes the key.
TEST_F(ConfigTest, KeyFileMustHoldOnePrintableKey) {
  const std::string path = ::testing::TempDir() + "/bad-key";
  const struct {
    std::string content;
    std::string message;
  } kCases[] = {{"", "is empty"},
                {"  \n", "is empty"},
                {"sk-one\nsk-two\n", "line break"},
                {"sk-one\r\nX-Injected: 1", "line break"},
                {"sk one", "space"},
                {"sk-\xc3\xa9", "not printable ASCII"}};
  for (const auto& c : kCases) {
    std::ofstream(path, std::ios::trunc) << c.content;
    absl::StatusOr<Config> config =
        Load({"--upstream_url=http://127.0.0.1:1", "--upstream_api_key_file=" + path});
    ASSERT_FALSE(config.ok()) << testing::PrintToString(c.content);
    EXPECT_THAT(config.status().message(), HasSubstr(c.message));
    EXPECT_THAT(config.status().message(), Not(HasSubstr("sk")));
  }
  // A directory opens but cannot be read.
  absl::StatusOr<Config> config = Load({"--upstream_api_key_file=" + ::testing::TempDir()});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("cannot read"));
}

TEST_F(ConfigTest, KeyFromEnvironmentMustBePrintable) {
  setenv("GENGATE_UPSTREAM_API_KEY", "sk-one\nsk-two", 1);
  absl::StatusOr<Config> config = Load({});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("GENGATE_UPSTREAM_API_KEY"));
  EXPECT_THAT(config.status().message(), Not(HasSubstr("sk-")));
}

TEST_F(ConfigTest, EnvironmentFillsFlagsNotGiven) {
  setenv("GENGATE_LISTEN", "127.0.0.1:1234", 1);
  setenv("GENGATE_STREAM_IDLE_TIMEOUT", "5s", 1);
  absl::StatusOr<Config> config = Load({"--upstream_url=fake"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:1234");
  EXPECT_EQ(config->stream_idle_timeout, absl::Seconds(5));
}

TEST_F(ConfigTest, FlagBeatsEnvironment) {
  setenv("GENGATE_LISTEN", "127.0.0.1:1234", 1);
  absl::StatusOr<Config> config = Load({"--upstream_url=fake", "--listen=127.0.0.1:99"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:99");
}

TEST_F(ConfigTest, TrailingSlashOfUpstreamIsDropped) {
  setenv("GENGATE_UPSTREAM_API_KEY", "k", 1);
  absl::StatusOr<Config> config = Load({"--upstream_url=http://127.0.0.1:8080/v1/"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->upstream_url, "http://127.0.0.1:8080/v1");
}

struct BadCase {
  std::vector<std::string> args;
  std::string message;
};

void PrintTo(const BadCase& c, std::ostream* os) {
  for (const std::string& arg : c.args) *os << arg << " ";
}

class ConfigRejectsTest : public ConfigTest, public ::testing::WithParamInterface<BadCase> {};

TEST_P(ConfigRejectsTest, WithOneLineNamingTheProblem) {
  absl::StatusOr<Config> config = Load(GetParam().args);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr(GetParam().message));
  EXPECT_EQ(std::string(config.status().message()).find('\n'), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    BadValues, ConfigRejectsTest,
    ::testing::Values(
        BadCase{{"--upstream_url=fake", "--log_format=xml"}, "--log_format"},
        BadCase{{"--upstream_url=fake", "--stream_buffer_bytes=lots"}, "--stream_buffer_bytes"},
        BadCase{{"--upstream_url=fake", "--stream_buffer_bytes=10"}, "--stream_buffer_bytes"},
        BadCase{{"--upstream_url=fake", "--default_timeout=soon"}, "--default_timeout"},
        BadCase{{"--upstream_url=fake", "--stream_idle_timeout=0s"}, "stream_idle_timeout"},
        BadCase{{"--upstream_url=fake", "--max_upstream_connections=0"},
                "--max_upstream_connections"},
        BadCase{{"--upstream_url=ftp://x"}, "http://"},
        BadCase{{"--upstream_url=http://user:s3cret@127.0.0.1:8080/v1"}, "credentials"},
        BadCase{{"--upstream_url=https://user@example.com"}, "credentials"},
        BadCase{{"--upstream_url=fake", "--no_such_flag=1"}, "unknown flag --no_such_flag"},
        BadCase{{"--upstream_url=fake", "stray"}, "unexpected argument"},
        BadCase{{"--upstream_url=fake", "--keepalive_time=0s"}, "--keepalive_time"},
        BadCase{{"--upstream_url=fake", "--keepalive_timeout=soon"}, "--keepalive_timeout"},
        BadCase{{"--upstream_url=fake", "--max_connection_age=0s"}, "--max_connection_age"},
        BadCase{{"--upstream_url=fake", "--max_connection_age_grace=-1s"},
                "--max_connection_age_grace"},
        BadCase{{"--upstream_url=fake", "--keepalive_time=600h"}, "at most 24 days"},
        BadCase{{"--upstream_url=fake", "--admin_listen=9090"}, "--admin_listen must be host:port"},
        BadCase{{"--upstream_url=fake", "--admin_listen=127.0.0.1:http"}, "--admin_listen"},
        BadCase{{"--upstream_url=fake", "--reflection=maybe"}, "--reflection"},
        BadCase{{"--upstream_url=fake", "--nolisten"}, "unknown flag --nolisten"},
        BadCase{{"--upstream_url=fake", "--tls_cert=/nonexistent/cert.pem",
                 "--tls_key=/nonexistent/key.pem"},
                "--tls_cert: cannot read /nonexistent/cert.pem"},
        BadCase{{"--upstream_url=fake", "--tls_cert=/nonexistent/cert.pem"},
                "--tls_cert and --tls_key must be given together"},
        BadCase{{"--upstream_url=fake", "--tls_client_ca=/nonexistent/ca.pem"},
                "--tls_client_ca needs --tls_cert"},
        BadCase{{"--upstream_url=https://example.test/v1",
                 "--upstream_ca_file=/nonexistent/ca.pem"},
                "--upstream_ca_file: cannot read /nonexistent/ca.pem"},
        BadCase{{"--upstream_url=http://127.0.0.1:8080", "--upstream_ca_file=/proc/version"},
                "--upstream_ca_file needs an https:// --upstream_url"},
        BadCase{{"--upstream_url=fake", "--upstream_ca_file=/proc/version"},
                "--upstream_ca_file needs an https:// --upstream_url"},
        BadCase{{"--upstream_url=https://example.test/v1", "--upstream_ca_file=/proc/version"},
                "holds no PEM"}));

TEST_F(ConfigTest, OperateDefaults) {
  absl::StatusOr<Config> config = Load({"--upstream_url=fake"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->reflection);
  EXPECT_FALSE(config->log_payloads);
  EXPECT_TRUE(config->sched_batch);
  EXPECT_EQ(config->admin_listen, "0.0.0.0:9090");
  EXPECT_EQ(config->keepalive_time, absl::Seconds(60));
  EXPECT_EQ(config->keepalive_timeout, absl::Seconds(20));
  EXPECT_EQ(config->max_connection_age, absl::Minutes(30));
  EXPECT_EQ(config->max_connection_age_grace, absl::Minutes(10));
  EXPECT_FALSE(config->tls());
  EXPECT_EQ(config->drain_timeout, absl::Seconds(30));
}

struct SwitchCase {
  std::vector<std::string> args;
  bool reflection;
  bool log_payloads;
};

void PrintTo(const SwitchCase& c, std::ostream* os) {
  for (const std::string& arg : c.args) *os << arg << " ";
}

class ConfigSwitchTest : public ConfigTest, public ::testing::WithParamInterface<SwitchCase> {};

TEST_P(ConfigSwitchTest, ReadsBooleanFlags) {
  std::vector<std::string> args = GetParam().args;
  args.push_back("--upstream_url=fake");
  absl::StatusOr<Config> config = Load(args);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->reflection, GetParam().reflection);
  EXPECT_EQ(config->log_payloads, GetParam().log_payloads);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, ConfigSwitchTest,
    ::testing::Values(SwitchCase{{"--reflection=false"}, false, false},
                      SwitchCase{{"--noreflection"}, false, false},
                      SwitchCase{{"--reflection"}, true, false},
                      // A bare switch must not swallow the next argument as its value.
                      SwitchCase{{"--log_payloads", "--reflection=false"}, false, true},
                      SwitchCase{{"--log_payloads=true", "--nolog_payloads"}, true, false}));

TEST_F(ConfigTest, OperateFlagsFromTheEnvironment) {
  setenv("GENGATE_REFLECTION", "false", 1);
  setenv("GENGATE_LOG_PAYLOADS", "true", 1);
  setenv("GENGATE_MAX_CONNECTION_AGE", "10m", 1);
  setenv("GENGATE_KEEPALIVE_TIME", "15s", 1);
  setenv("GENGATE_SCHED_BATCH", "false", 1);
  absl::StatusOr<Config> config = Load({"--upstream_url=fake"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->reflection);
  EXPECT_FALSE(config->sched_batch);
  EXPECT_TRUE(config->log_payloads);
  EXPECT_EQ(config->max_connection_age, absl::Minutes(10));
  EXPECT_EQ(config->keepalive_time, absl::Seconds(15));
}

TEST_F(ConfigTest, InfiniteConnectionAgeIsAllowed) {
  absl::StatusOr<Config> config = Load({"--upstream_url=fake", "--max_connection_age=inf"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->max_connection_age, absl::InfiniteDuration());
}

// Files that look like PEM to the config (which checks the blocks, not the cryptography).
class ConfigTlsTest : public ConfigTest {
 protected:
  static std::string Write(const std::string& name, const std::string& content) {
    const std::string path = ::testing::TempDir() + "/config_tls_" + name;
    std::ofstream(path, std::ios::trunc) << content;
    return path;
  }
  const std::string cert_ = Write("cert.pem",
                                  "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  const std::string key_ = Write("key.pem",
                                 "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
};

TEST_F(ConfigTlsTest, ReadsCertificateKeyAndClientCa) {
  absl::StatusOr<Config> config = Load({"--upstream_url=fake", "--tls_cert=" + cert_,
                                        "--tls_key=" + key_, "--tls_client_ca=" + cert_});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->tls());
  EXPECT_THAT(config->tls_cert_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_THAT(config->tls_key_pem, HasSubstr("BEGIN PRIVATE KEY"));
  EXPECT_EQ(config->tls_client_ca_pem, config->tls_cert_pem);
  EXPECT_EQ(config->tls_cert_file, cert_);
}

TEST_F(ConfigTlsTest, UpstreamCaFileFromTheFlagOrTheEnvironment) {
  absl::StatusOr<Config> flag =
      Load({"--upstream_url=https://example.test/v1", "--upstream_ca_file=" + cert_});
  ASSERT_TRUE(flag.ok()) << flag.status();
  EXPECT_EQ(flag->upstream_ca_file, cert_);

  setenv("GENGATE_UPSTREAM_CA_FILE", cert_.c_str(), 1);
  absl::StatusOr<Config> env = Load({"--upstream_url=https://example.test/v1"});
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->upstream_ca_file, cert_);

  unsetenv("GENGATE_UPSTREAM_CA_FILE");
  absl::StatusOr<Config> none = Load({"--upstream_url=https://example.test/v1"});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->upstream_ca_file.empty());  // the system's store
}

TEST_F(ConfigTlsTest, TlsFilesFromTheEnvironment) {
  setenv("GENGATE_TLS_CERT", cert_.c_str(), 1);
  setenv("GENGATE_TLS_KEY", key_.c_str(), 1);
  absl::StatusOr<Config> config = Load({"--upstream_url=fake"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->tls());
  EXPECT_TRUE(config->tls_client_ca_pem.empty());
}

TEST_F(ConfigTlsTest, FilesWithoutTheRightPemBlockAreRejected) {
  absl::StatusOr<Config> swapped =
      Load({"--upstream_url=fake", "--tls_cert=" + key_, "--tls_key=" + cert_});
  ASSERT_FALSE(swapped.ok());
  EXPECT_THAT(swapped.status().message(), HasSubstr("--tls_cert: "));
  EXPECT_THAT(swapped.status().message(), HasSubstr("holds no PEM"));

  const std::string garbage = Write("garbage.pem", "not a key");
  absl::StatusOr<Config> bad_key =
      Load({"--upstream_url=fake", "--tls_cert=" + cert_, "--tls_key=" + garbage});
  ASSERT_FALSE(bad_key.ok());
  EXPECT_THAT(bad_key.status().message(), HasSubstr("--tls_key: "));
  // The key file's content never appears in the error.
  EXPECT_THAT(std::string(bad_key.status().message()), Not(HasSubstr("not a key")));
}

TEST(ParseByteSizeTest, ReadsUnits) {
  EXPECT_EQ(*ParseByteSize("65536"), 65536);
  EXPECT_EQ(*ParseByteSize("64KiB"), 64 << 10);
  EXPECT_EQ(*ParseByteSize("1MiB"), 1 << 20);
  EXPECT_EQ(*ParseByteSize("2MB"), 2'000'000);
  EXPECT_EQ(*ParseByteSize("1GiB"), std::int64_t{1} << 30);
  EXPECT_FALSE(ParseByteSize("MiB").ok());
  EXPECT_FALSE(ParseByteSize("12 parsecs").ok());
}

}  // namespace
}  // namespace gengate::config
