// `insula img snapshot -l file`: lists internal snapshots (qemu-img layout).
// Creating, applying and deleting snapshots (-c/-a/-d) is not implemented
// yet and says so.
#include <ctime>

#include "base/error.h"
#include "base/size.h"
#include "cli/img_commands.h"

namespace insula::cli {

void add_img_snapshot(CLI::App& img, Context&) {
  struct Args {
    std::string format, file, create, apply, del;
    bool list = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = img.add_subcommand("snapshot", "list internal snapshots of a qcow2 image");
  c->add_option("-f", a->format, "image format");
  c->add_flag("-l", a->list, "list snapshots");
  c->add_option("-c", a->create, "create a snapshot (not implemented yet)");
  c->add_option("-a", a->apply, "apply a snapshot (not implemented yet)");
  c->add_option("-d", a->del, "delete a snapshot (not implemented yet)");
  c->add_option("filename", a->file)->required();
  c->callback([a] {
    if (!a->create.empty() || !a->apply.empty() || !a->del.empty())
      throw error("snapshot -c/-a/-d is not implemented yet in insula; use `qemu-img snapshot` for now");
    auto infos = block::image_info(a->file, a->format, false);
    const auto& snaps = infos[0].snapshots;
    if (snaps.empty()) return;
    fmt::print("Snapshot list:\n{:<9} {:<17} {:>7} {:>19} {:>12} {:>10}\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK",
               "ICOUNT");
    for (const auto& s : snaps) {
      std::time_t t = s.date_sec;
      std::tm tm{};
      localtime_r(&t, &tm);
      char date[32];
      std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
      uint64_t secs = s.vm_clock_nsec / 1000000000;
      fmt::print("{:<9} {:<17} {:>7} {:>19} {:>12} {:>10}\n", s.id, s.name,
                 format_size(s.vm_state_size), date,
                 fmt::format("{:02}:{:02}:{:02}.{:03}", secs / 3600, secs / 60 % 60, secs % 60,
                             s.vm_clock_nsec / 1000000 % 1000),
                 s.icount == UINT64_MAX ? std::string("--") : fmt::format("{}", s.icount));
    }
  });
}

}  // namespace insula::cli
