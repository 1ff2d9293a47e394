// `insula img check [-f fmt] [-r leaks|all] [--output human|json] file`
// Exit codes as qemu-img: 0 clean, 2 corruptions, 3 leaks only, 1 check failed.
#include <nlohmann/json.hpp>

#include "block/qcow2.h"
#include "cli/img_commands.h"

namespace insula::cli {

void add_img_check(CLI::App& img, Context& ctx) {
  struct Args {
    std::string format, repair, output = "human", file;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = img.add_subcommand("check", "check a qcow2 image's metadata, optionally repairing it");
  c->add_option("-f", a->format, "image format (detected when absent)");
  c->add_option("-r", a->repair, "repair: leaks or all")->check(CLI::IsMember({"leaks", "all"}));
  c->add_option("--output", a->output, "human or json")->check(CLI::IsMember({"human", "json"}));
  c->add_option("filename", a->file)->required();
  c->callback([a, &ctx] {
    block::OpenOptions o;
    o.format = a->format;
    o.read_only = a->repair.empty();
    auto dev = block::open_image(a->file, o);
    auto* q = dynamic_cast<block::Qcow2Image*>(dev.get());
    if (!q) {
      fmt::print(stderr, "This image format does not support checks\n");
      ctx.exit_code = 63;
      return;
    }
    block::RepairMode mode = a->repair == "all" ? block::RepairMode::kAll
                             : a->repair == "leaks" ? block::RepairMode::kLeaks
                                                    : block::RepairMode::kNone;
    block::CheckResult r = q->check(mode);
    if (r.leaks_fixed || r.corruptions_fixed) {
      if (a->output == "human")
        fmt::print("The following inconsistencies were found and repaired:\n\n    {} leaked clusters\n    {} corruptions\n\n"
                   "Double checking the fixed image now...\n",
                   r.leaks_fixed, r.corruptions_fixed);
      uint64_t lf = r.leaks_fixed, cf = r.corruptions_fixed;
      r = q->check(block::RepairMode::kNone);
      r.leaks_fixed = lf;
      r.corruptions_fixed = cf;
    }
    for (const auto& m : r.messages) fmt::print(stderr, "{}\n", m);  // stderr in both modes, as qemu-img
    if (a->output == "json") {
      // qemu-img's keys, order, and omission of counts that are zero.
      nlohmann::ordered_json j;
      j["image-end-offset"] = r.image_end_offset;
      if (r.compressed_clusters) j["compressed-clusters"] = r.compressed_clusters;
      if (r.total_clusters) j["total-clusters"] = r.total_clusters;
      if (r.corruptions) j["corruptions"] = r.corruptions;
      if (r.corruptions_fixed) j["corruptions-fixed"] = r.corruptions_fixed;
      j["check-errors"] = r.check_errors;
      if (r.leaks) j["leaks"] = r.leaks;
      if (r.leaks_fixed) j["leaks-fixed"] = r.leaks_fixed;
      if (r.allocated_clusters) j["allocated-clusters"] = r.allocated_clusters;
      j["filename"] = a->file;
      j["format"] = "qcow2";
      if (r.fragmented_clusters) j["fragmented-clusters"] = r.fragmented_clusters;
      fmt::print("{}\n", j.dump(4));
    } else {
      if (r.corruptions)
        fmt::print("\n{} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n",
                   r.corruptions);
      if (r.leaks)
        fmt::print("\n{} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n",
                   r.leaks);
      if (!r.corruptions && !r.leaks) fmt::print("No errors were found on the image.\n");
      auto pct = [&](uint64_t n) { return r.total_clusters ? 100.0 * static_cast<double>(n) / static_cast<double>(r.total_clusters) : 0.0; };
      double frag = r.allocated_clusters ? 100.0 * static_cast<double>(r.fragmented_clusters) / static_cast<double>(r.allocated_clusters) : 0.0;
      double comp = r.allocated_clusters ? 100.0 * static_cast<double>(r.compressed_clusters) / static_cast<double>(r.allocated_clusters) : 0.0;
      if (r.total_clusters && r.allocated_clusters)
        fmt::print("{}/{} = {:.2f}% allocated, {:.2f}% fragmented, {:.2f}% compressed clusters\n", r.allocated_clusters,
                   r.total_clusters, pct(r.allocated_clusters), frag, comp);
      fmt::print("Image end offset: {}\n", r.image_end_offset);
    }
    ctx.exit_code = r.check_errors ? 1 : r.corruptions ? 2 : r.leaks ? 3 : 0;
  });
}

}  // namespace insula::cli
