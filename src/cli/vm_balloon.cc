// `insula vm balloon NAME SIZE` (the balloon's target: how much memory the
// guest gives back) and `insula vm balloon-stats NAME [--output json]`.
#include "base/error.h"
#include "base/size.h"
#include "cli/vm_commands.h"

namespace insula::cli {

void add_vm_balloon(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  {
    struct Opts {
      std::string name, size;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = vm.add_subcommand("balloon", "set a running VM's balloon target (memory taken from the guest)");
    cmd->add_option("name", o->name, "the VM's name")->required();
    cmd->add_option("size", o->size, "target size (suffixes K, M, G; plain numbers are MiB; 0 deflates)")->required();
    cmd->callback([o, common, &ctx] {
      run_verb(ctx, [&] {
        uint64_t bytes = parse_size(o->size, 1 << 20);
        if (bytes % (1 << 20)) throw error("balloon size {} is not a whole number of MiB", o->size);
        if ((bytes >> 20) > UINT32_MAX) throw error("balloon size {} is too large", o->size);
        open_manager(*common).set_balloon(o->name, static_cast<uint32_t>(bytes >> 20));
        fmt::print("{} balloon target {}\n", o->name, format_size(bytes));
      });
    });
  }
  {
    struct Opts {
      std::string name, output = "text";
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = vm.add_subcommand("balloon-stats", "show a running VM's balloon and the guest's memory statistics");
    cmd->add_option("name", o->name, "the VM's name")->required();
    cmd->add_option("--output,-o", o->output, "text or json")->check(CLI::IsMember({"text", "json"}));
    cmd->callback([o, common, &ctx] {
      run_verb(ctx, [&] {
        auto j = open_manager(*common).balloon_stats(o->name);
        if (o->output == "json") {
          fmt::print("{}\n", j.dump(2));
          return;
        }
        for (const auto& [key, value] : j.items()) {
          bool bytes = key.ends_with("_memory") || key == "disk_caches" || key.starts_with("swap_");
          fmt::print("{:<20} {}\n", key + ":", bytes && value.is_number_unsigned() ? format_size(value.get<uint64_t>()) : value.dump());
        }
      });
    });
  }
}

}  // namespace insula::cli
