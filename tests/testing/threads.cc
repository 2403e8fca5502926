#include "testing/threads.h"

#include <filesystem>
#include <fstream>
#include <string>

namespace gengate::testing {

int CountThreadsNamed(std::string_view name) {
  int count = 0;
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", error)) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    // A thread that ended while the directory was read has no comm left to read.
    if (std::getline(comm, line) && line == name) ++count;
  }
  return count;
}

}  // namespace gengate::testing
