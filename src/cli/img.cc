// `insula img ...`: disk image commands, each in its own img_*.cc.
#include "cli/img_commands.h"

namespace insula::cli {

void add_img_commands(CLI::App& app, Context& ctx) {
  CLI::App* img = app.add_subcommand("img", "create, inspect, check and convert disk images (raw, qcow2)");
  img->require_subcommand(1);
  add_img_create(*img, ctx);
  add_img_info(*img, ctx);
  add_img_convert(*img, ctx);
  add_img_check(*img, ctx);
  add_img_map(*img, ctx);
  add_img_compare(*img, ctx);
  add_img_bench(*img, ctx);
  add_img_resize(*img, ctx);
  add_img_commit(*img, ctx);
  add_img_rebase(*img, ctx);
  add_img_snapshot(*img, ctx);
  add_img_measure(*img, ctx);
}

}  // namespace insula::cli
