// `insula vm image create IMAGE (--from-vm VM | --from FILE) [-p]`, `vm image ls
// [--output json]`, `vm image rm IMAGE`: VM images to clone VMs from
// (`insula image` is taken by OCI container images).
#include <ctime>

#include "cli/img_commands.h"
#include "cli/vm_commands.h"

namespace insula::cli {

namespace {

nlohmann::json image_json(const manager::ImageRecord& r) {
  auto config = nlohmann::json::parse(r.config, nullptr, false);
  if (config.is_discarded()) config = nlohmann::json::object();
  nlohmann::json disks = nlohmann::json::array();
  for (const auto& d : config.value("devices", nlohmann::json::object()).value("drives", nlohmann::json::array()))
    disks.push_back(d.value("path_on_host", ""));
  return {{"name", r.name}, {"source", r.source}, {"dir", r.dir}, {"disks", disks},
          {"kernel", config.value("kernel", "")}, {"created_at", r.created_at}};
}

}  // namespace

void add_vm_image(CLI::App& vm, Context& ctx, std::shared_ptr<VmCommon> common) {
  auto* image = vm.add_subcommand("image", "VM images to clone VMs from (create, ls, rm)");
  image->require_subcommand(1);

  struct CreateOpts {
    std::string name, from_vm, from_file;
    bool progress = false;
  };
  auto c = std::make_shared<CreateOpts>();
  auto* create = image->add_subcommand("create", "make an image of a stopped VM's disks (flattened) or of a disk file");
  create->add_option("name", c->name, "the image's name")->required();
  create->add_option("--from-vm", c->from_vm, "the VM (stopped) whose disks and settings it holds");
  create->add_option("--from", c->from_file, "a disk file (any format insula reads) to copy instead");
  create->add_flag("--progress,-p", c->progress, "show the copy's progress");
  create->callback([c, common, &ctx] {
    run_verb(ctx, [&] {
      auto r = open_manager(*common).create_image(c->name, c->from_vm, c->from_file, progress_printer(c->progress));
      fmt::print("{}\n", r.name);
    });
  });

  struct LsOpts {
    std::string output = "table";
  };
  auto l = std::make_shared<LsOpts>();
  auto* ls = image->add_subcommand("ls", "list the VM images");
  ls->alias("list");
  ls->add_option("--output,-o", l->output, "table or json")->check(CLI::IsMember({"table", "json"}));
  ls->callback([l, common, &ctx] {
    run_verb(ctx, [&] {
      auto images = open_manager(*common).images();
      if (l->output == "json") {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& r : images) j.push_back(image_json(r));
        fmt::print("{}\n", j.dump(2));
        return;
      }
      fmt::print("{:<24} {:<6} {:<32} {}\n", "NAME", "DISKS", "SOURCE", "CREATED");
      for (const auto& r : images) {
        auto j = image_json(r);
        std::time_t t = r.created_at;
        char when[32] = "";
        std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
        fmt::print("{:<24} {:<6} {:<32} {}\n", r.name, j["disks"].size(), r.source, when);
      }
    });
  });

  auto name = std::make_shared<std::string>();
  auto* rm = image->add_subcommand("rm", "remove an image (refused while VMs are cloned from it)");
  rm->add_option("name", *name, "the image's name")->required();
  rm->callback([name, common, &ctx] {
    run_verb(ctx, [&] {
      open_manager(*common).remove_image(*name);
      fmt::print("{} removed\n", *name);
    });
  });
}

}  // namespace insula::cli
