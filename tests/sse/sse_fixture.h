// Reads the recorded SSE fixtures in GENGATE_FIXTURES_DIR (format in INDEX.md there).
#pragma once

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace gengate::sse::testing {

// Ids (file names without ".json") of every fixture whose `mode` is "sse", sorted.
std::vector<std::string> ListSseFixtureIds();

// The writes of fixture `id` as raw bytes: string entries as their UTF-8 bytes, {"b64": ...}
// entries decoded from base64.
::testing::AssertionResult LoadSseChunks(const std::string& id, std::vector<std::string>* chunks);

// Decodes standard base64 (with or without '=' padding); false on any other character.
bool DecodeBase64(const std::string& text, std::string* bytes);

}  // namespace gengate::sse::testing
