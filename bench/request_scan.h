// What the mock upstream needs to know of a request body, found by scanning the JSON text
// instead of parsing it: a parse of a 2,048-input embeddings request would cost more than the
// answer, and the mock must not be the bottleneck. The scan trusts the body to be the JSON a
// client wrote (gengate, the baselines); it is not a validator.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace gengate::bench {

// The raw text of the value of the first `"key":` in `json`: a string's contents without the
// quotes (escapes kept), or a number / true / false / null token. nullopt when the key is
// absent or its value is an object or array.
std::optional<std::string_view> ScalarField(std::string_view json, std::string_view key);

// How many entries the value of `"key":` has: the element count of an array, 1 for a scalar.
// nullopt when the key is absent.
std::optional<int64_t> ElementCount(std::string_view json, std::string_view key);

// A benchmark parameter carried in the model name, e.g. model "bench:chunks=20:interval_ms=5"
// has IntParam(model, "chunks") == 20. The load generators pick per-call behaviour this way,
// so the same request reaches the mock unchanged directly, through nginx and through gengate.
std::optional<int64_t> IntParam(std::string_view model, std::string_view name);

}  // namespace gengate::bench
