// `insula vm create NAME --kernel K [--initrd I] [--cmdline C] --cpus N --memory SIZE
//  [--disk PATH[,ro]]... [--net TAP[,mac=MAC]]... [--vsock CID,UDS] [--balloon MIB]`: records only.
#include "base/size.h"
#include "cli/vm_commands.h"
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
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = vm.add_subcommand("create", "record a new VM (it does not start it)");
  cmd->add_option("name", o->spec.name, "the VM's name")->required();
  cmd->add_option("--kernel,-k", o->spec.kernel, "kernel to boot")->required()->check(CLI::ExistingFile);
  cmd->add_option("--initrd", o->spec.initrd, "initial ramdisk")->check(CLI::ExistingFile);
  cmd->add_option("--cmdline,--append", o->spec.cmdline, "kernel command line");
  cmd->add_option("--cpus,-c", o->spec.cpus, "number of vCPUs (1-32)")->capture_default_str();
  cmd->add_option("--memory,-m", o->memory, "guest RAM (suffixes K, M, G; plain numbers are MiB)")->capture_default_str();
  cmd->add_option("--disk", o->disks, "virtio-blk disk: PATH[,ro][,cache=direct|writeback][,serial=ID][,format=F]")
      ->take_all();
  cmd->add_option("--net", o->nets, "virtio-net on a tap device: TAP[,mac=MAC]")->take_all();
  cmd->add_option("--vsock", o->vsock, "virtio-vsock: CID,UDS_PATH (Firecracker-style host socket)");
  cmd->add_option("--balloon", o->balloon, "add a virtio-balloon device with this initial target in MiB (0: deflated)");
  cmd->add_option("--balloon-stats", o->balloon_stats, "seconds between balloon statistics updates (0: none)")
      ->capture_default_str();
  cmd->add_flag("--balloon-deflate-on-oom", o->deflate_on_oom,
                "let the guest take balloon pages back when it runs out of memory");
  cmd->callback([o, common, &ctx] {
    run_verb(ctx, [&] {
      o->spec.memory = parse_size(o->memory, 1 << 20);
      for (const auto& d : o->disks) o->spec.disks.push_back(vmm::parse_disk(d));
      for (const auto& n : o->nets) o->spec.nets.push_back(vmm::parse_net(n));
      if (!o->vsock.empty()) o->spec.vsock = vmm::parse_vsock(o->vsock);
      if (o->balloon) o->spec.balloon = vmm::BalloonConfig{*o->balloon, o->deflate_on_oom, o->balloon_stats};
      auto r = open_manager(*common).create(o->spec);
      fmt::print("{}\n", r.name);
    });
  });
}

}  // namespace insula::cli
