#include "translate/fixtures.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>

#include "absl/strings/escaping.h"

namespace gengate::translate::fixtures {

namespace fs = std::filesystem;
using nlohmann::json;

json LoadFixture(const std::string& name) {
  std::ifstream in(fs::path(GENGATE_FIXTURES_DIR) / name);
  if (!in) {
    ADD_FAILURE() << "cannot open fixture " << name;
    return json::object();
  }
  return json::parse(in);
}

std::vector<std::string> FixtureNames(const std::string& prefix) {
  std::vector<std::string> names;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(GENGATE_FIXTURES_DIR, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && entry.path().extension() == ".json") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string FixtureTestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param.substr(0, info.param.size() - std::string(".json").size());
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

std::string StreamBytes(const json& sse_chunks) {
  std::string bytes;
  for (const json& chunk : sse_chunks) {
    if (chunk.is_string()) {
      bytes += chunk.get<std::string>();
    } else {
      std::string decoded;
      EXPECT_TRUE(absl::Base64Unescape(chunk.at("b64").get<std::string>(), &decoded));
      bytes += decoded;
    }
  }
  return bytes;
}

std::vector<SseEvent> SplitEvents(std::string_view bytes, bool keep_unterminated) {
  std::vector<SseEvent> events;
  SseEvent current;
  bool has_data = false;
  std::size_t start = 0;
  while (start < bytes.size()) {
    std::size_t end = bytes.find_first_of("\r\n", start);
    if (end == std::string_view::npos) end = bytes.size();
    const std::string_view line = bytes.substr(start, end - start);
    start = end + 1;
    if (end + 1 < bytes.size() && bytes[end] == '\r' && bytes[end + 1] == '\n') ++start;
    if (line.empty()) {
      if (has_data) events.push_back(std::move(current));
      current = SseEvent();
      has_data = false;
      continue;
    }
    if (line[0] == ':') continue;
    const std::size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    if (field == "event") {
      current.type = std::string(value);
    } else if (field == "data") {
      if (has_data) current.data += '\n';
      current.data += value;
      has_data = true;
    }
  }
  if (has_data && keep_unterminated) events.push_back(std::move(current));
  return events;
}

}  // namespace gengate::translate::fixtures
