// Reads the recorded upstream answers in GENGATE_FIXTURES_DIR (format in INDEX.md there) for
// the translate tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gengate::translate::fixtures {

// The whole fixture file `name` (e.g. "chat-unary-basic-gpt5-nano-ruby-llm.json"); a missing
// file fails the current test and gives an empty object.
nlohmann::json LoadFixture(const std::string& name);

// File names of the fixtures whose name starts with `prefix`, sorted.
std::vector<std::string> FixtureNames(const std::string& prefix);

// A test name for a fixture file name parameter: without ".json", non-alphanumerics as '_'.
std::string FixtureTestName(const ::testing::TestParamInfo<std::string>& info);

// One server-sent event of a recorded stream.
struct SseEvent {
  std::string type;  // the `event:` field, empty when absent
  std::string data;  // the `data:` lines joined with "\n"
};

// The bytes the upstream wrote for a fixture's "sse_chunks": string chunks as they are,
// {"b64": ...} chunks decoded.
std::string StreamBytes(const nlohmann::json& sse_chunks);

// Enough of the SSE rules for the fixtures: lines end in "\n", "\r\n" or "\r"; a blank line
// ends an event; one optional space after the colon; `:` lines are comments; an event without
// data is no event. An unterminated last event is dropped, as the SSE rules say, unless
// `keep_unterminated` (its data is still something a parser could be handed).
std::vector<SseEvent> SplitEvents(std::string_view bytes, bool keep_unterminated = false);

}  // namespace gengate::translate::fixtures
