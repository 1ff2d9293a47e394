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
    block::CreatedImage made = block::create_image(r);
    // qemu-img's summary line: the options in its order and spelling.
    const block::FormatOptions& o = r.options;
    std::string line = fmt::format("Formatting '{}', fmt={}", a->file, a->format);
    if (a->format == "qcow2") {
      line += fmt::format(" cluster_size={} extended_l2=off", o.cluster_size.value_or(65536));
      if (o.preallocation) line += fmt::format(" preallocation={}", *o.preallocation);
      line += fmt::format(" compression_type={} size={}", o.compression_type.value_or("zlib"), made.size);
      if (o.version) line += fmt::format(" compat={}", *o.version == 2 ? "0.10" : "1.1");
      if (!made.backing_file.empty()) line += fmt::format(" backing_file={}", made.backing_file);
      if (!made.backing_format.empty()) line += fmt::format(" backing_fmt={}", made.backing_format);
      line += fmt::format(" lazy_refcounts={} refcount_bits={}", o.lazy_refcounts.value_or(false) ? "on" : "off",
                          o.refcount_bits.value_or(16));
    } else {
      line += fmt::format(" size={}", made.size);
      if (o.preallocation) line += fmt::format(" preallocation={}", *o.preallocation);
    }
    fmt::print("{}\n", line);
  });
}

}  // namespace insula::cli
