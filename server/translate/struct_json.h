// google.protobuf.Struct ⇄ nlohmann::json, and the extra_body merge shared by every family.
#pragma once

#include "google/protobuf/struct.pb.h"
#include "nlohmann/json.hpp"

namespace gengate::translate {

nlohmann::json StructToJson(const google::protobuf::Struct& value);
nlohmann::json ValueToJson(const google::protobuf::Value& value);
google::protobuf::Struct JsonToStruct(const nlohmann::json& object);
google::protobuf::Value JsonToValue(const nlohmann::json& value);

// Merges `extra_body` into `body` last: its keys replace ours (objects are merged recursively).
void MergeExtraBody(const google::protobuf::Struct& extra_body, nlohmann::json& body);

}  // namespace gengate::translate
