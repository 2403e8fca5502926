// Tests of the child-process runner, with /bin/sh standing in for the server.
#include "testing/gengate_process.h"

#include <signal.h>
#include <stdlib.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gengate::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kShell[] = "/bin/sh";

TEST(GengateProcessTest, StartReadsTheListenAddressFromTheServingLine) {
  GengateProcess process(kShell, {"-c", R"(echo 'starting'; echo 'warn' >&2;
      echo '{"level":"info","msg":"serving","listen":"127.0.0.1:4242","admin":"127.0.0.1:9"}';
      exec sleep 600)"});

  absl::Status started = process.Start(absl::Seconds(20));

  ASSERT_TRUE(started.ok()) << started;
  EXPECT_EQ(process.listen_address(), "127.0.0.1:4242");
  EXPECT_EQ(process.serving_line()["admin"], "127.0.0.1:9");
  EXPECT_THAT(process.StdoutLines(), Contains("starting"));
  EXPECT_TRUE(process.WaitForOutputLine([](absl::string_view l) { return l == "warn"; },
                                        absl::Seconds(10))
                  .has_value());
  EXPECT_TRUE(process.Signal(SIGTERM));
  EXPECT_EQ(process.Wait(absl::Seconds(10)), 128 + SIGTERM);
}

TEST(GengateProcessTest, StartFailsWithTheOutputWhenTheProcessExitsFirst) {
  GengateProcess process(kShell, {"-c", "echo 'no key configured'; exit 2"});

  absl::Status started = process.Start(absl::Seconds(20));

  EXPECT_FALSE(started.ok());
  EXPECT_THAT(started.message(), HasSubstr("exited before its serving line"));
  EXPECT_THAT(started.message(), HasSubstr("no key configured"));
  EXPECT_EQ(process.Wait(absl::Seconds(10)), 2);
}

TEST(GengateProcessTest, RunToExitReturnsTheCodeAndEveryLine) {
  ExitResult result = RunToExit(kShell, {"-c", "echo one; echo two >&2; printf three; exit 3"});

  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.lines, UnorderedElementsAre("one", "two", "three"));
}

TEST(GengateProcessTest, PassesTheGivenEnvironmentAndDropsInheritedGengateVariables) {
  setenv("GENGATE_UPSTREAM_API_KEY", "from-the-developer-shell", 1);

  ExitResult result = RunToExit(kShell, {"-c", R"(echo "[$GENGATE_UPSTREAM_API_KEY][$FOO]")"},
                                {{"FOO", "bar"}});

  unsetenv("GENGATE_UPSTREAM_API_KEY");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.lines, UnorderedElementsAre("[][bar]"));
}

TEST(GengateProcessTest, WaitForJsonLineMatchesParsedFields) {
  GengateProcess process(kShell, {"-c", R"(echo 'not json'; echo '{"msg":"call","code":"OK"}';
      exec sleep 600)"});
  ASSERT_TRUE(process.Spawn().ok());

  std::optional<nlohmann::json> line = process.WaitForJsonLine(
      [](const nlohmann::json& json) { return json.value("msg", "") == "call"; },
      absl::Seconds(10));

  ASSERT_TRUE(line.has_value());
  EXPECT_EQ((*line)["code"], "OK");
}

TEST(GengateProcessTest, DestructorTerminatesARunningProcess) {
  pid_t pid;
  {
    GengateProcess process(kShell, {"-c", "exec sleep 600"});
    ASSERT_TRUE(process.Spawn().ok());
    pid = process.pid();
    ASSERT_EQ(kill(pid, 0), 0);
  }
  // Reaped: the pid no longer names our child.
  EXPECT_NE(kill(pid, 0), 0);
}

}  // namespace
}  // namespace gengate::testing
