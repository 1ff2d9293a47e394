// Pulling images from an OCI distribution (Docker registry v2) endpoint with libcurl.
#include <curl/curl.h>
#include <openssl/evp.h>
#include <strings.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

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
// `userpwd` ("user:password") is sent as HTTP Basic authentication.
long http_get(const std::string& url, const std::vector<std::string>& headers, std::string* body, FILE* file,
              std::string* resp_headers, const std::string& userpwd = "") {
  Curl c;
  if (!c.h) throw error("curl_easy_init failed");
  curl_slist* hl = nullptr;
  for (const auto& h : headers) hl = curl_slist_append(hl, h.c_str());
  curl_easy_setopt(c.h, CURLOPT_URL, url.c_str());
  if (!userpwd.empty()) {
    curl_easy_setopt(c.h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c.h, CURLOPT_USERPWD, userpwd.c_str());
  }
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

// The WWW-Authenticate challenge of a response: scheme ("basic"/"bearer",
// lower case) and its parameters (realm, service, scope). Registry input:
// anything malformed yields what could be parsed, never throws.
struct Challenge {
  std::string scheme;
  std::map<std::string, std::string> params;
};

Challenge parse_challenge(const std::string& headers) {
  Challenge ch;
  std::istringstream in(headers);
  for (std::string line; std::getline(in, line);) {
    const char kName[] = "www-authenticate:";
    if (line.size() < sizeof kName - 1 || ::strncasecmp(line.c_str(), kName, sizeof kName - 1) != 0) continue;
    std::string v = line.substr(sizeof kName - 1);
    size_t i = v.find_first_not_of(" \t");
    if (i == std::string::npos) continue;
    size_t sp = v.find(' ', i);
    ch.scheme = v.substr(i, sp == std::string::npos ? std::string::npos : sp - i);
    for (auto& c : ch.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (i = sp; i != std::string::npos && i < v.size();) {
      i = v.find_first_not_of(" ,\t\r", i);
      if (i == std::string::npos) break;
      size_t eq = v.find('=', i);
      if (eq == std::string::npos) break;
      std::string key = v.substr(i, eq - i), value;
      i = eq + 1;
      if (i < v.size() && v[i] == '"') {
        size_t end = v.find('"', i + 1);
        if (end == std::string::npos) break;
        value = v.substr(i + 1, end - i - 1);
        i = end + 1;
      } else {
        size_t end = v.find_first_of(", \r", i);
        value = v.substr(i, end == std::string::npos ? std::string::npos : end - i);
        i = end;
      }
      ch.params[key] = value;
    }
    break;
  }
  return ch;
}

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(n);
  return out;
}

std::string base64_decode(const std::string& in) {
  std::string out(3 * (in.size() / 4) + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return {};
  out.resize(n);
  // EVP_DecodeBlock keeps the bytes that '=' padding stands for as zeros.
  for (size_t pad = in.size(); pad > 0 && in[pad - 1] == '='; --pad) out.pop_back();
  return out;
}

// Credentials for `registry` from the auth file podman/skopeo/docker write:
// $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, else
// ~/.docker/config.json ({"auths": {"HOST[:PORT]": {"auth": base64(user:password)}}}).
std::string creds_from_auth_file(const std::string& registry) {
  std::vector<std::string> files;
  if (const char* f = ::getenv("REGISTRY_AUTH_FILE")) {
    files.push_back(f);
  } else {
    if (const char* x = ::getenv("XDG_RUNTIME_DIR")) files.push_back(std::string(x) + "/containers/auth.json");
    if (const char* h = ::getenv("HOME")) files.push_back(std::string(h) + "/.docker/config.json");
  }
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) continue;
    json j = json::parse(in, nullptr, false);
    if (!j.is_object() || !j.contains("auths") || !j["auths"].is_object()) continue;
    for (const auto& key : {registry, "https://" + registry, "http://" + registry}) {
      const json& a = j["auths"].contains(key) ? j["auths"][key] : json();
      if (a.is_object() && a.contains("auth") && a["auth"].is_string()) {
        std::string creds = base64_decode(a["auth"].get<std::string>());
        if (creds.find(':') != std::string::npos) return creds;
      }
    }
  }
  return {};
}

std::string url_escape(const std::string& s) {
  Curl c;
  char* e = curl_easy_escape(c.h, s.data(), static_cast<int>(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

// Asks the registry's /v2/ endpoint which authentication it wants and returns
// the Authorization header for the pull ("" for an anonymous registry):
// Basic with the credentials, or a Bearer token from the realm the challenge
// names (the distribution spec's token flow), scoped to pulling `repository`.
std::string authenticate(const std::string& root, const std::string& registry, const std::string& repository,
                         std::string creds, const std::string& reference) {
  std::string body, hdr;
  long st = http_get(root + "/v2/", {}, &body, nullptr, &hdr);
  if (st != 401) return {};
  if (creds.empty()) creds = creds_from_auth_file(registry);
  Challenge ch = parse_challenge(hdr);
  if (ch.scheme == "basic") {
    if (creds.empty())
      throw error("pull {}: the registry requires authentication; pass --creds USER:PASSWORD (or log in: auth file)", reference);
    return "Authorization: Basic " + base64(creds);
  }
  if (ch.scheme == "bearer" && !ch.params["realm"].empty()) {
    std::string url = ch.params["realm"] + (ch.params["realm"].find('?') == std::string::npos ? "?" : "&");
    if (!ch.params["service"].empty()) url += "service=" + url_escape(ch.params["service"]) + "&";
    url += "scope=" + url_escape("repository:" + repository + ":pull");
    std::string token_body;
    long ts = http_get(url, {}, &token_body, nullptr, nullptr, creds);
    if (ts == 401 || ts == 403)
      throw error("pull {}: the registry's token service refused {}; check --creds", reference,
                  creds.empty() ? "anonymous access" : "the credentials");
    if (ts != 200) throw error("pull {}: the token service {} answered HTTP {}", reference, ch.params["realm"], ts);
    json t = json::parse(token_body, nullptr, false);
    std::string token;
    if (t.is_object() && t.contains("token") && t["token"].is_string()) token = t["token"];
    if (token.empty() && t.is_object() && t.contains("access_token") && t["access_token"].is_string()) token = t["access_token"];
    if (token.empty()) throw error("pull {}: the token service {} sent no token", reference, ch.params["realm"]);
    return "Authorization: Bearer " + token;
  }
  throw error("pull {}: the registry asks for authentication scheme '{}', which is not supported (Basic and Bearer are)",
              reference, ch.scheme);
}

const char* kAccept =
    "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

}  // namespace

Image ImageStore::pull(const std::string& reference, bool plain_http, const std::string& creds) {
  Reference ref = parse_reference(reference);
  std::string host = ref.registry.substr(0, ref.registry.find(':'));
  bool http = plain_http || host == "127.0.0.1" || host == "localhost" || host == "[::1]";
  std::string root = fmt::format("{}://{}", http ? "http" : "https", ref.registry);
  std::string base = fmt::format("{}/v2/{}", root, ref.repository);
  std::string tmpdir = root_ + "/tmp";
  std::vector<std::string> auth;
  if (std::string a = authenticate(root, ref.registry, ref.repository, creds, reference); !a.empty()) auth.push_back(a);

  auto get_manifest = [&](const std::string& what, const std::string& expected) {
    std::string body, hdr;
    std::vector<std::string> headers = auth;
    headers.push_back(kAccept);
    long st = http_get(base + "/manifests/" + what, headers, &body, nullptr, &hdr);
    if (st == 404) throw error("pull {}: manifest unknown (no such image or tag)", reference);
    if (st == 401 || st == 403)
      throw error("pull {}: the registry refused {} (HTTP {}); check --creds", reference, auth.empty() ? "anonymous access" : "the credentials", st);
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
      st = http_get(base + "/blobs/" + digest, auth, nullptr, f, nullptr);
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
