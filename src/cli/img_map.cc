// `insula img map [-f fmt] [--output human|json] file`: where each range of
// the virtual disk lives (this image, a backing file, zeros).
#include "base/error.h"
#include "cli/img_commands.h"

namespace insula::cli {

void add_img_map(CLI::App& img, Context&) {
  struct Args {
    std::string format, output = "human", file;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = img.add_subcommand("map", "show the allocation map of an image");
  c->add_option("-f", a->format, "image format (detected when absent)");
  c->add_option("--output", a->output, "human or json")->check(CLI::IsMember({"human", "json"}));
  c->add_option("filename", a->file)->required();
  c->callback([a] {
    block::OpenOptions o;
    o.read_only = true;
    o.format = a->format;
    auto dev = block::open_image(a->file, o);
    struct Row {
      uint64_t start, length;
      int depth;
      bool present, zero, data;
      int64_t offset;
    };
    std::vector<Row> rows;
    for (uint64_t pos = 0; pos < dev->size();) {
      block::Extent e = dev->block_status(pos, dev->size() - pos);
      if (e.length == 0) break;
      Row r{pos, e.length, e.depth, e.kind != block::Extent::Kind::kUnallocated,
            e.kind != block::Extent::Kind::kData, e.kind == block::Extent::Kind::kData, e.file_offset};
      if (!rows.empty()) {
        Row& p = rows.back();
        bool contiguous = (p.offset < 0 && r.offset < 0) ||
                          (p.offset >= 0 && r.offset >= 0 && p.offset + static_cast<int64_t>(p.length) == r.offset);
        if (p.depth == r.depth && p.present == r.present && p.zero == r.zero && p.data == r.data && contiguous) {
          p.length += r.length;
          pos += e.length;
          continue;
        }
      }
      rows.push_back(r);
      pos += e.length;
    }
    if (a->output == "json") {
      fmt::print("[");
      for (size_t i = 0; i < rows.size(); ++i) {
        const Row& r = rows[i];
        // Same spacing as qemu-img, so line-based scripts work on both.
        std::string j = fmt::format(R"({{ "start": {}, "length": {}, "depth": {}, "present": {}, "zero": {}, "data": {})",
                                    r.start, r.length, r.depth, r.present, r.zero, r.data);
        if (r.offset >= 0) j += fmt::format(R"(, "offset": {})", r.offset);
        j += "}";
        fmt::print("{}{}", i ? ",\n" : "", j);
      }
      fmt::print("]\n");
      return;
    }
    // Each range names the file of the chain that holds it, as qemu-img.
    std::vector<std::string> files;
    for (const auto& i : block::image_info(a->file, a->format, true)) files.push_back(i.filename);
    auto hex = [](uint64_t v) { return v ? fmt::format("{:#x}", v) : std::string("0"); };  // C's %#x
    fmt::print("{:<16}{:<16}{:<16}{}\n", "Offset", "Length", "Mapped to", "File");
    for (const Row& r : rows) {
      if (r.data && r.offset < 0) {
        std::fflush(stdout);
        throw error("File contains external, encrypted or compressed clusters.");  // qemu-img stops here too
      }
      if (r.data)
        fmt::print("{:<16}{:<16}{:<16}{}\n", hex(r.start), hex(r.length), hex(static_cast<uint64_t>(r.offset)),
                   static_cast<size_t>(r.depth) < files.size() ? files[static_cast<size_t>(r.depth)] : a->file);
    }
  });
}

}  // namespace insula::cli
