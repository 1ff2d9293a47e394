// Pulling images from an OCI distribution (Docker registry v2) endpoint with libcurl.
#include <curl/curl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "base/error.h"
#include "container/image_store.h"
#include "container/runtime.h"

namespace insula::container {
namespace {

using nlohmann::json;

struct Reference {
  std::string registry, repository, tag, digest;
};

Reference parse_reference(const std::string& ref) {
  Reference r;
  std::string rest = ref;
  auto slash = rest.find('/');
  std::string first = slash == std::string::npos ? "" : rest.substr(0, slash);
  if (!first.empty() && (first.find('.') != std::string::npos || first.find(':') != std::string::npos || first == "localhost")) {
    r.registry = first;
    rest = rest.substr(slash + 1);
  } else {
    throw error("image reference '{}' has no registry host; use HOST[:PORT]/NAME[:TAG]", ref);
  }
  if (auto at = rest.find('@'); at != std::string::npos) {
    r.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
  }
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find('/', colon) == std::string::npos) {
    r.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  if (r.tag.empty()) r.tag = "latest";
  if (rest.empty()) throw error("image reference '{}' has no repository name", ref);
  r.repository = rest;
  return r;
}

struct Curl {
  CURL* h = curl_easy_init();
  ~Curl() { curl_easy_cleanup(h); }
};

size_t to_string(char* p, size_t s, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, s * n);
  return s * n;
}
size_t to_file(char* p, size_t s, size_t n, void* out) { return std::fwrite(p, s, n, static_cast<FILE*>(out)) * s; }

// GET url into `body` (or `file` when given); returns the HTTP status.
long http_get(const std::string& url, const std::vector<std::string>& headers, std::string* body, FILE* file,
              std::string* resp_headers) {
  Curl c;
  if (!c.h) throw error("curl_easy_init failed");
  curl_slist* hl = nullptr;
  for (const auto& h : headers) hl = curl_slist_append(hl, h.c_str());
  curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c.h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c.h, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c.h, CURLOPT_FAILONERROR, 0L);
  if (file) {
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, to_file);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, file);
  } else {
    curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, to_string);
    curl_easy_setopt(c.h, CURLOPT_WRITEDATA, body);
  }
  if (resp_headers) {
    curl_easy_setopt(c.h, CURLOPT_HEADERFUNCTION, to_string);
    curl_easy_setopt(c.h, CURLOPT_HEADERDATA, resp_headers);
  }
  CURLcode rc = curl_easy_perform(c.h);
  curl_slist_free_all(hl);
  if (rc != CURLE_OK) throw error("GET {}: {}", url, curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(c.h, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

const char* kAccept =
    "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

}  // namespace

Image ImageStore::pull(const std::string& reference, bool plain_http) {
  Reference ref = parse_reference(reference);
  std::string host = ref.registry.substr(0, ref.registry.find(':'));
  bool http = plain_http || host == "127.0.0.1" || host == "localhost" || host == "[::1]";
  std::string base = fmt::format("{}://{}/v2/{}", http ? "http" : "https", ref.registry, ref.repository);
  std::string tmpdir = root_ + "/tmp";

  auto get_manifest = [&](const std::string& what, const std::string& expected) {
    std::string body, hdr;
    long st = http_get(base + "/manifests/" + what, {kAccept}, &body, nullptr, &hdr);
    if (st == 404) throw error("pull {}: manifest unknown (no such image or tag)", reference);
    if (st == 401) throw error("pull {}: the registry requires authentication (not supported yet)", reference);
    if (st != 200) throw error("pull {}: registry answered HTTP {} for the manifest", reference, st);
    std::string path = tmpdir + "/manifest-" + std::to_string(::getpid());
    std::ofstream(path, std::ios::binary) << body;
    std::string digest = add_blob(path, expected);  // verifies when pulled by digest
    ::unlink(path.c_str());
    return std::pair<json, std::string>{json::parse(body), digest};
  };

  auto [manifest, mdigest] = get_manifest(ref.digest.empty() ? ref.tag : ref.digest, ref.digest);
  if (manifest.contains("manifests")) {
    std::string pick;
    for (const auto& m : manifest["manifests"]) {
      const json& p = m.value("platform", json::object());
      if (p.value("os", "") == "linux" && p.value("architecture", "") == "amd64") pick = m.at("digest");
    }
    if (pick.empty()) throw error("pull {}: the image index has no linux/amd64 manifest", reference);
    std::tie(manifest, mdigest) = get_manifest(pick, pick);
  }

  auto get_blob = [&](const std::string& digest) {
    std::string path = tmpdir + "/blob-" + std::to_string(::getpid());
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw errno_error(fmt::format("open {}", path));
    long st;
    try {
      st = http_get(base + "/blobs/" + digest, {}, nullptr, f, nullptr);
    } catch (...) {
      std::fclose(f);
      ::unlink(path.c_str());
      throw;
    }
    std::fclose(f);
    if (st != 200) {
      ::unlink(path.c_str());
      throw error("pull {}: registry answered HTTP {} for blob {}", reference, st, digest);
    }
    try {
      add_blob(path, digest);  // throws on a digest mismatch
    } catch (...) {
      ::unlink(path.c_str());
      throw;
    }
    ::unlink(path.c_str());
  };

  Image img;
  img.id = manifest.at("config").at("digest");
  get_blob(img.id);
  std::ifstream cfg(blob_path(img.id));
  img.config = json::parse(cfg);
  for (const auto& l : manifest.at("layers")) {
    std::string d = l.at("digest");
    if (::access(blob_path(d).c_str(), F_OK) != 0) get_blob(d);  // already stored: deduplicated
    unpack_layer(d);
    img.layers.push_back(d);
  }
  img.name = ref.registry + "/" + ref.repository + (ref.digest.empty() ? ":" + ref.tag : "@" + ref.digest);
  save(img);
  return img;
}

}  // namespace insula::container
