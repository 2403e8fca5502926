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
    for (const char* name : {"GENGATE_UPSTREAM_API_KEY", "GENGATE_LISTEN", "GENGATE_LOG_FORMAT",
                             "GENGATE_STREAM_IDLE_TIMEOUT", "GENGATE_UPSTREAM_URL"}) {
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
        BadCase{{"--upstream_url=fake", "--no_such_flag=1"}, "unknown flag --no_such_flag"},
        BadCase{{"--upstream_url=fake", "stray"}, "unexpected argument"}));

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
