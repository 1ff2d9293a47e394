// `insula img create [-f fmt] [-b backing [-F fmt]] [-u] [-o opts] file [size]`
#include "base/size.h"
#include "cli/img_commands.h"

namespace insula::cli {

void add_img_create(CLI::App& img, Context&) {
  struct Args {
    std::string format = "raw", backing, backing_format, options, file, size;
    bool unsafe = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = img.add_subcommand("create", "create a new disk image");
  c->add_option("-f", a->format, "image format: raw (default) or qcow2");
  c->add_option("-b", a->backing, "backing file (copy-on-write overlay)");
  c->add_option("-F", a->backing_format, "backing file format");
  c->add_option("-o", a->options, "format options: cluster_size=64k,compat=1.1,refcount_bits=16,lazy_refcounts=on,...");
  c->add_flag("-u", a->unsafe, "do not open the backing file (size must be given)");
  c->add_option("filename", a->file, "image to create")->required();
  c->add_option("size", a->size, "virtual size, with optional suffix K, M, G, T");
  c->callback([a] {
    block::CreateRequest r;
    r.path = a->file;
    r.format = a->format;
    if (!a->size.empty()) r.size = parse_size(a->size);
    r.options = block::parse_format_options(a->options);
    r.backing_file = a->backing;
    r.backing_format = a->backing_format;
    r.unsafe = a->unsafe;
    block::create_image(r);
    std::string extra;
    if (!a->backing.empty()) extra = fmt::format(" backing_file={} backing_fmt={}", a->backing, a->backing_format);
    fmt::print("Formatting '{}', fmt={}{}{}\n", a->file, a->format,
               r.size ? fmt::format(" size={}", *r.size) : std::string(), extra);
  });
}

}  // namespace insula::cli
