#include "cli/flag_set.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gengate::cli {
namespace {

std::string Normalized(std::string name) {
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

absl::Status BadValue(const std::string& name, const std::string& text, const char* expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", name, "=", text, ": expected ", expected));
}

}  // namespace

FlagSet::FlagSet(std::string usage, std::string description)
    : usage_(std::move(usage)), description_(std::move(description)) {}

void FlagSet::Add(Flag flag) { flags_.push_back(std::move(flag)); }

FlagSet::Flag* FlagSet::Find(const std::string& name) {
  const std::string wanted = Normalized(name);
  for (Flag& flag : flags_) {
    if (Normalized(flag.name) == wanted) return &flag;
  }
  return nullptr;
}

void FlagSet::AddString(const std::string& name, std::string* value, const std::string& help,
                        const std::string& placeholder) {
  Add({name, help, placeholder, value->empty() ? "" : *value,
       [value](const std::optional<std::string>& text) {
         *value = *text;
         return absl::OkStatus();
       }});
}

void FlagSet::AddStrings(const std::string& name, std::vector<std::string>* values,
                         const std::string& help, const std::string& placeholder) {
  Add({name, help + " (repeatable)", placeholder, "",
       [values](const std::optional<std::string>& text) {
         values->push_back(*text);
         return absl::OkStatus();
       }});
}

void FlagSet::AddBool(const std::string& name, bool* value, const std::string& help) {
  Add({name, help, "", "",
       [value, name](const std::optional<std::string>& text) {
         if (!text.has_value() || *text == "true" || *text == "1") {
           *value = true;
         } else if (*text == "false" || *text == "0") {
           *value = false;
         } else {
           return BadValue(name, *text, "true or false");
         }
         return absl::OkStatus();
       }});
}

void FlagSet::AddInt(const std::string& name, std::optional<int>* value, const std::string& help) {
  Add({name, help, "N", value->has_value() ? absl::StrCat(**value) : "",
       [value, name](const std::optional<std::string>& text) {
         int number = 0;
         if (!absl::SimpleAtoi(*text, &number)) return BadValue(name, *text, "an integer");
         *value = number;
         return absl::OkStatus();
       }});
}

void FlagSet::AddDouble(const std::string& name, std::optional<double>* value,
                        const std::string& help) {
  Add({name, help, "X", value->has_value() ? absl::StrCat(**value) : "",
       [value, name](const std::optional<std::string>& text) {
         double number = 0;
         if (!absl::SimpleAtod(*text, &number)) return BadValue(name, *text, "a number");
         *value = number;
         return absl::OkStatus();
       }});
}

void FlagSet::AddDuration(const std::string& name, absl::Duration* value,
                          const std::string& help) {
  Add({name, help, "DURATION", absl::FormatDuration(*value),
       [value, name](const std::optional<std::string>& text) {
         absl::Duration duration;
         if (!absl::ParseDuration(*text, &duration) || duration <= absl::ZeroDuration()) {
           return BadValue(name, *text, "a positive duration such as 30s, 500ms or 2m");
         }
         *value = duration;
         return absl::OkStatus();
       }});
}

absl::StatusOr<std::vector<std::string>> FlagSet::Parse(const std::vector<std::string>& args,
                                                        bool stop_at_positional) {
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positional.insert(positional.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                        args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-' || (arg[1] != '-' && arg != "-h")) {
      if (stop_at_positional) {
        positional.insert(positional.end(), args.begin() + static_cast<std::ptrdiff_t>(i),
                          args.end());
        break;
      }
      positional.push_back(arg);
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      help_requested_ = true;
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    Flag* flag = Find(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    std::optional<std::string> text;
    if (eq != std::string::npos) {
      text = arg.substr(eq + 1);
    } else if (!flag->placeholder.empty()) {
      if (i + 1 == args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      text = args[++i];
    }
    if (absl::Status status = flag->set(text); !status.ok()) return status;
  }
  return positional;
}

std::string FlagSet::Help() const {
  std::string help = absl::StrCat("usage: ", usage_, "\n\n", description_, "\n\nflags:\n");
  for (const Flag& flag : flags_) {
    std::string name = absl::StrCat("  --", flag.name);
    if (!flag.placeholder.empty()) absl::StrAppend(&name, "=", flag.placeholder);
    if (name.size() < 26) name.resize(26, ' ');
    absl::StrAppend(&help, name, " ", flag.help);
    if (!flag.default_text.empty()) absl::StrAppend(&help, " (default ", flag.default_text, ")");
    absl::StrAppend(&help, "\n");
  }
  absl::StrAppend(&help, "  --help                   this text\n");
  return help;
}

}  // namespace gengate::cli
