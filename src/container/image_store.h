// The image store: content-addressed blobs (sha256, deduplicated), layers
// unpacked once each into overlayfs-format directories (whiteouts as 0/0
// character devices, opaque directories as trusted.overlay.opaque=y), and
// named images. Imports docker-save archives and OCI image layouts.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace insula::container {

struct Image {
  std::string name;                 // "repo:tag"
  std::string id;                   // config digest "sha256:..."
  std::vector<std::string> layers;  // layer blob digests, bottom first
  nlohmann::json config;            // the image config JSON
};

std::string sha256_file(const std::string& path);  // "sha256:<hex>"

class ImageStore {
 public:
  explicit ImageStore(std::string root);

  // Imports a docker-save tar, an OCI layout tar, or an OCI layout directory.
  // `name` overrides the archive's tag. Returns the imported images.
  std::vector<Image> import(const std::string& path, const std::string& name = "");
  // Pulls NAME[:TAG|@DIGEST] from an OCI/Docker v2 registry (registry.cc);
  // every blob is checked against its digest. HTTP for loopback registries or
  // with plain_http, HTTPS otherwise. Anonymous access only.
  // creds: "user:password" for registries that ask for Basic or Bearer (token) authentication.
  Image pull(const std::string& reference, bool plain_http = false, const std::string& creds = "");
  std::vector<Image> list() const;
  Image get(const std::string& name) const;  // by name or id (prefix)
  void remove(const std::string& name);
  // Layer directories for overlayfs lowerdir, top layer first.
  std::vector<std::string> lower_dirs(const Image& img) const;

  const std::string& root() const { return root_; }

 private:
  std::string add_blob(const std::string& file, const std::string& expected_digest);
  std::string blob_path(const std::string& digest) const;
  void unpack_layer(const std::string& digest);
  void save(const Image& img);
  std::vector<Image> import_docker(const std::string& dir, const std::string& name);
  std::vector<Image> import_oci(const std::string& dir, const std::string& name);

  std::string root_;
};

// Extracts a (possibly compressed) layer tar into `dest`, converting OCI
// whiteouts to overlayfs ones; refuses paths that climb out of `dest`.
void apply_layer(const std::string& tar, const std::string& dest);
// Extracts a plain or compressed tar to a directory (no whiteout handling).
void extract_archive(const std::string& tar, const std::string& dest);

}  // namespace insula::container
