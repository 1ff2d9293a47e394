// Strict request bodies: a JSON object with only the fields an endpoint
// knows, each of the right type and range. Anything else is a 400.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace insula::api {

// Parses body as a JSON object whose keys are all in `allowed`.
nlohmann::json parse_object(const std::string& body, std::initializer_list<std::string_view> allowed);

std::optional<std::string> string_field(const nlohmann::json& o, const char* key);
std::string required_string(const nlohmann::json& o, const char* key);
// An integer in [min, max].
std::optional<uint64_t> uint_field(const nlohmann::json& o, const char* key, uint64_t min, uint64_t max);
std::optional<bool> bool_field(const nlohmann::json& o, const char* key);
// A nested object whose keys are all in `allowed` (null or absent: nullopt).
std::optional<nlohmann::json> object_field(const nlohmann::json& o, const char* key,
                                           std::initializer_list<std::string_view> allowed);

}  // namespace insula::api
