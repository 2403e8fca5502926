#include "translate/struct_json.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

namespace gengate::translate {
namespace {

using nlohmann::json;

// Struct numbers are doubles; integral ones inside int64 go out as JSON integers so that
// `"max_tokens": 5` stays `5` and not `5.0` (some upstreams reject a float there).
json NumberToJson(double number) {
  constexpr double kTwoPow63 = 9223372036854775808.0;
  if (std::isfinite(number) && std::trunc(number) == number && number >= -kTwoPow63 &&
      number < kTwoPow63) {
    return static_cast<std::int64_t>(number);
  }
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
