// gengate-cli run as a process against the real gengate binary on its fake upstream: every
// subcommand, --json output, exit codes, files written; and the C++ snippets of
// client/README.md (the example program, and every gengate-cli command the README shows).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/gengate_process.h"
#include "testing/upstream_server.h"

namespace gengate {
namespace {

using ::gengate::testing::EnvironmentList;
using ::gengate::testing::GengateProcess;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

struct CliResult {
  std::optional<int> exit_code;
  std::vector<std::string> stdout_lines;
  std::string output;  // stdout and stderr, for failure messages and stderr checks
};

CliResult RunProcess(const std::string& binary, const std::vector<std::string>& args,
              EnvironmentList environment = {}) {
  CliResult result;
  GengateProcess process(binary, args, std::move(environment));
  if (absl::Status spawned = process.Spawn(); !spawned.ok()) {
    result.output = std::string(spawned.message());
    return result;
  }
  result.exit_code = process.Wait(absl::Seconds(60));
  if (!result.exit_code.has_value()) {
    process.Signal(SIGKILL);
    process.Wait();
  }
  // The process is gone: wait until the reader has drained its pipes.
  process.WaitForOutputLine([](absl::string_view) { return false; }, absl::Seconds(10));
  result.stdout_lines = process.StdoutLines();
  result.output = process.OutputText();
  return result;
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

json ParseJson(const std::string& line) {
  json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << line;
  return parsed;
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gengate_ = std::make_unique<GengateProcess>(
        GENGATE_BINARY,
        std::vector<std::string>{"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
                                 "--upstream_url=fake", "--log_format=json",
                                 "--drain_timeout=1s"});
    start_status_ = gengate_->Start();
  }
  static void TearDownTestSuite() { gengate_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(start_status_.ok()) << start_status_;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = absl::StrCat(::testing::TempDir(), "/gengate_cli_test_", getpid(), "_", info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }

  // Runs gengate-cli --target=<gengate> ARGS.
  static CliResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), absl::StrCat("--target=", gengate_->listen_address()));
    return RunProcess(GENGATE_CLI_BINARY, args);
  }

  std::string Path(const std::string& name) const { return absl::StrCat(dir_, "/", name); }

  static inline std::unique_ptr<GengateProcess> gengate_;
  static inline absl::Status start_status_;
  std::string dir_;
};

TEST_F(CliTest, ChatStreamsTheAnswer) {
  CliResult result = Cli({"chat", "Hello", "there"});

  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.stdout_lines, ElementsAre("Echo: Hello there"));
}

TEST_F(CliTest, ChatNoStreamJsonIsOneChatCompletion) {
  CliResult result = Cli({"--json", "chat", "--no-stream", "--model=gpt-4o-mini", "Hello"});

  ASSERT_EQ(result.exit_code, 0) << result.output;
  ASSERT_EQ(result.stdout_lines.size(), 1u) << result.output;
  json completion = ParseJson(result.stdout_lines[0]);
  EXPECT_EQ(completion["choices"][0]["message"]["content"], "Echo: Hello");
  EXPECT_EQ(completion["choices"][0]["finish_reason"], "FINISH_REASON_STOP");
  EXPECT_EQ(completion["model"], "gpt-4o-mini");
}

TEST_F(CliTest, ChatStreamJsonIsOneChunkPerLineWithUsageLast) {
  CliResult result = Cli({"chat", "--json", "Hello there"});

  ASSERT_EQ(result.exit_code, 0) << result.output;
  ASSERT_GE(result.stdout_lines.size(), 3u) << result.output;
  std::string text;
  for (const std::string& line : result.stdout_lines) {
    json chunk = ParseJson(line);
    for (const json& choice : chunk.value("choices", json::array())) {
      text += choice["delta"].value("content", "");
    }
  }
  EXPECT_EQ(text, "Echo: Hello there");
  EXPECT_TRUE(ParseJson(result.stdout_lines.back()).contains("usage"));
}

TEST_F(CliTest, ChatSendsImagePartsFromFilesAndUrls) {
  std::ofstream(Path("photo.png"), std::ios::binary) << "\x89PNG\r\n\x1a\nfake";

  CliResult result = Cli({"chat", "--no-stream", "--image", Path("photo.png"),
                          "--image=https://example.com/b.jpg", "What differs?"});

  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.stdout_lines, ElementsAre("Echo: What differs? (2 images)"));
}

TEST_F(CliTest, ChatMaxTokensAndSystemAndTemperatureReachTheRequest) {
  CliResult result = Cli({"--json", "chat", "--no-stream", "--system=Be brief", "--temperature=0.2",
                          "--max_tokens=1", "Hello there"});

  ASSERT_EQ(result.exit_code, 0) << result.output;
  ASSERT_EQ(result.stdout_lines.size(), 1u);
  json completion = ParseJson(result.stdout_lines[0]);
  EXPECT_EQ(completion["choices"][0]["finish_reason"], "FINISH_REASON_LENGTH");
  EXPECT_EQ(completion["choices"][0]["message"]["content"], "Echo:");
}

TEST_F(CliTest, ChatImageFileThatDoesNotExistIsAUsageError) {
  CliResult result = Cli({"chat", "--image=/nonexistent/photo.png", "Hi"});

  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.output, HasSubstr("cannot read /nonexistent/photo.png"));
}

TEST_F(CliTest, ResponsesStreamsAndAnswersUnary) {
  CliResult streamed = Cli({"responses", "Hello there"});
  CliResult unary = Cli({"responses", "--no-stream", "Hello there"});
  CliResult events = Cli({"--json", "responses", "Hello there"});

  ASSERT_EQ(streamed.exit_code, 0) << streamed.output;
  ASSERT_EQ(unary.exit_code, 0) << unary.output;
  ASSERT_EQ(unary.stdout_lines.size(), 1u);
  EXPECT_THAT(unary.stdout_lines[0], HasSubstr("Hello there"));
  EXPECT_EQ(streamed.stdout_lines, unary.stdout_lines);
  ASSERT_EQ(events.exit_code, 0) << events.output;
  ASSERT_GE(events.stdout_lines.size(), 3u);
  EXPECT_EQ(ParseJson(events.stdout_lines.front())["type"], "response.created");
  EXPECT_EQ(ParseJson(events.stdout_lines.back())["type"], "response.completed");
}

TEST_F(CliTest, ImagesGenerateWritesPngFiles) {
  const std::string out = Path("generated");

  CliResult result = Cli({"images", "generate", "--n=2", "--out", out, "a red bicycle"});

  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.stdout_lines, ElementsAre(out + "/image-0.png", out + "/image-1.png"));
  for (const std::string& path : result.stdout_lines) {
    EXPECT_TRUE(absl::StartsWith(ReadFile(path), "\x89PNG\r\n\x1a\n")) << path;
  }
  EXPECT_NE(ReadFile(out + "/image-0.png"), ReadFile(out + "/image-1.png"));
}

TEST_F(CliTest, ImagesEditUploadsImageAndMaskAndReportsFilesAsJson) {
  std::ofstream(Path("cat.png"), std::ios::binary) << "\x89PNG\r\n\x1a\ncat";
  std::ofstream(Path("mask.png"), std::ios::binary) << "\x89PNG\r\n\x1a\nmask";
  const std::string out = Path("edits");

  CliResult result = Cli({"--json", "images", "edit", "--image=" + Path("cat.png"),
                          "--mask=" + Path("mask.png"), "--out=" + out, "add a hat"});

  ASSERT_EQ(result.exit_code, 0) << result.output;
  ASSERT_EQ(result.stdout_lines.size(), 1u) << result.output;
  json line = ParseJson(result.stdout_lines[0]);
  ASSERT_EQ(line["files"].size(), 1u);
  EXPECT_EQ(line["files"][0], out + "/image-0.png");
  EXPECT_TRUE(absl::StartsWith(ReadFile(out + "/image-0.png"), "\x89PNG"));
  EXPECT_EQ(line["response"]["data"][0]["revised_prompt"],
            "A fake edit of 1 image with a mask: add a hat");
  EXPECT_FALSE(line["response"]["data"][0].contains("image_data"));
}

TEST_F(CliTest, ImagesEditWithoutAnImageIsAUsageError) {
  CliResult result = Cli({"images", "edit", "add a hat"});

  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.output, HasSubstr("--image"));
}

TEST_F(CliTest, EmbeddingsPrintsOneVectorPerTextAndWritesThemToAFile) {
  CliResult printed = Cli({"embeddings", "first text", "second text"});
  CliResult written = Cli({"embeddings", "--out=" + Path("vectors.txt"), "first text",
                           "second text"});
  CliResult as_json = Cli({"--json", "embeddings", "--dimensions=8", "first text"});

  ASSERT_EQ(printed.exit_code, 0) << printed.output;
  ASSERT_EQ(printed.stdout_lines.size(), 2u);
  std::vector<std::string> values = absl::StrSplit(printed.stdout_lines[0], ' ');
  EXPECT_GT(values.size(), 8u);
  double number = 0;
  EXPECT_TRUE(absl::SimpleAtod(values[0], &number)) << values[0];
  EXPECT_NE(printed.stdout_lines[0], printed.stdout_lines[1]);
  ASSERT_EQ(written.exit_code, 0) << written.output;
  EXPECT_EQ(ReadFile(Path("vectors.txt")), absl::StrCat(absl::StrJoin(printed.stdout_lines, "\n"), "\n"));
  ASSERT_EQ(as_json.exit_code, 0) << as_json.output;
  json response = ParseJson(as_json.stdout_lines.at(0));
  EXPECT_EQ(response["data"][0]["embedding"].size(), 8u);
}

TEST_F(CliTest, HealthReportsServingAndNotFound) {
  CliResult whole = Cli({"health"});
  CliResult chat = Cli({"--json", "health", "gengate.v1.ChatService"});
  CliResult unknown = Cli({"health", "no.such.Service"});

  EXPECT_EQ(whole.exit_code, 0) << whole.output;
  EXPECT_THAT(whole.stdout_lines, ElementsAre("SERVING"));
  ASSERT_EQ(chat.exit_code, 0) << chat.output;
  EXPECT_EQ(ParseJson(chat.stdout_lines.at(0))["status"], "SERVING");
  EXPECT_EQ(unknown.exit_code, 5) << unknown.output;  // NOT_FOUND
}

struct ErrorCase {
  std::string model;
  int exit_code;  // the gRPC code gengate maps the upstream status to
  std::string reason;
};

class CliErrorTest : public CliTest, public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(CliErrorTest, ExitCodeIsTheGrpcCodeAndJsonCarriesTheReason) {
  CliResult text = Cli({"chat", "--model=" + GetParam().model, "Hi"});
  CliResult as_json = Cli({"--json", "chat", "--no-stream", "--model=" + GetParam().model, "Hi"});

  EXPECT_EQ(text.exit_code, GetParam().exit_code) << text.output;
  EXPECT_THAT(text.output, HasSubstr("reason: " + GetParam().reason));
  EXPECT_EQ(as_json.exit_code, GetParam().exit_code) << as_json.output;
  ASSERT_EQ(as_json.stdout_lines.size(), 1u) << as_json.output;
  json error = ParseJson(as_json.stdout_lines[0])["error"];
  EXPECT_EQ(error["code_number"], GetParam().exit_code);
  EXPECT_EQ(error["reason"], GetParam().reason);
}

INSTANTIATE_TEST_SUITE_P(
    UpstreamErrors, CliErrorTest,
    ::testing::Values(ErrorCase{"fake-error-400", 3, "invalid_request"},
                      ErrorCase{"fake-error-401", 16, "invalid_api_key"},
                      ErrorCase{"fake-error-404", 5, "model_not_found"},
                      ErrorCase{"fake-error-429", 8, "rate_limit_exceeded"},
                      ErrorCase{"fake-error-503", 14, "service_unavailable"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) {
      return absl::StrCat("Http", info.param.model.substr(11));
    });

TEST_F(CliTest, ValidationErrorExitsInvalidArgument) {
  CliResult result = Cli({"embeddings", "--model=", "text"});

  EXPECT_EQ(result.exit_code, 3) << result.output;
}

TEST_F(CliTest, UnreachableTargetExitsUnavailable) {
  CliResult result = RunProcess(GENGATE_CLI_BINARY, {"--target=127.0.0.1:1", "--deadline=10s", "health"});

  EXPECT_EQ(result.exit_code, 14) << result.output;
}

TEST_F(CliTest, TargetComesFromTheEnvironment) {
  CliResult result = RunProcess(GENGATE_CLI_BINARY, {"health"},
                         {{"GENGATE_TARGET", gengate_->listen_address()}});

  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Cli({}).exit_code, 2);
  EXPECT_EQ(Cli({"translate", "Hi"}).exit_code, 2);
  EXPECT_EQ(Cli({"chat"}).exit_code, 2);
  EXPECT_EQ(Cli({"chat", "--no-such-flag", "Hi"}).exit_code, 2);
  EXPECT_EQ(Cli({"chat", "--max_tokens=many", "Hi"}).exit_code, 2);
  EXPECT_EQ(Cli({"--deadline=soon", "health"}).exit_code, 2);
  EXPECT_EQ(Cli({"images", "Hi"}).exit_code, 2);
  EXPECT_EQ(Cli({"embeddings"}).exit_code, 2);
}

TEST_F(CliTest, EveryCommandHasItsOwnHelp) {
  struct HelpCase {
    std::vector<std::string> args;
    std::string synopsis;
    std::string flag;
  };
  const std::vector<HelpCase> cases = {
      {{"--help"}, "COMMAND [flags]", "images generate"},
      {{"chat", "--help"}, "usage: gengate-cli chat", "--no-stream"},
      {{"responses", "--help"}, "usage: gengate-cli responses", "--instructions"},
      {{"images", "generate", "--help"}, "usage: gengate-cli images generate", "--out"},
      {{"images", "edit", "--help"}, "usage: gengate-cli images edit", "--mask"},
      {{"embeddings", "--help"}, "usage: gengate-cli embeddings", "--dimensions"},
      {{"health", "--help"}, "usage: gengate-cli health", "--deadline"},
  };
  for (const HelpCase& help : cases) {
    CliResult result = RunProcess(GENGATE_CLI_BINARY, help.args);
    const std::string text = absl::StrJoin(result.stdout_lines, "\n");
    EXPECT_EQ(result.exit_code, 0) << absl::StrJoin(help.args, " ");
    EXPECT_THAT(text, HasSubstr(help.synopsis)) << absl::StrJoin(help.args, " ");
    EXPECT_THAT(text, HasSubstr(help.flag)) << absl::StrJoin(help.args, " ");
  }
}

// The CLI's deadline against an upstream that never answers.
TEST(CliDeadlineTest, ExpiredDeadlineExitsDeadlineExceeded) {
  testing::UpstreamServer upstream;
  ASSERT_TRUE(upstream.Start().ok());
  std::shared_ptr<testing::Gate> gate = upstream.NewGate();
  upstream.Handle("/v1/chat/completions", [gate](const testing::RecordedRequest&,
                                                  testing::Responder&) {
    gate->Wait(absl::Seconds(60));
  });
  GengateProcess gengate(GENGATE_BINARY,
                         {"--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
                          absl::StrCat("--upstream_url=", upstream.base_url(), "/v1"),
                          "--drain_timeout=1s"},
                         {{"GENGATE_UPSTREAM_API_KEY", "sk-test"}});
  ASSERT_TRUE(gengate.Start().ok()) << gengate.OutputText();

  CliResult result = RunProcess(GENGATE_CLI_BINARY, {"--target=" + gengate.listen_address(),
                                              "--deadline=300ms", "chat", "Hi"});

  EXPECT_EQ(result.exit_code, 4) << result.output;  // DEADLINE_EXCEEDED
  EXPECT_THAT(result.output, HasSubstr("DEADLINE_EXCEEDED"));
  EXPECT_TRUE(upstream.WaitForRequests(1, absl::Seconds(10)));
  gate->Open();
}

// ---------------------------------------------------------------------------------------
// client/README.md: the C++ example is the file verbatim and prints what the README says;
// every gengate-cli command in the README's sh blocks runs and exits 0, and a block followed
// by a text block prints exactly that text.

struct ReadmeBlock {
  std::string language;
  std::string text;
};

std::vector<ReadmeBlock> CodeBlocks(const std::string& markdown) {
  std::vector<ReadmeBlock> blocks;
  std::optional<ReadmeBlock> open;
  for (absl::string_view line : absl::StrSplit(markdown, '\n')) {
    if (absl::StartsWith(line, "```")) {
      if (open.has_value()) {
        blocks.push_back(*std::move(open));
        open.reset();
      } else {
        open = ReadmeBlock{std::string(line.substr(3)), ""};
      }
      continue;
    }
    if (open.has_value()) absl::StrAppend(&open->text, line, "\n");
  }
  return blocks;
}

// The part of the README from `heading` to the next heading of the same or a higher level.
std::string Section(const std::string& markdown, const std::string& heading) {
  const size_t level = heading.find(' ');
  std::string section;
  bool inside = false;
  bool in_code = false;
  for (absl::string_view line : absl::StrSplit(markdown, '\n')) {
    if (absl::StartsWith(line, "```")) in_code = !in_code;
    if (!in_code && absl::StartsWith(line, "#")) {
      const size_t hashes = line.find_first_not_of('#');
      if (inside && hashes <= level && hashes < line.size() && line[hashes] == ' ') break;
      if (line == heading) inside = true;
    }
    if (inside) absl::StrAppend(&section, line, "\n");
  }
  return section;
}

TEST_F(CliTest, ReadmeShowsTheCppExampleVerbatimAndItsOutput) {
  const std::string readme = ReadFile(GENGATE_CLIENT_README);
  const std::string section = Section(readme, "### C++");
  ASSERT_FALSE(section.empty()) << "no \"### C++\" section in client/README.md";
  const std::string source = ReadFile(GENGATE_CLIENT_EXAMPLE_SOURCE);
  bool found = false;
  for (const ReadmeBlock& block : CodeBlocks(section)) found |= block.text == source;
  EXPECT_TRUE(found) << "client/README.md does not hold client/cpp/example/main.cc verbatim";

  CliResult result = RunProcess(GENGATE_CLIENT_EXAMPLE, {"Hello", "there"},
                         {{"GENGATE_TARGET", gengate_->listen_address()}});

  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.stdout_lines,
              ElementsAre("unary: Echo: Hello there", "request id: example-cpp",
                          "stream: Echo: Hello there", "usage: 5 tokens"));
}

// Runs every command of the section's sh blocks; returns how many ran.
int RunReadmeCommands(const std::string& readme, const std::string& heading,
                      const std::string& dir, const std::string& target) {
  const std::string section = Section(ReadFile(readme), heading);
  EXPECT_FALSE(section.empty()) << "no \"" << heading << "\" section in " << readme;
  const std::vector<ReadmeBlock> blocks = CodeBlocks(section);
  const std::string cli_dir = std::filesystem::path(GENGATE_CLI_BINARY).parent_path().string();
  int commands = 0;
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i].language != "sh") continue;
    std::string script = absl::StrReplaceAll(blocks[i].text, {{"\\\n", " "}});
    // Each command on its own, so that a failure names it; the outputs are concatenated.
    std::string printed;
    for (absl::string_view command : absl::StrSplit(script, '\n', absl::SkipWhitespace())) {
      if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(command), "#")) continue;
      ++commands;
      CliResult result =
          RunProcess("/bin/sh", {"-c", absl::StrCat("cd '", dir, "' && ", command)},
              {{"PATH", absl::StrCat(cli_dir, ":/usr/bin:/bin")}, {"GENGATE_TARGET", target}});
      EXPECT_EQ(result.exit_code, 0) << command << "\n" << result.output;
      for (const std::string& line : result.stdout_lines) absl::StrAppend(&printed, line, "\n");
    }
    if (i + 1 < blocks.size() && blocks[i + 1].language == "text") {
      EXPECT_EQ(printed, blocks[i + 1].text) << "the README's output for:\n" << script;
    }
  }
  return commands;
}

TEST_F(CliTest, ReadmeCliCommandsRunAndPrintWhatTheReadmeShows) {
  EXPECT_GE(RunReadmeCommands(GENGATE_CLIENT_README, "### gengate-cli", dir_,
                              gengate_->listen_address()),
            6)
      << "client/README.md shows fewer gengate-cli commands than expected";
}

// The main README calls every RPC from gengate-cli (its API section).
TEST_F(CliTest, MainReadmeCallsEveryRpcAndPrintsWhatItShows) {
  EXPECT_EQ(RunReadmeCommands(GENGATE_MAIN_README, "### Every RPC from the shell", dir_,
                              gengate_->listen_address()),
            8);
}

}  // namespace
}  // namespace gengate
