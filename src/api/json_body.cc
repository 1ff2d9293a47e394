// Strict request-body parsing for the API endpoints.
#include "api/json_body.h"

#include <algorithm>

#include "api/api_error.h"

namespace insula::api {

namespace {
void check_keys(const nlohmann::json& o, std::initializer_list<std::string_view> allowed, std::string_view where) {
  for (const auto& [key, value] : o.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      throw bad_request("unknown field \"{}{}\"", where, key);
  }
}
}  // namespace

nlohmann::json parse_object(const std::string& body, std::initializer_list<std::string_view> allowed) {
  nlohmann::json o = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (o.is_discarded()) throw bad_request("the request body is not valid JSON");
  if (!o.is_object()) throw bad_request("the request body must be a JSON object");
  check_keys(o, allowed, "");
  return o;
}

std::optional<nlohmann::json> object_field(const nlohmann::json& o, const char* key,
                                           std::initializer_list<std::string_view> allowed) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_object()) throw bad_request("\"{}\" must be an object", key);
  check_keys(*it, allowed, std::string(key) + ".");
  return *it;
}

std::optional<std::string> string_field(const nlohmann::json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw bad_request("\"{}\" must be a string", key);
  return it->get<std::string>();
}

std::string required_string(const nlohmann::json& o, const char* key) {
  auto v = string_field(o, key);
  if (!v) throw bad_request("\"{}\" is required", key);
  return *v;
}

std::optional<uint64_t> uint_field(const nlohmann::json& o, const char* key, uint64_t min, uint64_t max) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) throw bad_request("\"{}\" must be an integer", key);
  if (it->is_number_unsigned()) {
    uint64_t v = it->get<uint64_t>();
    if (v >= min && v <= max) return v;
  }
  throw bad_request("\"{}\" must be between {} and {}", key, min, max);
}

std::optional<bool> bool_field(const nlohmann::json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) throw bad_request("\"{}\" must be true or false", key);
  return it->get<bool>();
}

}  // namespace insula::api
