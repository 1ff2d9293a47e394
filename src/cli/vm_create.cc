// `insula vm create NAME --kernel K [--initrd I] [--cmdline C] --cpus N --memory SIZE
//  [--disk PATH[,ro][,root]]... [--blank-disk SIZE]... [--net TAP[,mac=MAC]]... [--vsock CID,UDS]
//  [--balloon MIB] [--from VM_OR_IMAGE [--full]]`: records (and makes the clone's or blank disks) only.
#include <filesystem>
#include <sstream>

#include "base/error.h"
#include "base/size.h"
#include "cli/default_guest.h"
#include "cli/img_commands.h"
#include "cli/vm_commands.h"
#include "kvm/kvm.h"
#include "vmm/device_options.h"

namespace insula::cli {

void add_vm_create(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  struct Opts {
    manager::VmSpec spec;
    std::string memory = "256M";
    std::vector<std::string> disks, nets;
    std::string vsock;
    std::optional<uint32_t> balloon;
    uint32_t balloon_stats = 1;
    bool deflate_on_oom = false;
    manager::CloneOptions clone;
    std::vector<std::string> blank_disks;
    bool progress = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = vm.add_subcommand("create", "record a new VM (it does not start it)");
  cmd->add_option("name", o->spec.name, "the VM's name")->required();
  auto* kernel = cmd->add_option("--kernel,-k", o->spec.kernel, "kernel to boot (default: the Linux appliance; with --from, the source's)")
                     ->check(CLI::ExistingFile);
  auto* initrd = cmd->add_option("--initrd", o->spec.initrd, "initial ramdisk (with --from, \"\" for none)");
  auto* cmdline = cmd->add_option("--cmdline,--append", o->spec.cmdline, "kernel command line");
  auto* cpus = cmd->add_option("--cpus,-c", o->spec.cpus, "number of vCPUs (1-32)")->capture_default_str();
  auto* memory = cmd->add_option("--memory,-m", o->memory, "guest RAM (suffixes K, M, G; plain numbers are MiB)")
                     ->capture_default_str();
  cmd->add_option("--disk", o->disks,
                  "virtio-blk disk: PATH[,ro][,root][,cache=direct|writeback][,serial=ID][,format=F] "
                  "(root: the guest's root device, /dev/vda)")
      ->take_all();
  cmd->add_option("--blank-disk", o->blank_disks, "a fresh qcow2 disk of this size made in the VM's directory")
      ->take_all();
  cmd->add_option("--from", o->clone.from,
                  "clone this VM or VM image: its disks become read-only bases of qcow2 overlays, its settings are "
                  "copied unless given here");
  cmd->add_flag("--full", o->clone.full, "with --from: copy the disks instead of making overlays");
  cmd->add_flag("--progress,-p", o->progress, "with --full: show the copy's progress");
  cmd->add_option("--net", o->nets, "virtio-net on a tap device: TAP[,mac=MAC]")->take_all();
  cmd->add_option("--vsock", o->vsock, "virtio-vsock: CID,UDS_PATH (Firecracker-style host socket)");
  cmd->add_option("--balloon", o->balloon, "add a virtio-balloon device with this initial target in MiB (0: deflated)");
  cmd->add_option("--balloon-stats", o->balloon_stats, "seconds between balloon statistics updates (0: none)")
      ->capture_default_str();
  cmd->add_flag("--balloon-deflate-on-oom", o->deflate_on_oom,
                "let the guest take balloon pages back when it runs out of memory");
  cmd->callback([o, common, &ctx, kernel, initrd, cmdline, cpus, memory] {
    run_verb(ctx, [&] {
      o->spec.memory = parse_size(o->memory, 1 << 20);
      for (const auto& d : o->disks) {
        // ",root" is the manager's (the drive's is_root_device), the rest the VMM's parser.
        std::string spec, part;
        std::stringstream in(d);
        for (bool first = true; std::getline(in, part, ','); first = false) {
          if (!first && part == "root") o->spec.root_disk = o->spec.disks.size();
          else spec += (first ? "" : ",") + part;
        }
        o->spec.disks.push_back(vmm::parse_disk(spec));
      }
      for (const auto& b : o->blank_disks) o->spec.blank_disks.push_back(parse_size(b, 1 << 20));
      for (const auto& n : o->nets) o->spec.nets.push_back(vmm::parse_net(n));
      if (!o->vsock.empty()) o->spec.vsock = vmm::parse_vsock(o->vsock);
      if (o->balloon) o->spec.balloon = vmm::BalloonConfig{*o->balloon, o->deflate_on_oom, o->balloon_stats};
      if (o->clone.full && o->clone.from.empty()) throw error("--full needs --from");
      if (o->clone.from.empty() && o->spec.kernel.empty()) {
        // No kernel: the default appliance, as `insula run` boots it.
        std::string missing;
        auto appliance = linux_appliance(&missing);
        if (!appliance) throw error("{}: give --kernel, or clone with --from", missing);
        o->spec.kernel = appliance->kernel;
        if (initrd->count() == 0) o->spec.initrd = appliance->initrd;
        if (cmdline->count() == 0) o->spec.cmdline = appliance->cmdline;
        if (kvm::detect_backend() == kvm::Backend::kPvm)
          fmt::print(stderr,
                     "insula: note: the Linux appliance cannot boot on this host's /dev/kvm (PVM): start {} on a host "
                     "with VT-x/AMD-V\n",
                     o->spec.name);
      }
      if (!o->spec.initrd.empty() && !std::filesystem::is_regular_file(o->spec.initrd))
        throw error("--initrd {}: no such file", o->spec.initrd);
      auto& c = o->clone;
      c.kernel = kernel->count() > 0, c.initrd = initrd->count() > 0, c.cmdline = cmdline->count() > 0;
      c.cpus = cpus->count() > 0, c.memory = memory->count() > 0;
      auto m = open_manager(*common);
      auto r = c.from.empty() ? m.create(o->spec) : m.create_from(o->spec, c, progress_printer(o->progress));
      fmt::print("{}\n", r.name);
    });
  });
}

}  // namespace insula::cli
