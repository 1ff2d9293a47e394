// The API's request handling without a server: strict bodies (types,
// ranges, unknown fields, non-objects), routing (404, 405 with Allow) and
// the mapping of errors to fault messages. Pure: also runs under ASan.
#include <gtest/gtest.h>

#include "api/api_error.h"
#include "api/json_body.h"
#include "api/router.h"
#include "base/error.h"

namespace insula::api {
namespace {

using nlohmann::json;

int status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    return e.status();
  }
  return 0;
}

TEST(JsonBody, RefusesWhatIsNotAKnownObject) {
  for (const char* body : {"", "nul", "[]", "1", "\"x\"", "{\"a\":1,}", "{\"a\":1}{", "{\"b\":1}", "null"}) {
    EXPECT_EQ(status_of([&] { parse_object(body, {"a"}); }), 400) << body;
  }
  EXPECT_EQ(parse_object("{\"a\": 1}", {"a"})["a"], 1);
  EXPECT_EQ(parse_object("{}", {"a"}).size(), 0u);
}

TEST(JsonBody, IntegersAreCheckedForTypeAndRange) {
  auto get = [](const char* body) { return uint_field(parse_object(body, {"n"}), "n", 1, 32); };
  EXPECT_EQ(get("{\"n\": 1}"), 1u);
  EXPECT_EQ(get("{\"n\": 32}"), 32u);
  EXPECT_EQ(get("{}"), std::nullopt);
  EXPECT_EQ(get("{\"n\": null}"), std::nullopt);
  for (const char* bad : {"{\"n\": 0}", "{\"n\": 33}", "{\"n\": -1}", "{\"n\": 1.5}", "{\"n\": \"2\"}", "{\"n\": true}",
                          "{\"n\": 18446744073709551616}", "{\"n\": 1e400}", "{\"n\": [1]}"}) {
    EXPECT_EQ(status_of([&] { get(bad); }), 400) << bad;
  }
}

TEST(JsonBody, StringsAndBools) {
  auto o = parse_object("{\"s\": \"x\", \"b\": false, \"n\": 3}", {"s", "b", "n"});
  EXPECT_EQ(required_string(o, "s"), "x");
  EXPECT_EQ(bool_field(o, "b"), false);
  EXPECT_EQ(status_of([&] { string_field(o, "n"); }), 400);
  EXPECT_EQ(status_of([&] { bool_field(o, "n"); }), 400);
  EXPECT_EQ(status_of([&] { required_string(o, "missing"); }), 400);
}

TEST(Router, NotFoundMethodNotAllowedAndFaults) {
  Router r;
  r.add("GET", "/a", [](const Request&) { return Response{200, json{{"ok", true}}, {}, {}}; });
  r.add("PUT", "/a", [](const Request&) -> Response { throw conflict("busy {}", 1); });
  r.add("PATCH", "/a", [](const Request&) -> Response { throw error("plain error"); });
  r.add("GET", "/b", [](const Request& req) -> Response {
    parse_object(req.body, {});
    return Response{};
  });
  EXPECT_EQ(r.handle({"GET", "/a", ""}).status, 200);
  auto nf = r.handle({"GET", "/nope", ""});
  EXPECT_EQ(nf.status, 404);
  EXPECT_TRUE(nf.body->contains("fault_message"));
  auto na = r.handle({"DELETE", "/a", ""});
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(na.allow, "GET, PATCH, PUT");
  auto c = r.handle({"PUT", "/a", ""});
  EXPECT_EQ(c.status, 409);
  EXPECT_EQ((*c.body)["fault_message"], "busy 1");
  EXPECT_EQ(r.handle({"PATCH", "/a", ""}).status, 400);
  EXPECT_EQ(r.handle({"GET", "/b", "{\"x\":1}"}).status, 400);
  EXPECT_EQ(r.handle({"GET", "/b", "{}"}).status, 204);
}

TEST(Router, PathParameters) {
  Router r;
  r.add("PUT", "/drives/{drive_id}", [](const Request& req) { return Response{200, json{{"id", path_id(req)}}, {}, {}}; });
  r.add("GET", "/drives/special", [](const Request&) { return Response{204, std::nullopt, {}, {}}; });
  EXPECT_EQ((*r.handle({"PUT", "/drives/root", ""}).body)["id"], "root");
  EXPECT_EQ(r.handle({"GET", "/drives/special", ""}).status, 204);  // an exact route wins
  EXPECT_EQ(r.handle({"PUT", "/drives/", ""}).status, 404);
  EXPECT_EQ(r.handle({"PUT", "/drives/a/b", ""}).status, 404);
  EXPECT_EQ(r.handle({"PUT", "/drives", ""}).status, 404);
  EXPECT_EQ(r.handle({"PUT", "/drivesx/a", ""}).status, 404);
  auto na = r.handle({"GET", "/drives/x", ""});
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(na.allow, "PUT");
}

}  // namespace
}  // namespace insula::api
