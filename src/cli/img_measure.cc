// `insula img measure [--output human|json] [-O fmt] [-o opts] [--size N | [-f fmt] file]`
#include <nlohmann/json.hpp>

#include "base/size.h"
#include "cli/img_commands.h"

namespace insula::cli {

void add_img_measure(CLI::App& img, Context&) {
  struct Args {
    block::MeasureRequest r;
    std::string size, options, output = "human";
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = img.add_subcommand("measure", "how large a new image file must be (for a size, or to copy an image)");
  c->add_option("--output", a->output, "human or json")->check(CLI::IsMember({"human", "json"}));
  c->add_option("-O", a->r.dest_format, "format of the new image: raw (default) or qcow2");
  c->add_option("-o", a->options, "format options of the new image (as for create)");
  c->add_option("--size", a->size, "virtual size of the new image, with optional suffix K, M, G, T");
  c->add_option("-f", a->r.source_format, "format of the image to copy");
  c->add_option("filename", a->r.source, "image to copy (instead of --size)");
  c->callback([a] {
    block::MeasureRequest& r = a->r;
    if (!a->size.empty()) r.size = parse_size(a->size);
    r.options = block::parse_format_options(a->options);
    block::MeasureResult m = block::measure_image(r);
    if (a->output == "json") {
      nlohmann::ordered_json j;  // qemu-img's key order
      if (m.bitmaps) j["bitmaps"] = *m.bitmaps;
      j["required"] = m.required;
      j["fully-allocated"] = m.fully_allocated;
      fmt::print("{}\n", j.dump(4));
      return;
    }
    fmt::print("required size: {}\nfully allocated size: {}\n", m.required, m.fully_allocated);
    if (m.bitmaps) fmt::print("bitmaps size: {}\n", *m.bitmaps);
  });
}

}  // namespace insula::cli
