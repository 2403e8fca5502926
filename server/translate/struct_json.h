// google.protobuf.Struct ⇄ nlohmann::json, Struct → JSON text (JsonWriter), and the extra_body
// merge shared by every family.
#pragma once

#include <string>

#include "google/protobuf/struct.pb.h"
#include "nlohmann/json.hpp"
#include "translate/json_writer.h"

namespace gengate::translate {

// Struct numbers are doubles: integral ones that fit in int64 become JSON integers, so `5` stays
// `5` and not `5.0`. An unset Value becomes null.
nlohmann::json StructToJson(const google::protobuf::Struct& value);
nlohmann::json ValueToJson(const google::protobuf::Value& value);
// A non-object gives an empty Struct.
google::protobuf::Struct JsonToStruct(const nlohmann::json& object);
google::protobuf::Value JsonToValue(const nlohmann::json& value);

// Merges `extra_body` into `body` last: its keys replace ours, objects are merged recursively and
// a null value removes the key (RFC 7386 JSON Merge Patch).
void MergeExtraBody(const google::protobuf::Struct& extra_body, nlohmann::json& body);

// The same, for a body written as text: returned as it is when `extra_body` is empty (the usual
// case), else parsed, merged and written again.
std::string WithExtraBody(const google::protobuf::Struct& extra_body, std::string body);

// Writes the value as StructToJson would give it, keys sorted so that the same Struct always
// gives the same bytes (an upstream's prompt cache keys on them).
void WriteStruct(const google::protobuf::Struct& value, JsonWriter& out);
void WriteValue(const google::protobuf::Value& value, JsonWriter& out);

}  // namespace gengate::translate
