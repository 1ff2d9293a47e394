// `insula img snapshot [-l | -c name | -a snapshot | -d snapshot] file`:
// qcow2 internal snapshots, with qemu-img's flags, listing and exit codes.
#include <ctime>

#include "base/error.h"
#include "base/size.h"
#include "cli/img_commands.h"

namespace insula::cli {

std::string snapshot_table(const std::vector<block::ImageInfo::Snap>& snaps) {
  std::string out = fmt::format("Snapshot list:\n{:<9} {:<17} {:>7} {:>19} {:>12} {:>10}\n", "ID", "TAG", "VM SIZE",
                                "DATE", "VM CLOCK", "ICOUNT");
  for (const auto& s : snaps) {
    std::time_t t = s.date_sec;
    std::tm tm{};
    localtime_r(&t, &tm);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    uint64_t secs = s.vm_clock_nsec / 1000000000;
    out += fmt::format("{:<9} {:<17} {:>7} {:>19} {:>12} {:>10}\n", s.id, s.name, format_size(s.vm_state_size), date,
                       fmt::format("{:02}:{:02}:{:02}.{:03}", secs / 3600, secs / 60 % 60, secs % 60,
                                   s.vm_clock_nsec / 1000000 % 1000),
                       s.icount == UINT64_MAX ? std::string("--") : fmt::format("{}", s.icount));
  }
  return out;
}

void add_img_snapshot(CLI::App& img, Context&) {
  struct Args {
    std::string format, file, create, apply, del;
    bool list = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = img.add_subcommand("snapshot", "list, create, apply or delete internal snapshots of a qcow2 image");
  c->add_option("-f", a->format, "image format");
  c->add_flag("-l", a->list, "list snapshots (the default)");
  c->add_option("-c", a->create, "create a snapshot with this name");
  c->add_option("-a", a->apply, "apply (revert the disk to) the snapshot with this ID or name");
  c->add_option("-d", a->del, "delete the snapshot with this ID or name");
  c->add_option("filename", a->file)->required();
  c->callback([a] {
    int actions = a->list + !a->create.empty() + !a->apply.empty() + !a->del.empty();
    if (actions > 1) throw error("cannot mix -l, -a, -c and -d: give one of them");
    if (actions == 0 || a->list) {
      auto infos = block::image_info(a->file, a->format, false);
      if (!infos[0].snapshots.empty()) fmt::print("{}", snapshot_table(infos[0].snapshots));
      return;
    }
    block::OpenOptions o;
    o.format = a->format;
    o.ignore_backing = true;  // snapshots live in this file alone
    auto dev = block::open_image(a->file, o);
    auto* q = dynamic_cast<block::Qcow2Image*>(dev.get());
    if (!q) throw error("'{}' is a {} image; only qcow2 images have internal snapshots", a->file, dev->format());
    if (!a->create.empty()) q->create_snapshot(a->create);
    else if (!a->apply.empty()) q->apply_snapshot(a->apply);
    else q->delete_snapshot(a->del);
    q->flush();
  });
}

}  // namespace insula::cli
