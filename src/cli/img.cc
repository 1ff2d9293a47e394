// `insula img ...`: disk image commands (owned by the disk-images work).
#include "cli/commands.h"

namespace insula::cli {

void add_img_commands(CLI::App&, Context&) {}

}  // namespace insula::cli
