#include "translate/struct_json.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gengate::translate {
namespace {

using nlohmann::json;

// Struct numbers are doubles; integral ones inside int64 go out as JSON integers so that
// `"max_tokens": 5` stays `5` and not `5.0` (some upstreams reject a float there).
std::optional<std::int64_t> ExactInteger(double number) {
  constexpr double kTwoPow63 = 9223372036854775808.0;
  if (std::isfinite(number) && std::trunc(number) == number && number >= -kTwoPow63 &&
      number < kTwoPow63) {
    return static_cast<std::int64_t>(number);
  }
  return std::nullopt;
}

json NumberToJson(double number) {
  if (std::optional<std::int64_t> integer = ExactInteger(number)) return *integer;
  return number;
}

}  // namespace

json ValueToJson(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      return NumberToJson(value.number_value());
    case google::protobuf::Value::kStringValue:
      return value.string_value();
    case google::protobuf::Value::kBoolValue:
      return value.bool_value();
    case google::protobuf::Value::kStructValue:
      return StructToJson(value.struct_value());
    case google::protobuf::Value::kListValue: {
      json array = json::array();
      for (const google::protobuf::Value& element : value.list_value().values()) {
        array.push_back(ValueToJson(element));
      }
      return array;
    }
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      break;
  }
  return nullptr;
}

void WriteValue(const google::protobuf::Value& value, JsonWriter& out) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      if (std::optional<std::int64_t> integer = ExactInteger(value.number_value())) {
        out.Int(*integer);
      } else {
        out.Double(value.number_value());
      }
      return;
    case google::protobuf::Value::kStringValue:
      out.String(value.string_value());
      return;
    case google::protobuf::Value::kBoolValue:
      out.Bool(value.bool_value());
      return;
    case google::protobuf::Value::kStructValue:
      WriteStruct(value.struct_value(), out);
      return;
    case google::protobuf::Value::kListValue:
      out.BeginArray();
      for (const google::protobuf::Value& element : value.list_value().values()) {
        WriteValue(element, out);
      }
      out.EndArray();
      return;
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      break;
  }
  out.Null();
}

void WriteStruct(const google::protobuf::Struct& value, JsonWriter& out) {
  std::vector<const google::protobuf::Map<std::string, google::protobuf::Value>::value_type*>
      fields;
  fields.reserve(value.fields().size());
  for (const auto& field : value.fields()) fields.push_back(&field);
  std::sort(fields.begin(), fields.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  out.BeginObject();
  for (const auto* field : fields) {
    out.Key(field->first);
    WriteValue(field->second, out);
  }
  out.EndObject();
}

std::string WithExtraBody(const google::protobuf::Struct& extra_body, std::string body) {
  if (extra_body.fields().empty()) return body;
  json document = json::parse(body);
  MergeExtraBody(extra_body, document);
  return document.dump();
}

json StructToJson(const google::protobuf::Struct& value) {
  json object = json::object();
  for (const auto& [key, field] : value.fields()) {
    object[key] = ValueToJson(field);
  }
  return object;
}

google::protobuf::Value JsonToValue(const json& value) {
  google::protobuf::Value out;
  switch (value.type()) {
    case json::value_t::boolean:
      out.set_bool_value(value.get<bool>());
      break;
    case json::value_t::number_integer:
      out.set_number_value(static_cast<double>(value.get<std::int64_t>()));
      break;
    case json::value_t::number_unsigned:
      out.set_number_value(static_cast<double>(value.get<std::uint64_t>()));
      break;
    case json::value_t::number_float:
      out.set_number_value(value.get<double>());
      break;
    case json::value_t::string:
      out.set_string_value(value.get_ref<const std::string&>());
      break;
    case json::value_t::array: {
      google::protobuf::ListValue& list = *out.mutable_list_value();
      for (const json& element : value) {
        *list.add_values() = JsonToValue(element);
      }
      break;
    }
    case json::value_t::object:
      *out.mutable_struct_value() = JsonToStruct(value);
      break;
    case json::value_t::null:
    case json::value_t::binary:
    case json::value_t::discarded:
      out.set_null_value(google::protobuf::NULL_VALUE);
      break;
  }
  return out;
}

google::protobuf::Struct JsonToStruct(const json& object) {
  google::protobuf::Struct out;
  if (!object.is_object()) return out;
  auto& fields = *out.mutable_fields();
  for (const auto& [key, field] : object.items()) {
    fields[key] = JsonToValue(field);
  }
  return out;
}

void MergeExtraBody(const google::protobuf::Struct& extra_body, json& body) {
  if (extra_body.fields().empty()) return;
  // RFC 7386 JSON Merge Patch: objects merge recursively, null removes, anything else replaces.
  body.merge_patch(StructToJson(extra_body));
}

}  // namespace gengate::translate
