#include "sse/sse_fixture.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"

namespace gengate::sse::testing {
namespace {

std::filesystem::path FixturePath(const std::string& id) {
  return std::filesystem::path(GENGATE_FIXTURES_DIR) / (id + ".json");
}

// Parses without exceptions; a discarded value means the file is missing or not JSON.
nlohmann::json ReadJson(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return nlohmann::json(nlohmann::json::value_t::discarded);
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str(), /*cb=*/nullptr, /*allow_exceptions=*/false);
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::vector<std::string> ListSseFixtureIds() {
  std::vector<std::string> ids;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(GENGATE_FIXTURES_DIR, error)) {
    if (entry.path().extension() != ".json") continue;
    const nlohmann::json fixture = ReadJson(entry.path());
    if (fixture.is_object() && fixture.value("mode", "") == "sse") {
      ids.push_back(entry.path().stem().string());
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

::testing::AssertionResult LoadSseChunks(const std::string& id,
                                         std::vector<std::string>* chunks) {
  const nlohmann::json fixture = ReadJson(FixturePath(id));
  if (!fixture.is_object()) {
    return ::testing::AssertionFailure() << "cannot read " << FixturePath(id);
  }
  const auto list = fixture.find("sse_chunks");
  if (list == fixture.end() || !list->is_array()) {
    return ::testing::AssertionFailure() << id << " has no sse_chunks array";
  }
  chunks->clear();
  for (const nlohmann::json& entry : *list) {
    if (entry.is_string()) {
      chunks->push_back(entry.get<std::string>());
      continue;
    }
    std::string bytes;
    if (!entry.is_object() || !entry.contains("b64") || !entry["b64"].is_string() ||
        !DecodeBase64(entry["b64"].get<std::string>(), &bytes)) {
      return ::testing::AssertionFailure() << id << " has a bad chunk: " << entry.dump();
    }
    chunks->push_back(std::move(bytes));
  }
  return ::testing::AssertionSuccess();
}

bool DecodeBase64(const std::string& text, std::string* bytes) {
  bytes->clear();
  std::uint32_t bits = 0;
  int bit_count = 0;
  std::size_t end = text.size();
  while (end > 0 && text[end - 1] == '=') --end;
  for (std::size_t i = 0; i < end; ++i) {
    const int value = Base64Value(text[i]);
    if (value < 0) return false;
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      bytes->push_back(static_cast<char>((bits >> bit_count) & 0xFF));
    }
  }
  return true;
}

}  // namespace gengate::sse::testing
