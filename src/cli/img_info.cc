// `insula img info [-f fmt] [--backing-chain] [--output human|json] file`
#include <nlohmann/json.hpp>

#include "base/size.h"
#include "cli/img_commands.h"

namespace insula::cli {
namespace {

nlohmann::ordered_json to_json(const block::ImageInfo& i) {
  nlohmann::ordered_json j;
  if (!i.backing_format.empty()) j["backing-filename-format"] = i.backing_format;  // qemu-img's key order
  if (!i.snapshots.empty()) {
    // qemu-img's key order.
    auto snaps = nlohmann::ordered_json::array();
    for (const auto& s : i.snapshots) {
      nlohmann::ordered_json o;
      if (s.icount != UINT64_MAX) o["icount"] = s.icount;
      o["vm-clock-nsec"] = s.vm_clock_nsec % 1000000000;
      o["name"] = s.name;
      o["date-sec"] = s.date_sec;
      o["date-nsec"] = s.date_nsec;
      o["vm-clock-sec"] = s.vm_clock_nsec / 1000000000;
      o["id"] = s.id;
      o["vm-state-size"] = s.vm_state_size;
      snaps.push_back(o);
    }
    j["snapshots"] = snaps;
  }
  j["virtual-size"] = i.virtual_size;
  j["filename"] = i.filename;
  if (i.cluster_size) j["cluster-size"] = i.cluster_size;
  j["format"] = i.format;
  j["actual-size"] = i.actual_size;
  if (i.format == "qcow2") {
    j["format-specific"] = {{"type", "qcow2"},
                            {"data",
                             {{"compat", i.compat},
                              {"compression-type", i.compression_type},
                              {"lazy-refcounts", i.lazy_refcounts},
                              {"refcount-bits", i.refcount_bits},
                              {"corrupt", i.corrupt},
                              {"extended-l2", false}}}};
  }
  if (!i.backing_filename.empty()) {
    j["full-backing-filename"] = i.full_backing_filename;
    j["backing-filename"] = i.backing_filename;
  }
  j["dirty-flag"] = i.dirty;
  return j;
}

void print_human(const block::ImageInfo& i) {
  fmt::print("image: {}\nfile format: {}\nvirtual size: {} ({} bytes)\ndisk size: {}\n", i.filename, i.format,
             format_size(i.virtual_size), i.virtual_size, format_size(i.actual_size));
  if (i.cluster_size) fmt::print("cluster_size: {}\n", i.cluster_size);
  if (!i.backing_filename.empty()) {
    fmt::print("backing file: {}", i.backing_filename);
    if (i.full_backing_filename != i.backing_filename) fmt::print(" (actual path: {})", i.full_backing_filename);
    fmt::print("\n");
    if (!i.backing_format.empty()) fmt::print("backing file format: {}\n", i.backing_format);
  }
  if (!i.snapshots.empty()) fmt::print("{}", snapshot_table(i.snapshots));
  if (i.format == "qcow2") {
    fmt::print("Format specific information:\n    compat: {}\n    compression type: {}\n    lazy refcounts: {}\n"
               "    refcount bits: {}\n    corrupt: {}\n    extended l2: false\n",
               i.compat, i.compression_type, i.lazy_refcounts, i.refcount_bits, i.corrupt);
  }
}

}  // namespace

void add_img_info(CLI::App& img, Context&) {
  struct Args {
    std::string format, output = "human", file;
    bool chain = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = img.add_subcommand("info", "show an image's format, sizes, backing file and options");
  c->add_option("-f", a->format, "image format (detected when absent)");
  c->add_flag("--backing-chain", a->chain, "show every image of the backing chain");
  c->add_option("--output", a->output, "human or json")->check(CLI::IsMember({"human", "json"}));
  c->add_option("filename", a->file)->required();
  c->callback([a] {
    auto infos = block::image_info(a->file, a->format, a->chain);
    if (a->output == "json") {
      if (a->chain) {
        auto arr = nlohmann::ordered_json::array();
        for (const auto& i : infos) arr.push_back(to_json(i));
        fmt::print("{}\n", arr.dump(4));
      } else {
        fmt::print("{}\n", to_json(infos[0]).dump(4));
      }
      return;
    }
    for (size_t k = 0; k < infos.size(); ++k) {
      if (k) fmt::print("\n");
      print_human(infos[k]);
    }
  });
}

}  // namespace insula::cli
