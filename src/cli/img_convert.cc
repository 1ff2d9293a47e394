// `insula img convert [-f fmt] [-O fmt] [-B backing [-F fmt]] [-c] [-l snapshot] [-m n] [-p] [-t cache] [-o opts] src dst`
#include "cli/img_commands.h"

namespace insula::cli {

void add_img_convert(CLI::App& img, Context&) {
  auto r = std::make_shared<block::ConvertRequest>();
  auto opts = std::make_shared<std::string>();
  auto progress = std::make_shared<bool>(false);
  CLI::App* c = img.add_subcommand("convert", "copy an image to a new one, in any format (sparse)");
  c->add_option("-f", r->source_format, "source format (detected when absent)");
  c->add_option("-O", r->dest_format, "output format: raw (default) or qcow2");
  c->add_flag("-c", r->compress, "compress the output clusters (qcow2)");
  c->add_option("-m", r->threads, "windows of 4 MiB copied in parallel (default 4)")->check(CLI::Range(1, 16));
  c->add_flag("-p", *progress, "show progress");
  c->add_option("-o", *opts, "output format options (as for create)");
  c->add_option("-B", r->backing_file,
                "make the output an overlay of this backing file, holding only the clusters that differ from it");
  c->add_option("-F", r->backing_format, "format of the -B backing file (detected when absent)");
  c->add_option("-l", r->snapshot,
                "copy this internal snapshot instead of the active disk: ID or name, or snapshot.id=ID, "
                "snapshot.name=NAME");
  auto cache = std::make_shared<std::string>("unsafe");
  c->add_option("-t", *cache, "output cache mode: unsafe (default, no flush), writeback or none (flush at the end)")
      ->check(CLI::IsMember({"unsafe", "writeback", "writethrough", "none", "directsync"}));
  c->add_option("source", r->source)->required();
  c->add_option("dest", r->dest)->required();
  c->callback([r, opts, progress, cache] {
    r->flush = *cache != "unsafe";
    r->options = block::parse_format_options(*opts);
    block::convert_image(*r, progress_printer(*progress));
  });
}

}  // namespace insula::cli
