// Router: dispatch and the error-to-fault mapping of the API.
#include "api/router.h"

#include "api/api_error.h"
#include "base/error.h"

namespace insula::api {

void Router::add(const std::string& method, const std::string& path, Handler h) {
  routes_[path][method] = std::move(h);
}

Response fault(int status, const std::string& message) {
  Response r;
  r.status = status;
  r.body = nlohmann::json{{"fault_message", message}};
  return r;
}

std::string path_id(const Request& req) { return req.path.substr(req.path.rfind('/') + 1); }

Response Router::handle(const Request& req) const {
  auto p = routes_.find(req.path);
  if (p == routes_.end()) {
    // "/drives/x" matches the route "/drives/{drive_id}".
    auto slash = req.path.rfind('/');
    if (slash != std::string::npos && slash > 0 && slash + 1 < req.path.size()) {
      std::string prefix = req.path.substr(0, slash + 1);
      for (auto it = routes_.lower_bound(prefix); it != routes_.end() && it->first.starts_with(prefix); ++it) {
        std::string rest = it->first.substr(prefix.size());
        if (rest.size() > 2 && rest.front() == '{' && rest.back() == '}' && rest.find('/') == std::string::npos) {
          p = it;
          break;
        }
      }
    }
  }
  if (p == routes_.end()) return fault(404, fmt::format("no such resource: {}", req.path));
  auto m = p->second.find(req.method);
  if (m == p->second.end()) {
    Response r = fault(405, fmt::format("{} does not accept {}", req.path, req.method));
    for (const auto& [method, h] : p->second) r.allow += (r.allow.empty() ? "" : ", ") + method;
    return r;
  }
  try {
    return m->second(req);
  } catch (const ApiError& e) {
    return fault(e.status(), e.what());
  } catch (const nlohmann::json::exception& e) {
    return fault(400, fmt::format("bad request body: {}", e.what()));
  } catch (const Error& e) {
    return fault(400, e.what());
  } catch (const std::exception& e) {
    return fault(500, fmt::format("internal error: {}", e.what()));
  }
}

}  // namespace insula::api
