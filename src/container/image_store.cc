// Image store on disk:
//   <root>/blobs/sha256/<hex>     content-addressed blobs (layers, configs, manifests)
//   <root>/layers/<hex>/          each layer unpacked once (overlayfs format)
//   <root>/images/<hex>.json      one record per image name (hex = sha256 of the name)
#include "container/image_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/fd.h"
#include "container/runtime.h"
#include "container/secure_path.h"

namespace insula::container {
namespace {

using nlohmann::json;

std::string hex(const unsigned char* d, unsigned n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < n; ++i) {
    s += k[d[i] >> 4];
    s += k[d[i] & 15];
  }
  return s;
}

std::string sha256_string(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  return hex(md, n);
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw errno_error(fmt::format("open {}", path));
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw error("{}: not valid JSON: {}", path, e.what());
  }
}

std::string digest_hex(const std::string& digest) {
  if (digest.rfind("sha256:", 0) != 0 || digest.size() != 71 ||
      digest.find_first_not_of("0123456789abcdef", 7) != std::string::npos)
    throw error("unsupported or malformed digest '{}' (only sha256 is supported)", digest);
  return digest.substr(7);
}

bool exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

}  // namespace

std::string sha256_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw errno_error(fmt::format("open {}", path));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  char buf[1 << 16];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) EVP_DigestUpdate(ctx, buf, n);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  if (n < 0) throw errno_error(fmt::format("read {}", path));
  return "sha256:" + hex(md, len);
}

ImageStore::ImageStore(std::string root) : root_(std::move(root)) {
  for (const char* d : {"/blobs/sha256", "/layers", "/images", "/tmp"}) mkdir_all(root_ + d, 0700);
}

std::string ImageStore::blob_path(const std::string& digest) const { return root_ + "/blobs/sha256/" + digest_hex(digest); }

std::string ImageStore::add_blob(const std::string& file, const std::string& expected) {
  std::string digest = sha256_file(file);
  if (!expected.empty() && digest != expected)
    throw error("blob {} has digest {} but the manifest says {}; the archive is corrupt", file, digest, expected);
  std::string dst = blob_path(digest);
  if (exists(dst)) return digest;  // deduplicated
  std::string tmp = dst + ".tmp";
  {
    std::ifstream in(file, std::ios::binary);
    std::ofstream out(tmp, std::ios::binary);
    out << in.rdbuf();
    if (!out) throw errno_error(fmt::format("write {}", tmp));
  }
  if (::rename(tmp.c_str(), dst.c_str()) != 0) throw errno_error(fmt::format("rename {}", tmp));
  return digest;
}

void ImageStore::unpack_layer(const std::string& digest) {
  std::string dir = root_ + "/layers/" + digest_hex(digest);
  if (exists(dir)) return;  // each layer is unpacked once, whatever image uses it
  std::string tmp = dir + ".tmp";
  remove_tree(tmp);
  mkdir_all(tmp, 0755);
  apply_layer(blob_path(digest), tmp);
  if (::rename(tmp.c_str(), dir.c_str()) != 0) throw errno_error(fmt::format("rename {}", tmp));
}

void ImageStore::save(const Image& img) {
  json j = {{"name", img.name}, {"id", img.id}, {"layers", img.layers}, {"config", img.config}};
  std::ofstream out(root_ + "/images/" + sha256_string(img.name) + ".json");
  out << j.dump(1);
  if (!out) throw errno_error("write image record");
}

std::vector<Image> ImageStore::import_docker(const std::string& dir, const std::string& name) {
  std::vector<Image> out;
  for (const auto& m : read_json(dir + "/manifest.json")) {
    Image img;
    std::string cfg = dir + "/" + m.at("Config").get<std::string>();
    img.id = add_blob(cfg, "");
    img.config = read_json(cfg);
    for (const auto& l : m.at("Layers")) {
      std::string digest = add_blob(dir + "/" + l.get<std::string>(), "");
      unpack_layer(digest);
      img.layers.push_back(digest);
    }
    std::vector<std::string> tags = m.value("RepoTags", std::vector<std::string>{});
    img.name = !name.empty() ? name : !tags.empty() ? tags[0] : img.id.substr(7, 12);
    save(img);
    out.push_back(img);
  }
  return out;
}

std::vector<Image> ImageStore::import_oci(const std::string& dir, const std::string& name) {
  std::vector<Image> out;
  json index = read_json(dir + "/index.json");
  auto blob = [&](const std::string& digest) { return dir + "/blobs/sha256/" + digest_hex(digest); };
  for (const auto& desc : index.at("manifests")) {
    std::string mdigest = desc.at("digest");
    add_blob(blob(mdigest), mdigest);
    json manifest = read_json(blob(mdigest));
    if (manifest.contains("manifests")) throw error("nested image indexes are not supported ({})", mdigest);
    Image img;
    std::string cdigest = manifest.at("config").at("digest");
    img.id = add_blob(blob(cdigest), cdigest);
    img.config = read_json(blob(cdigest));
    for (const auto& l : manifest.at("layers")) {
      std::string digest = l.at("digest");
      add_blob(blob(digest), digest);
      unpack_layer(digest);
      img.layers.push_back(digest);
    }
    std::string ref;
    if (desc.contains("annotations")) ref = desc["annotations"].value("org.opencontainers.image.ref.name", "");
    img.name = !name.empty() ? name : !ref.empty() ? ref : img.id.substr(7, 12);
    if (img.name.find(':') == std::string::npos && img.name.find('/') == std::string::npos && ref == img.name)
      img.name = "localhost/image:" + ref;
    save(img);
    out.push_back(img);
  }
  return out;
}

std::vector<Image> ImageStore::import(const std::string& path, const std::string& name) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw errno_error(fmt::format("import {}", path));
  std::string dir = path;
  std::string tmp;
  if (!S_ISDIR(st.st_mode)) {
    char tmpl[PATH_MAX];
    fmt::format_to_n(tmpl, sizeof tmpl - 1, "{}/tmp/import-XXXXXX{}", root_, '\0');
    if (!::mkdtemp(tmpl)) throw errno_error("mkdtemp");
    tmp = dir = tmpl;
    try {
      extract_archive(path, dir);
    } catch (...) {
      remove_tree(tmp);
      throw;
    }
  }
  try {
    std::vector<Image> out;
    if (exists(dir + "/manifest.json"))
      out = import_docker(dir, name);
    else if (exists(dir + "/index.json"))
      out = import_oci(dir, name);
    else
      throw error("{} is neither a docker-save archive (manifest.json) nor an OCI image layout (index.json)", path);
    if (!tmp.empty()) remove_tree(tmp);
    return out;
  } catch (...) {
    if (!tmp.empty()) remove_tree(tmp);
    throw;
  }
}

std::vector<Image> ImageStore::list() const {
  std::vector<Image> out;
  DIR* d = ::opendir((root_ + "/images").c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() < 6 || n.substr(n.size() - 5) != ".json") continue;
    json j = read_json(root_ + "/images/" + n);
    out.push_back({j.at("name"), j.at("id"), j.at("layers"), j.at("config")});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const Image& a, const Image& b) { return a.name < b.name; });
  return out;
}

Image ImageStore::get(const std::string& name) const {
  for (const auto& img : list()) {
    if (img.name == name || img.name == name + ":latest" || img.name == "localhost/" + name ||
        img.name == "localhost/" + name + ":latest")
      return img;
    if (name.size() >= 6 && (img.id.substr(7).rfind(name, 0) == 0 || img.id == name)) return img;
  }
  throw error("image {} not found; `insula image ls` lists the store", name);
}

void ImageStore::remove(const std::string& name) {
  Image img = get(name);
  ::unlink((root_ + "/images/" + sha256_string(img.name) + ".json").c_str());
  // Layers and blobs no other image refers to go too.
  std::set<std::string> used;
  for (const auto& other : list()) {
    used.insert(other.id);
    used.insert(other.layers.begin(), other.layers.end());
  }
  for (const auto& l : img.layers)
    if (!used.count(l)) {
      remove_tree(root_ + "/layers/" + digest_hex(l));
      ::unlink(blob_path(l).c_str());
    }
  if (!used.count(img.id)) ::unlink(blob_path(img.id).c_str());
}

std::vector<std::string> ImageStore::lower_dirs(const Image& img) const {
  std::vector<std::string> out;
  for (auto it = img.layers.rbegin(); it != img.layers.rend(); ++it) out.push_back(root_ + "/layers/" + digest_hex(*it));
  return out;
}

}  // namespace insula::container
