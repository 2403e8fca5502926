// FlagSet: the flags of one gengate-cli command, parsed from its arguments, with a --help
// text generated from the same declarations. (abseil flags are process-wide, so every
// command's --help would list every flag; a set per command keeps each help to the point.)
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gengate::cli {

class FlagSet {
 public:
  // `usage` is the synopsis line, `description` a paragraph or two for --help.
  FlagSet(std::string usage, std::string description);

  // Names use underscores or dashes interchangeably (--no-stream is --no_stream). The
  // pointers are borrowed and must outlive Parse().
  // `placeholder` names the value in --help ("FILE", "URL").
  void AddString(const std::string& name, std::string* value, const std::string& help,
                 const std::string& placeholder = "TEXT");
  // Repeatable: each occurrence appends.
  void AddStrings(const std::string& name, std::vector<std::string>* values,
                  const std::string& help, const std::string& placeholder = "TEXT");
  void AddBool(const std::string& name, bool* value, const std::string& help);
  void AddInt(const std::string& name, std::optional<int>* value, const std::string& help);
  void AddDouble(const std::string& name, std::optional<double>* value, const std::string& help);
  void AddDuration(const std::string& name, absl::Duration* value, const std::string& help);

  // Parses `args` (flags as --name=value, --name value, or --name for booleans; "--" ends the
  // flags) and returns the other arguments in order. With `stop_at_positional`, parsing ends
  // at the first non-flag argument, which is returned with everything after it. --help (or
  // -h) sets help_requested().
  absl::StatusOr<std::vector<std::string>> Parse(const std::vector<std::string>& args,
                                                 bool stop_at_positional = false);
  bool help_requested() const { return help_requested_; }
  std::string Help() const;

 private:
  struct Flag {
    std::string name;  // as declared, shown in --help; matched with dashes as underscores
    std::string help;
    std::string placeholder;  // "" for booleans
    std::string default_text;
    // Sets the value from the text after "="; nullopt text for a bare --name.
    std::function<absl::Status(const std::optional<std::string>& text)> set;
  };
  void Add(Flag flag);
  Flag* Find(const std::string& name);

  std::string usage_;
  std::string description_;
  std::vector<Flag> flags_;
  bool help_requested_ = false;
};

}  // namespace gengate::cli
