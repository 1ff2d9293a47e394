// `insula img compare [-f fmt] [-F fmt] [-s] [-p] a b`
// Exit codes as qemu-img: 0 identical, 1 different, 2 error.
#include "cli/img_commands.h"

namespace insula::cli {

void add_img_compare(CLI::App& img, Context& ctx) {
  struct Args {
    std::string fa, fb, a, b;
    bool strict = false, progress = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = img.add_subcommand("compare", "compare the contents of two images");
  c->add_option("-f", a->fa, "format of the first image");
  c->add_option("-F", a->fb, "format of the second image");
  c->add_flag("-s", a->strict, "strict: sizes must match too");
  c->add_flag("-p", a->progress, "show progress");
  c->add_option("image1", a->a)->required();
  c->add_option("image2", a->b)->required();
  c->callback([a, &ctx] {
    block::CompareResult r;
    try {
      r = block::compare_images(a->a, a->fa, a->b, a->fb, a->strict, progress_printer(a->progress));
    } catch (const std::exception& e) {
      fmt::print(stderr, "insula: error: {}\n", e.what());
      ctx.exit_code = 2;
      return;
    }
    if (r.identical) {
      fmt::print("Images are identical.\n");
      return;
    }
    if (!r.reason.empty()) fmt::print("{}\n", r.reason);
    else fmt::print("Content mismatch at offset {}!\n", r.offset);
    ctx.exit_code = 1;
  });
}

}  // namespace insula::cli
