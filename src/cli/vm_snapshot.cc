// `insula vm snapshot NAME SNAP [--keep-paused | --disk-only]`, `insula vm restore NAME SNAP`,
// `insula vm snapshots NAME [--output json]`, `insula vm snapshot-rm NAME SNAP`.
#include <ctime>

#include "base/size.h"
#include "cli/vm_commands.h"

namespace insula::cli {

namespace {

std::string local_time(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

struct Opts {
  std::string name, snap;
  bool keep_paused = false, disk_only = false;
  std::string output = "table";
};

}  // namespace

void add_vm_snapshot(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  auto o = std::make_shared<Opts>();
  auto* snap = vm.add_subcommand("snapshot",
                                 "save a running VM's memory, device state and qcow2 disks (pauses it meanwhile), "
                                 "or with --disk-only its qcow2 disks alone");
  snap->add_option("name", o->name, "the VM's name")->required();
  snap->add_option("snapshot", o->snap, "the snapshot's name")->required();
  auto* keep = snap->add_flag("--keep-paused", o->keep_paused, "leave the VM paused afterwards");
  snap->add_flag("--disk-only", o->disk_only,
                 "a qcow2 internal snapshot in every writable disk (a running VM is paused for it), no memory or "
                 "device state")
      ->excludes(keep);
  snap->callback([o, common, &ctx] {
    run_verb(ctx, [&] {
      auto m = open_manager(*common);
      auto s = o->disk_only ? m.snapshot_disks(o->name, o->snap) : m.snapshot(o->name, o->snap, o->keep_paused);
      fmt::print("{} snapshot {} created\n", s.vm, s.name);
    });
  });

  auto* restore = vm.add_subcommand("restore",
                                    "stop the VM if it runs and resume it from a full snapshot, or revert the "
                                    "disks of a stopped VM to a disk-only one");
  restore->add_option("name", o->name, "the VM's name")->required();
  restore->add_option("snapshot", o->snap, "the snapshot's name")->required();
  restore->callback([o, common, &ctx] {
    run_verb(ctx, [&] {
      auto r = open_manager(*common).restore(o->name, o->snap);
      if (r.pid == 0) fmt::print("{} stopped, its disks reverted to snapshot {}\n", r.name, o->snap);
      else fmt::print("{} {} from snapshot {}\n", r.name, r.state, o->snap);
    });
  });

  auto* list = vm.add_subcommand("snapshots", "list a VM's snapshots");
  list->add_option("name", o->name, "the VM's name")->required();
  list->add_option("--output,-o", o->output, "table or json")->check(CLI::IsMember({"table", "json"}));
  list->callback([o, common, &ctx] {
    run_verb(ctx, [&] {
      auto snaps = open_manager(*common).snapshots(o->name);
      if (o->output == "json") {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& s : snaps)
          j.push_back({{"name", s.name}, {"vm", s.vm}, {"kind", s.kind}, {"memory_mib", s.memory >> 20}, {"state_path", s.state_path},
                       {"memory_path", s.memory_path}, {"created_at", s.created_at}});
        fmt::print("{}\n", j.dump(2));
        return;
      }
      fmt::print("{:<24} {:<5} {:>10} {:<19}\n", "NAME", "KIND", "MEMORY", "CREATED");
      for (const auto& s : snaps)
        fmt::print("{:<24} {:<5} {:>10} {:<19}\n", s.name, s.kind, s.kind == "full" ? format_size(s.memory) : "-",
                   local_time(s.created_at));
    });
  });

  auto* rm = vm.add_subcommand("snapshot-rm", "delete a VM's snapshot");
  rm->add_option("name", o->name, "the VM's name")->required();
  rm->add_option("snapshot", o->snap, "the snapshot's name")->required();
  rm->callback([o, common, &ctx] {
    run_verb(ctx, [&] {
      open_manager(*common).remove_snapshot(o->name, o->snap);
      fmt::print("{} snapshot {} removed\n", o->name, o->snap);
    });
  });
}

}  // namespace insula::cli
