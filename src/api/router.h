// Router: maps (method, path) to a handler; a path ending in "/{name}"
// matches any one non-empty last segment. Unknown paths answer 404, known
// paths with another method 405 (with Allow), handler errors become
// {"fault_message": ...} with the ApiError's status.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace insula::api {

struct Request {
  std::string method;  // "GET", "PUT", "PATCH"...
  std::string path;    // without the query string
  std::string body;
};

// The last segment of a path: the id of a route added as "/prefix/{name}".
std::string path_id(const Request& req);

struct Response {
  int status = 204;
  std::optional<nlohmann::json> body;  // none: no content
  std::string allow;                    // for 405
  std::function<void()> after_sent;     // runs once the response is written
};

using Handler = std::function<Response(const Request&)>;

class Router {
 public:
  void add(const std::string& method, const std::string& path, Handler h);
  Response handle(const Request& req) const;

 private:
  std::map<std::string, std::map<std::string, Handler>> routes_;  // path -> method -> handler
};

Response fault(int status, const std::string& message);

}  // namespace insula::api
