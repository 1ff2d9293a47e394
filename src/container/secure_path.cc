// secure_join and mkdir_all: keep every host path the runtime touches inside the rootfs.
#include "container/secure_path.h"

#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <sstream>
#include <vector>

#include "base/error.h"

namespace insula::container {
namespace {

std::deque<std::string> split(const std::string& p) {
  std::deque<std::string> out;
  std::istringstream ss(p);
  std::string part;
  while (std::getline(ss, part, '/'))
    if (!part.empty() && part != ".") out.push_back(part);
  return out;
}

}  // namespace

std::string secure_join(const std::string& root, const std::string& unsafe) {
  std::vector<std::string> resolved;
  std::deque<std::string> todo = split(unsafe);
  int links = 0;
  bool via_link = false;
  while (!todo.empty()) {
    std::string part = todo.front();
    todo.pop_front();
    if (part == "..") {
      if (resolved.empty())
        throw error("path {} escapes the rootfs {}{}; refusing", unsafe, root, via_link ? " through a symlink" : "");
      resolved.pop_back();
      continue;
    }
    std::string host = root;
    for (const auto& r : resolved) host += "/" + r;
    host += "/" + part;
    struct stat st {};
    if (::lstat(host.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) {
      resolved.push_back(part);
      continue;
    }
    if (++links > 255) throw error("path {} in {}: too many levels of symbolic links", unsafe, root);
    char buf[4096];
    ssize_t n = ::readlink(host.c_str(), buf, sizeof buf - 1);
    if (n < 0) throw errno_error(fmt::format("readlink {}", host));
    std::string target(buf, n);
    via_link = true;
    if (!target.empty() && target[0] == '/') resolved.clear();
    auto parts = split(target);
    todo.insert(todo.begin(), parts.begin(), parts.end());
  }
  std::string out = root;
  for (const auto& r : resolved) out += "/" + r;
  return out;
}

void mkdir_all(const std::string& path, unsigned mode) {
  std::string cur;
  for (const auto& part : split(path)) {
    cur += "/" + part;
    struct stat st {};
    if (::lstat(cur.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) continue;
      throw error("mkdir {}: {} exists and is not a directory", path, cur);
    }
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) throw errno_error(fmt::format("mkdir {}", cur));
  }
}

}  // namespace insula::container
