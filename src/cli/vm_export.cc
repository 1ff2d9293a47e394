// `insula vm export NAME FILE [--flatten] [--snapshot SNAP] [--zstd] [-p] [--output json]`
// `insula vm import FILE [NAME] [-p] [--output json]`
#include <cstdio>

#include "base/size.h"
#include "cli/img_commands.h"
#include "cli/vm_commands.h"

namespace insula::cli {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void add_vm_export(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  struct Opts {
    std::string name, output = "table";
    manager::ExportOptions ex;
    bool progress = false;
    std::string file, new_name;
  };
  auto o = std::make_shared<Opts>();
  auto* ex = vm.add_subcommand("export", "write a VM (config, disks, snapshots) into one archive");
  ex->add_option("name", o->name, "the VM's name")->required();
  ex->add_option("file", o->ex.file, "the archive to write (tar; zstd-compressed with --zstd or a .zst/.tzst name)")
      ->required();
  ex->add_flag("--flatten", o->ex.flatten, "write each qcow2 disk with its backing chain as one image");
  ex->add_option("--snapshot", o->ex.snapshot, "include only this snapshot (default: all)");
  ex->add_flag("--zstd", o->ex.zstd, "compress the archive with zstd");
  ex->add_flag("-p,--progress", o->progress, "show progress on stderr");
  ex->add_option("--output,-o", o->output, "table or json")->check(CLI::IsMember({"table", "json"}));
  ex->callback([o, common, &ctx] {
    run_verb(ctx, [&] {
      if (ends_with(o->ex.file, ".zst") || ends_with(o->ex.file, ".tzst")) o->ex.zstd = true;
      auto r = open_manager(*common).export_vm(o->name, o->ex, progress_printer(o->progress, stderr));
      if (o->output == "json") {
        fmt::print("{}\n", nlohmann::json{{"vm", r.vm}, {"file", r.file}, {"archive_bytes", r.archive_bytes},
                                          {"data_bytes", r.data_bytes}, {"disks", r.disks},
                                          {"snapshots", r.snapshots}, {"running_snapshot", r.running_snapshot},
                                          {"skipped_snapshots", r.skipped_snapshots},
                                          {"zstd", o->ex.zstd}, {"flattened", o->ex.flatten}}
                                .dump(2));
        return;
      }
      fmt::print("{} exported to {} ({}, {} disk(s), {} snapshot(s))\n", r.vm, r.file, format_size(r.archive_bytes),
                 r.disks.size(), r.snapshots.size());
      if (!r.skipped_snapshots.empty())
        fmt::print("disk-only snapshot(s) left out (--flatten dropped them from the disks): {}\n",
                   fmt::join(r.skipped_snapshots, ", "));
      if (!r.running_snapshot.empty())
        fmt::print("it was running: restore snapshot {} after import to continue it\n", r.running_snapshot);
    });
  });

  auto* im = vm.add_subcommand("import", "recreate a VM from an archive written by vm export");
  im->add_option("file", o->file, "the archive")->required();
  im->add_option("name", o->new_name, "the new VM's name (default: the name in the archive)");
  im->add_flag("-p,--progress", o->progress, "show progress on stderr");
  im->add_option("--output,-o", o->output, "table or json")->check(CLI::IsMember({"table", "json"}));
  im->callback([o, common, &ctx] {
    run_verb(ctx, [&] {
      auto r = open_manager(*common).import_vm(o->file, o->new_name, progress_printer(o->progress, stderr));
      if (o->output == "json") {
        fmt::print("{}\n", nlohmann::json{{"vm", r.vm}, {"file", r.file}, {"files", r.files},
                                          {"data_bytes", r.data_bytes}, {"snapshots", r.snapshots}}
                                .dump(2));
        return;
      }
      fmt::print("{} imported from {} ({} file(s), {} snapshot(s))\n", r.vm, r.file, r.files, r.snapshots.size());
    });
  });
}

}  // namespace insula::cli
