// The house rule for upstream answers: broken or truncated JSON gets a clear error (INTERNAL
// with a message, as the parsers' headers promise), never a crash; a value of the wrong type is
// either tolerated or INTERNAL. Every recorded answer is cut at every byte (sampled past 2 KB)
// and has each of its values, one at a time, replaced by a value of every other JSON type.

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "translate/chat.h"
#include "translate/embeddings.h"
#include "translate/fixtures.h"
#include "translate/images.h"
#include "translate/responses.h"

namespace gengate::translate {
namespace {

using fixtures::FixtureNames;
using fixtures::FixtureTestName;
using fixtures::LoadFixture;
using fixtures::SplitEvents;
using fixtures::SseEvent;
using fixtures::StreamBytes;
using nlohmann::json;

// Every cut within the first kEveryCutBytes bytes; past them kStridedCuts evenly spaced cuts
// plus the last kTailCuts (where a lenient parser would most likely accept a document), so an
// 88 KB embeddings answer stays well under a second under ASan.
constexpr std::size_t kEveryCutBytes = 2048;
constexpr std::size_t kStridedCuts = 256;
constexpr std::size_t kTailCuts = 32;
// Values replaced per document, so one large answer cannot dominate the run time.
constexpr std::size_t kMaxPaths = 300;
// Problems spelled out per failing check; a systematic bug would otherwise print thousands.
constexpr std::size_t kMaxReported = 10;

// ---------------------------------------------------------------------------------------------
// The parsers under test, reduced to their status.

using UnaryParser = absl::Status (*)(std::string_view body);

struct UnaryFamily {
  std::string_view prefix;
  UnaryParser parse;
};

constexpr UnaryFamily kUnaryFamilies[] = {
    {"chat-unary-",
     [](std::string_view body) { return ChatCompletionFromUpstreamJson(body).status(); }},
    {"responses-unary-",
     [](std::string_view body) { return ResponseFromUpstreamJson(body).status(); }},
    {"images-",
     [](std::string_view body) { return ImagesResponseFromUpstreamJson(body).status(); }},
    {"embeddings-",
     [](std::string_view body) { return EmbeddingsResponseFromUpstreamJson(body).status(); }},
};

UnaryParser UnaryParserFor(const std::string& fixture) {
  for (const UnaryFamily& family : kUnaryFamilies) {
    if (fixture.starts_with(family.prefix)) return family.parse;
  }
  ADD_FAILURE() << "no parser for " << fixture;
  return [](std::string_view) { return absl::UnknownError("no parser"); };
}

// One event's data parsed as the service does: into one message reused for the whole stream,
// so state left over from an earlier (broken) event is exercised too.
class StreamEventParser {
 public:
  explicit StreamEventParser(const std::string& fixture) : chat_(fixture.starts_with("chat-")) {}

  absl::Status Parse(std::string_view sse_type, std::string_view data) {
    if (chat_) return ParseChatStreamData(data, chunk_).status();
    return ParseResponseStreamEvent(sse_type, data, event_).status();
  }

 private:
  bool chat_;
  v1::ChatCompletionChunk chunk_;
  v1::ResponseEvent event_;
};

// ---------------------------------------------------------------------------------------------
// Fixtures.

// The unary fixtures the rule is about: 200 answers whose body is a JSON document (a string
// body is raw text sent verbatim, INDEX.md).
std::vector<std::string> UnaryAnswerFixtures() {
  std::vector<std::string> names;
  for (const UnaryFamily& family : kUnaryFamilies) {
    for (std::string& name : FixtureNames(std::string(family.prefix))) {
      const json fixture = LoadFixture(name);
      const json body = fixture.value("body", json());
      if (fixture.value("mode", "") == "unary" && fixture.value("status", 0) == 200 &&
          (body.is_object() || body.is_array())) {
        names.push_back(std::move(name));
      }
    }
  }
  return names;
}

std::vector<std::string> StreamFixtures() {
  std::vector<std::string> names;
  for (const char* prefix : {"chat-stream-", "responses-stream-"}) {
    for (std::string& name : FixtureNames(prefix)) {
      const json fixture = LoadFixture(name);
      if (fixture.value("mode", "") == "sse" && fixture.value("status", 0) == 200) {
        names.push_back(std::move(name));
      }
    }
  }
  return names;
}

// The events of a stream fixture whose data is a JSON object: `[DONE]` and deliberately
// broken payloads are not documents to cut.
std::vector<SseEvent> ObjectEvents(const std::string& fixture) {
  std::vector<SseEvent> events;
  for (SseEvent& event : SplitEvents(StreamBytes(LoadFixture(fixture).at("sse_chunks")),
                                          /*keep_unterminated=*/true)) {
    const json data = json::parse(event.data, /*cb=*/nullptr, /*allow_exceptions=*/false);
    if (data.is_object()) events.push_back(std::move(event));
  }
  return events;
}

// ---------------------------------------------------------------------------------------------
// Cuts and mistyped values.

// Prefix lengths that end before the document's last closing bracket.
std::vector<std::size_t> CutPositions(std::string_view text) {
  const std::size_t last = text.find_last_of("}]");
  std::vector<std::size_t> cuts;
  if (last == std::string_view::npos) return cuts;
  for (std::size_t cut = 0; cut <= std::min(last, kEveryCutBytes); ++cut) cuts.push_back(cut);
  if (last > kEveryCutBytes) {
    const std::size_t stride = std::max<std::size_t>(1, (last - kEveryCutBytes) / kStridedCuts);
    for (std::size_t cut = kEveryCutBytes + stride; cut < last; cut += stride) cuts.push_back(cut);
    for (std::size_t cut = std::max(kEveryCutBytes + 1, last - kTailCuts); cut <= last; ++cut) {
      cuts.push_back(cut);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  }
  return cuts;
}

// Where one value sits in a document's dump(): replacing bytes [begin, end) replaces it.
struct ValueSpan {
  std::string path;       // JSON pointer, "" for the root
  const char* type_name;  // json::type_name(): all numbers are "number"
  std::size_t begin = 0;
  std::size_t end = 0;
};

// Writes `value` exactly as dump() does, noting the span of each value on the way, root first,
// at most kMaxPaths. Of an array only the first two and the last element are noted: the others
// take the same code paths, and an embedding has thousands.
void DumpWithSpans(const json& value, const std::string& path, bool note, std::string& out,
                   std::vector<ValueSpan>& spans) {
  note = note && spans.size() < kMaxPaths;
  const std::size_t index = spans.size();
  if (note) spans.push_back({path, value.type_name(), out.size(), 0});
  if (value.is_object()) {
    out += '{';
    bool first = true;
    for (const auto& member : value.items()) {
      if (!first) out += ',';
      first = false;
      out += json(member.key()).dump();
      out += ':';
      const std::string token = absl::StrReplaceAll(member.key(), {{"~", "~0"}, {"/", "~1"}});
      DumpWithSpans(member.value(), absl::StrCat(path, "/", token), note, out, spans);
    }
    out += '}';
  } else if (value.is_array()) {
    out += '[';
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (i > 0) out += ',';
      const bool sampled = i < 2 || i + 1 == value.size();
      DumpWithSpans(value[i], absl::StrCat(path, "/", i), note && sampled, out, spans);
    }
    out += ']';
  } else {
    out += value.dump();
  }
  if (note) spans[index].end = out.size();
}

struct Replacement {
  const char* type_name;
  const char* text;
};

constexpr Replacement kReplacements[] = {
    {"null", "null"},    {"boolean", "true"}, {"number", "7"},
    {"string", "\"x\""}, {"array", "[]"},     {"object", "{}"},
};

// `text` with the value at `span` replaced by `replacement`.
std::string Replaced(std::string_view text, const ValueSpan& span, std::string_view replacement) {
  std::string replaced(text.substr(0, span.begin));
  replaced += replacement;
  replaced += text.substr(span.end);
  return replaced;
}

// ---------------------------------------------------------------------------------------------
// Checks.

// The problems of one check: the first few spelled out, the rest counted.
class Problems {
 public:
  void Add(std::string problem) {
    if (listed_.size() < kMaxReported) listed_.push_back(std::move(problem));
    ++count_;
  }

  ::testing::AssertionResult Result() const {
    if (count_ == 0) return ::testing::AssertionSuccess();
    ::testing::AssertionResult failure = ::testing::AssertionFailure();
    failure << count_ << " problem(s)";
    if (count_ > listed_.size()) failure << ", the first " << listed_.size();
    failure << ":";
    for (const std::string& problem : listed_) failure << "\n  " << problem;
    return failure;
  }

 private:
  std::vector<std::string> listed_;
  std::size_t count_ = 0;
};

// Empty when `status` is the promised clear error: INTERNAL with a message.
std::string NotAClearError(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kInternal) {
    return absl::StrCat("got ", status.ToString(), ", want INTERNAL");
  }
  if (status.message().empty()) return "INTERNAL without a message";
  return "";
}

// Empty when a mistyped value was tolerated (OK) or refused with a clear error.
std::string NotOkOrClearError(const absl::Status& status) {
  return status.ok() ? "" : NotAClearError(status);
}

// The bytes before `cut`, shortened and escaped, so a failure shows where the cut was.
std::string BeforeCut(std::string_view text, std::size_t cut) {
  constexpr std::size_t kShown = 32;
  const std::size_t from = cut > kShown ? cut - kShown : 0;
  return absl::StrCat(from > 0 ? "..." : "",
                      absl::CEscape(std::string(text.substr(from, cut - from))), "|");
}

void CheckEveryCut(const std::string& where, std::string_view text,
                   const std::function<absl::Status(std::string_view)>& parse, Problems& problems) {
  for (std::size_t cut : CutPositions(text)) {
    const std::string problem = NotAClearError(parse(text.substr(0, cut)));
    if (!problem.empty()) {
      problems.Add(absl::StrCat(where, " cut at byte ", cut, " of ", text.size(), " (",
                                BeforeCut(text, cut), "): ", problem));
    }
  }
}

void CheckEveryMistypedValue(const std::string& where, const json& document,
                             const std::function<absl::Status(std::string_view)>& parse,
                             Problems& problems) {
  std::string text;
  std::vector<ValueSpan> spans;
  DumpWithSpans(document, "", /*note=*/true, text, spans);
  // The spans are only right if the text is what the cuts and the parsers see.
  ASSERT_EQ(text, document.dump()) << where;
  for (const ValueSpan& span : spans) {
    for (const Replacement& replacement : kReplacements) {
      if (std::string_view(replacement.type_name) == span.type_name) continue;
      const std::string problem = NotOkOrClearError(parse(Replaced(text, span, replacement.text)));
      if (!problem.empty()) {
        problems.Add(absl::StrCat(where, " with ", span.path.empty() ? "the root" : span.path, " (",
                                  span.type_name, ") set to ", replacement.text, ": ", problem));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Unary answers.

class BrokenUnaryAnswerTest : public ::testing::TestWithParam<std::string> {
 protected:
  json Body() const { return LoadFixture(GetParam()).at("body"); }
  absl::Status Parse(std::string_view body) const { return UnaryParserFor(GetParam())(body); }
};

// Without this, the cuts below could be failing for some reason other than the cut.
TEST_P(BrokenUnaryAnswerTest, WholeBodyParses) {
  const absl::Status status = Parse(Body().dump());
  EXPECT_TRUE(status.ok()) << GetParam() << ": " << status;
}

TEST_P(BrokenUnaryAnswerTest, EveryCutIsInternal) {
  const std::string text = Body().dump();
  Problems problems;
  CheckEveryCut(
      GetParam(), text, [this](std::string_view body) { return Parse(body); }, problems);
  EXPECT_TRUE(problems.Result());
}

TEST_P(BrokenUnaryAnswerTest, MistypedValueIsOkOrInternal) {
  Problems problems;
  CheckEveryMistypedValue(
      GetParam(), Body(), [this](std::string_view body) { return Parse(body); }, problems);
  EXPECT_TRUE(problems.Result());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BrokenUnaryAnswerTest,
                         ::testing::ValuesIn(UnaryAnswerFixtures()), FixtureTestName);

// ---------------------------------------------------------------------------------------------
// Stream events.

class BrokenStreamEventTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Names the event in failure messages.
  std::string Where(std::size_t index, const SseEvent& event) const {
    return absl::StrCat(GetParam(), " event ", index,
                        event.type.empty() ? "" : absl::StrCat(" (", event.type, ")"));
  }
};

TEST_P(BrokenStreamEventTest, WholePayloadsParse) {
  const std::vector<SseEvent> events = ObjectEvents(GetParam());
  EXPECT_FALSE(events.empty()) << GetParam();
  StreamEventParser parser(GetParam());
  for (std::size_t i = 0; i < events.size(); ++i) {
    const absl::Status status = parser.Parse(events[i].type, events[i].data);
    EXPECT_TRUE(status.ok()) << Where(i, events[i]) << ": " << status;
  }
}

TEST_P(BrokenStreamEventTest, EveryCutIsInternal) {
  const std::vector<SseEvent> events = ObjectEvents(GetParam());
  StreamEventParser parser(GetParam());
  Problems problems;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const std::string& type = events[i].type;
    CheckEveryCut(
        Where(i, events[i]), events[i].data,
        [&](std::string_view data) { return parser.Parse(type, data); }, problems);
  }
  EXPECT_TRUE(problems.Result());
}

TEST_P(BrokenStreamEventTest, MistypedValueIsOkOrInternal) {
  const std::vector<SseEvent> events = ObjectEvents(GetParam());
  StreamEventParser parser(GetParam());
  Problems problems;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const std::string& type = events[i].type;
    CheckEveryMistypedValue(
        Where(i, events[i]), json::parse(events[i].data),
        [&](std::string_view data) { return parser.Parse(type, data); }, problems);
  }
  EXPECT_TRUE(problems.Result());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BrokenStreamEventTest, ::testing::ValuesIn(StreamFixtures()),
                         FixtureTestName);

// A renamed or moved fixture directory would otherwise leave the suites above silently empty.
TEST(BrokenAnswersFixtureListTest, FindsTheFixtures) {
  EXPECT_GE(UnaryAnswerFixtures().size(), 23u);
  EXPECT_GE(StreamFixtures().size(), 18u);
}

}  // namespace
}  // namespace gengate::translate
