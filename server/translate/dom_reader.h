// Tolerant readers of upstream JSON over simdjson's DOM, for the hot answers (chat completions
// and their stream chunks): the same rules as the nlohmann readers of common.h (a missing or
// null member, or one of the wrong type, counts as absent), about five times faster on a chat
// answer (bench_micro BM_ChatCompletionTranslate). Internal to translate/.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "simdjson.h"

namespace gengate::translate::dom {

using Element = simdjson::dom::element;
using Array = simdjson::dom::array;

// A parsed document. Small documents are parsed by a parser of this thread, reused so its
// buffers stay allocated; large ones by a parser of their own, so one big answer does not keep
// its buffers on the thread forever. The root (and every element and string_view read from it)
// is valid while this object lives, and on the per-thread parser only until the next Document
// of the same thread: never keep two alive at once on one thread.
class Document {
 public:
  explicit Document(std::string_view text);
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

  bool ok() const { return error_ == simdjson::SUCCESS; }
  Element root() const { return root_; }

 private:
  std::unique_ptr<simdjson::dom::parser> own_parser_;
  Element root_;
  simdjson::error_code error_ = simdjson::SUCCESS;
};

// The member `key` of `object` unless `object` is no object, or the member is missing or null.
std::optional<Element> Member(Element object, std::string_view key);
std::optional<std::string_view> StringMember(Element object, std::string_view key);
std::optional<Array> ArrayMember(Element object, std::string_view key);
std::optional<Element> ObjectMember(Element object, std::string_view key);
// An integer, also from an unsigned past int64 (clamped) or a float count such as `12.0`.
std::optional<std::int64_t> AsInteger(Element value);
std::optional<std::int64_t> IntegerMember(Element object, std::string_view key);
// A number member, 0 when absent.
double DoubleMember(Element object, std::string_view key);
// `bytes` arrive as an array of byte values.
std::optional<std::string> BytesMember(Element object, std::string_view key);
// A string as it is; any other value as its (minified) JSON text.
std::string TextOrJson(Element value);

}  // namespace gengate::translate::dom
