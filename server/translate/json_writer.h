// JsonWriter: appends JSON text to a string as it is written, without building a document.
// Requests go upstream through it: a chat request is a dozen small objects, which a DOM
// allocates one by one, node by node, before serializing them. Internal to translate/.
//
//   JsonWriter out(body);
//   out.BeginObject();
//   out.Key("model");
//   out.String(request.model());
//   out.EndObject();
//
// The caller writes a well-formed sequence (a Key before every member value, Begin and End
// paired); the writer adds the commas and escapes strings. Numbers are written in their
// shortest exact form, so a reader gets the same value back, and a double always shows that it
// is one (1.0, not 1), as nlohmann's dump does. Non-finite numbers become null.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gengate::translate {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  void Key(std::string_view key);

  void String(std::string_view value);
  void Int(std::int64_t value);
  void Double(double value);
  void Bool(bool value);
  void Null();

  // Key(key), then the value. Named by type: a string literal would otherwise pick the bool.
  void Member(std::string_view key, std::string_view value) {
    Key(key);
    String(value);
  }
  void IntMember(std::string_view key, std::int64_t value) {
    Key(key);
    Int(value);
  }
  void DoubleMember(std::string_view key, double value) {
    Key(key);
    Double(value);
  }
  void BoolMember(std::string_view key, bool value) {
    Key(key);
    Bool(value);
  }

 private:
  void BeforeValue();

  std::string& out_;
  // A value was written at this level, so the next one needs a comma.
  bool need_comma_ = false;
};

}  // namespace gengate::translate
