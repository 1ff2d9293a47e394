// `insula vm info NAME [--output json]`.
#include "base/size.h"
#include "cli/vm_commands.h"

namespace insula::cli {

void add_vm_info(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  struct Opts {
    std::string name, output = "text";
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = vm.add_subcommand("info", "show one VM's configuration and state");
  cmd->add_option("name", o->name, "the VM's name")->required();
  cmd->add_option("--output,-o", o->output, "text or json")->check(CLI::IsMember({"text", "json"}));
  cmd->callback([o, common, &ctx] {
    run_verb(ctx, [&] {
      auto r = open_manager(*common).info(o->name);
      if (o->output == "json") {
        fmt::print("{}\n", vm_json(r).dump(2));
        return;
      }
      fmt::print("name:     {}\nstate:    {}\ncpus:     {}\nmemory:   {}\nkernel:   {}\n", r.name, r.state, r.cpus,
                 format_size(r.memory), r.kernel);
      if (!r.initrd.empty()) fmt::print("initrd:   {}\n", r.initrd);
      fmt::print("cmdline:  {}\n", r.cmdline);
      auto devices = vm_json(r)["devices"];
      for (const auto& d : devices.value("drives", nlohmann::json::array()))
        fmt::print("disk:     {}{}\n", d.value("path_on_host", ""), d.value("is_read_only", false) ? " (read-only)" : "");
      for (const auto& n : devices.value("network-interfaces", nlohmann::json::array()))
        fmt::print("net:      {}{}\n", n.value("host_dev_name", ""), n.contains("guest_mac") ? " mac " + n.value("guest_mac", "") : "");
      if (devices.contains("vsock"))
        fmt::print("vsock:    cid {} on {}\n", devices["vsock"].value("guest_cid", 0), devices["vsock"].value("uds_path", ""));
      if (devices.contains("balloon"))
        fmt::print("balloon:  {} MiB at start, statistics every {} s\n", devices["balloon"].value("amount_mib", 0),
                   devices["balloon"].value("stats_polling_interval_s", 0));
      if (r.pid) fmt::print("pid:      {}\napi:      {}\nconsole:  {}\n", r.pid, r.api_socket, r.console_socket);
      fmt::print("log:      {}\n", r.log_path);
    });
  });
}

}  // namespace insula::cli
