// The server against docs/api/openapi.yaml: every documented path answers
// each documented method with a documented status whose body matches the
// documented schema (required properties and their types), and accepts no
// method the document does not list (OPTIONS' 405 lists the real ones).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include "run_cli.h"
#include "vmm_fixture.h"

namespace insula::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

YAML::Node resolve(const YAML::Node& root, YAML::Node n) {
  while (n.IsMap() && n["$ref"]) {
    std::string ref = n["$ref"].as<std::string>();  // "#/components/schemas/X"
    YAML::Node cur;
    cur.reset(root);
    size_t pos = 2;
    while (pos < ref.size()) {
      size_t next = ref.find('/', pos);
      std::string key = ref.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
      cur.reset(cur[key]);  // (Node's operator= would write into the document)
      pos = next == std::string::npos ? ref.size() : next + 1;
    }
    n.reset(cur);
  }
  return n;
}

json to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    json o = json::object();
    for (const auto& kv : n) o[kv.first.as<std::string>()] = to_json(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    json a = json::array();
    for (const auto& v : n) a.push_back(to_json(v));
    return a;
  }
  std::string s = n.as<std::string>();
  if (n.Tag() == "!") return s;  // quoted
  try {
    size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used == s.size()) return v;
  } catch (...) {
  }
  return s;
}

// Checks a value against the subset of JSON Schema the document uses.
void check_schema(const YAML::Node& root, const YAML::Node& schema_in, const json& v, const std::string& where) {
  YAML::Node schema = resolve(root, schema_in);
  if (v.is_null() && schema["nullable"] && schema["nullable"].as<bool>()) return;
  if (schema["allOf"]) {
    check_schema(root, schema["allOf"][0], v, where);
    return;
  }
  std::string type = schema["type"] ? schema["type"].as<std::string>() : "";
  if (type == "object") {
    ASSERT_TRUE(v.is_object()) << where << ": not an object: " << v;
    if (schema["required"]) {
      for (const auto& k : schema["required"]) {
        EXPECT_TRUE(v.contains(k.as<std::string>())) << where << ": no " << k;
      }
    }
    for (const auto& [key, val] : v.items()) {
      bool known = schema["properties"] && schema["properties"][key];
      if (!known) {
        EXPECT_FALSE(schema["additionalProperties"] && !schema["additionalProperties"].as<bool>())
            << where << ": undocumented property " << key;
        continue;
      }
      check_schema(root, schema["properties"][key], val, where + "." + key);
    }
  } else if (type == "string") {
    EXPECT_TRUE(v.is_string()) << where << ": not a string: " << v;
    if (schema["enum"] && v.is_string()) {
      std::set<std::string> allowed;
      for (const auto& e : schema["enum"]) allowed.insert(e.as<std::string>());
      EXPECT_TRUE(allowed.count(v.get<std::string>())) << where << ": " << v << " is not in the enum";
    }
  } else if (type == "integer") {
    EXPECT_TRUE(v.is_number_integer()) << where << ": not an integer: " << v;
  } else if (type == "number") {
    EXPECT_TRUE(v.is_number()) << where << ": not a number: " << v;
  } else if (type == "boolean") {
    EXPECT_TRUE(v.is_boolean()) << where << ": not a boolean: " << v;
  } else if (type == "array") {
    EXPECT_TRUE(v.is_array()) << where << ": not an array: " << v;
  }
}

void check_reply(const YAML::Node& root, const YAML::Node& op, const api::ApiReply& r, const std::string& where) {
  std::string code = std::to_string(r.status);
  ASSERT_TRUE(op["responses"][code]) << where << " answered " << code << ", which is not documented: " << r.raw;
  YAML::Node resp = resolve(root, op["responses"][code]);
  if (resp["content"]) {
    ASSERT_EQ(r.content_type, "application/json") << where;
    check_schema(root, resp["content"]["application/json"]["schema"], r.body, where);
  } else {
    EXPECT_TRUE(r.raw.empty()) << where << " documented without a body but sent " << r.raw;
  }
}

// A documented path with its "{name}" parameters replaced by their examples.
std::string concrete_path(const std::string& path, const YAML::Node& item) {
  std::string out = path;
  if (!item["parameters"]) return out;
  for (const auto& p : item["parameters"]) {
    std::string name = "{" + p["name"].as<std::string>() + "}";
    auto pos = out.find(name);
    if (pos != std::string::npos) out.replace(pos, name.size(), p["example"].as<std::string>());
  }
  return out;
}

const std::vector<std::string> kMethods = {"get", "put", "patch", "post", "delete"};

TEST(OpenApi, EveryDocumentedOperationAnswersAsDocumented) {
  YAML::Node root = YAML::LoadFile(OPENAPI_YAML);
  ASSERT_TRUE(root["paths"]);
  TempDir dir;
  VmmProcess vmm(dir.path());
  auto& api = vmm.api();
  int checked = 0;
  std::vector<std::pair<std::string, YAML::Node>> last;  // /shutdown ends the VMM: run it last
  for (const auto& p : root["paths"]) {
    std::string path = concrete_path(p.first.as<std::string>(), p.second);
    EXPECT_EQ(path.find('{'), std::string::npos) << path << ": a path parameter without an example";
    std::set<std::string> documented;
    for (const auto& m : kMethods) {
      YAML::Node op = p.second[m];
      if (!op) continue;
      std::string method = m;
      for (auto& c : method) c = static_cast<char>(toupper(c));
      documented.insert(method);
      if (path == "/shutdown") {
        last.emplace_back(method, op);
        continue;
      }
      std::string body;
      if (op["requestBody"]) body = to_json(op["requestBody"]["content"]["application/json"]["example"]).dump();
      check_reply(root, op, api.call_raw(method, path, body), method + " " + path);
      ++checked;
    }
    // The server accepts exactly the documented methods.
    auto r = api.call("OPTIONS", path);
    EXPECT_EQ(r.status, 405) << path;
    std::set<std::string> served;
    std::string allow = r.allow;
    for (size_t pos = 0; pos < allow.size();) {
      size_t comma = allow.find(", ", pos);
      served.insert(allow.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
      pos = comma == std::string::npos ? allow.size() : comma + 2;
    }
    EXPECT_EQ(served, documented) << "methods of " << path << " differ between the server and the document";
  }
  for (const auto& [method, op] : last) {
    check_reply(root, op, api.call(method, "/shutdown"), method + " /shutdown");
    ++checked;
  }
  EXPECT_GE(checked, 20);
  EXPECT_EQ(vmm.wait_exit(10s), 0);
}

TEST(OpenApi, RunningVmAnswersAsDocumented) {
  if (!have_kvm()) GTEST_SKIP() << "/dev/kvm is not available here";
  YAML::Node root = YAML::LoadFile(OPENAPI_YAML);
  TempDir dir;
  VmmProcess vmm(dir.path());
  auto& api = vmm.api();
  ASSERT_EQ(api.call("PUT", "/boot-source", json{{"kernel_image_path", test_guest("ticker_pvh.elf")}}).status, 204);
  ASSERT_EQ(api.call("PUT", "/machine-config", json{{"vcpu_count", 1}, {"mem_size_mib", 64}}).status, 204);
  ASSERT_EQ(api.call("PUT", "/balloon", json{{"amount_mib", 0}, {"deflate_on_oom", false}, {"stats_polling_interval_s", 1}}).status, 204);
  check_reply(root, root["paths"]["/actions"]["put"], api.call("PUT", "/actions", json{{"action_type", "InstanceStart"}}), "start");
  check_reply(root, root["paths"]["/balloon"]["patch"], api.call("PATCH", "/balloon", json{{"amount_mib", 8}}), "PATCH /balloon");
  for (const char* path : {"/balloon", "/balloon/statistics", "/vm/config"}) {
    auto r = api.call("GET", path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.raw;
    check_reply(root, root["paths"][path]["get"], r, std::string("GET ") + path);
  }
  EXPECT_EQ(api.call("GET", "/balloon").body["amount_mib"], 8);
  EXPECT_EQ(api.call("GET", "/balloon/statistics").body["target_pages"], 8 * 256);
  for (const char* path : {"/", "/boot-source", "/machine-config", "/metrics", "/version"})
    check_reply(root, root["paths"][path]["get"], api.call("GET", path), std::string("GET ") + path);
  check_reply(root, root["paths"]["/vm"]["patch"], api.call("PATCH", "/vm", json{{"state", "Paused"}}), "pause");
  check_reply(root, root["paths"]["/"]["get"], api.call("GET", "/"), "GET / paused");
  check_reply(root, root["paths"]["/shutdown"]["put"], api.call("PUT", "/shutdown"), "shutdown");
  EXPECT_EQ(vmm.wait_exit(10s), 0);
}

}  // namespace
}  // namespace insula::testing
