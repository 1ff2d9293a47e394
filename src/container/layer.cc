// Layer tar extraction with libarchive: OCI whiteouts become overlayfs
// whiteouts so that stacked layer directories give the right view.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/error.h"
#include "container/image_store.h"
#include "container/secure_path.h"

namespace insula::container {
namespace {

struct Reader {
  archive* a = archive_read_new();
  ~Reader() { archive_read_free(a); }
};
struct Writer {
  archive* a = archive_write_disk_new();
  ~Writer() { archive_write_free(a); }
};

// Normalises an entry name; empty for the root itself. Throws on "..".
std::string clean(const char* raw) {
  std::string out;
  std::string p = raw ? raw : "";
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    std::string part = p.substr(i, j - i);
    if (part == "..") throw error("layer entry '{}' climbs out of the layer; refusing the archive", p);
    if (!part.empty() && part != ".") out += (out.empty() ? "" : "/") + part;
    i = j + 1;
  }
  return out;
}

void extract(const std::string& tar, const std::string& dest, bool whiteouts) {
  Reader r;
  archive_read_support_filter_all(r.a);
  archive_read_support_format_all(r.a);
  if (archive_read_open_filename(r.a, tar.c_str(), 1 << 16) != ARCHIVE_OK)
    throw error("open archive {}: {}", tar, archive_error_string(r.a));
  Writer w;
  archive_write_disk_set_options(w.a, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_OWNER |
                                          ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                          ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_UNLINK);
  archive_entry* e;
  int rc;
  while ((rc = archive_read_next_header(r.a, &e)) == ARCHIVE_OK) {
    std::string path = clean(archive_entry_pathname(e));
    std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
    std::string parent = path.find('/') == std::string::npos ? "" : path.substr(0, path.rfind('/'));
    if (whiteouts && base.rfind(".wh.", 0) == 0) {
      std::string dir = dest + (parent.empty() ? "" : "/" + parent);
      mkdir_all(dir, 0755);
      if (base == ".wh..wh..opq") {
        if (::setxattr(dir.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0)
          throw errno_error(fmt::format("mark {} opaque", dir));
      } else {
        std::string target = dir + "/" + base.substr(4);
        ::unlink(target.c_str());
        if (::mknod(target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0)
          throw errno_error(fmt::format("whiteout {}", target));
      }
      continue;
    }
    archive_entry_set_pathname(e, (dest + "/" + path).c_str());
    if (const char* link = archive_entry_hardlink(e))
      archive_entry_set_hardlink(e, (dest + "/" + clean(link)).c_str());
    if (archive_write_header(w.a, e) != ARCHIVE_OK)
      throw error("extract {} from {}: {}", path, tar, archive_error_string(w.a));
    const void* buf;
    size_t size;
    la_int64_t off;
    while ((rc = archive_read_data_block(r.a, &buf, &size, &off)) == ARCHIVE_OK)
      if (archive_write_data_block(w.a, buf, size, off) != ARCHIVE_OK)
        throw error("write {}: {}", path, archive_error_string(w.a));
    if (rc != ARCHIVE_EOF) throw error("read {} from {}: {}", path, tar, archive_error_string(r.a));
    archive_write_finish_entry(w.a);
  }
  if (rc != ARCHIVE_EOF) throw error("read archive {}: {}", tar, archive_error_string(r.a));
}

}  // namespace

void apply_layer(const std::string& tar, const std::string& dest) { extract(tar, dest, true); }
void extract_archive(const std::string& tar, const std::string& dest) { extract(tar, dest, false); }

}  // namespace insula::container
