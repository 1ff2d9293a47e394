// `insula img resize`, `commit` and `rebase`: the commands that change an
// image's size or backing chain in place.
#include "base/error.h"
#include "base/size.h"
#include "cli/img_commands.h"

namespace insula::cli {

void add_img_resize(CLI::App& img, Context&) {
  struct Args {
    std::string format, file, size;
    bool shrink = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = img.add_subcommand("resize", "change an image's virtual size");
  c->add_option("-f", a->format, "image format");
  c->add_flag("--shrink", a->shrink, "allow shrinking (data past the new end is lost)");
  c->add_option("filename", a->file)->required();
  c->add_option("size", a->size, "new size, or +N / -N relative")->required();
  c->callback([a] {
    uint64_t size;
    if (a->size[0] == '+' || a->size[0] == '-') {
      block::OpenOptions o;
      o.read_only = true;
      o.format = a->format;
      uint64_t cur = block::open_image(a->file, o)->size();
      uint64_t delta = parse_size(a->size.substr(1));
      if (a->size[0] == '-' && delta > cur) throw error("cannot shrink '{}' below zero", a->file);
      size = a->size[0] == '+' ? cur + delta : cur - delta;
    } else {
      size = parse_size(a->size);
    }
    block::resize_image(a->file, a->format, size, a->shrink);
    fmt::print("Image resized.\n");
  });
}

void add_img_commit(CLI::App& img, Context&) {
  struct Args {
    std::string format, file;
    bool keep = false, progress = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = img.add_subcommand("commit", "write an overlay's changes into its backing file");
  c->add_option("-f", a->format, "image format");
  c->add_flag("-d", a->keep, "do not empty the overlay afterwards");
  c->add_flag("-p", a->progress, "show progress");
  c->add_option("filename", a->file)->required();
  c->callback([a] {
    block::commit_image(a->file, a->format, a->keep, progress_printer(a->progress));
    fmt::print("Image committed.\n");
  });
}

}  // namespace insula::cli

namespace insula::cli {

void add_img_rebase(CLI::App& img, Context&) {
  struct Args {
    std::string format, file, backing, backing_format;
    bool unsafe = false, progress = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = img.add_subcommand("rebase", "change an overlay's backing file");
  c->add_option("-f", a->format, "image format");
  c->add_option("-b", a->backing, "new backing file (\"\" for none)")->required();
  c->add_option("-F", a->backing_format, "new backing file format");
  c->add_flag("-u", a->unsafe, "unsafe: only rewrite the header");
  c->add_flag("-p", a->progress, "show progress");
  c->add_option("filename", a->file)->required();
  c->callback([a] {
    block::rebase_image(a->file, a->format, a->backing, a->backing_format, a->unsafe, progress_printer(a->progress));
  });
}

}  // namespace insula::cli
