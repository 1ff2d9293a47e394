// `insula img bench [-c count] [-d depth] [-f fmt] [-n] [-o offset] [-s size]
//  [-S step] [-t cache] [-i aio] [-w] [--pattern n] [--flush-interval n] file`
#include "base/size.h"
#include "block/image_bench.h"
#include "cli/img_commands.h"

namespace insula::cli {

void add_img_bench(CLI::App& img, Context&) {
  struct Args {
    block::BenchRequest r;
    std::string size = "4K", step, offset = "0", cache = "writeback", aio;
    bool nocache = false;
    int pattern = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* c = img.add_subcommand("bench", "run a simple I/O benchmark on an image (like qemu-img bench)");
  c->add_option("-c", a->r.count, "number of requests (default 75000)");
  c->add_option("-d", a->r.depth, "requests in flight (default 64)");
  c->add_option("-f", a->r.format, "image format");
  c->add_flag("-n", a->nocache, "bypass the host page cache (same as -t none)");
  c->add_option("-o", a->offset, "first offset");
  c->add_option("-s", a->size, "request size (default 4K)");
  c->add_option("-S", a->step, "step between requests (default: request size)");
  c->add_option("-t", a->cache, "cache mode: none or writeback")->check(CLI::IsMember({"none", "writeback", "writethrough"}));
  c->add_option("-i", a->aio,
                "how requests are served: threads, or io_uring (also: native) for a raw image with -t none; "
                "default: io_uring where it applies, threads elsewhere")
      ->check(CLI::IsMember({"threads", "native", "io_uring"}));
  c->add_flag("-w", a->r.write, "write instead of read");
  c->add_option("--pattern", a->pattern, "byte written by -w (default 0)");
  c->add_option("--flush-interval", a->r.flush_interval, "flush after this many writes");
  c->add_option("--threads", a->r.threads, "worker threads (insula only; default: automatic)");
  c->add_option("filename", a->r.path)->required();
  c->callback([a] {
    block::BenchRequest& r = a->r;
    r.size = parse_size(a->size);
    r.step = a->step.empty() ? r.size : parse_size(a->step);
    r.offset = parse_size(a->offset);
    r.pattern = static_cast<uint8_t>(a->pattern);
    using Engine = block::BenchRequest::Engine;
    r.engine = a->aio.empty() ? Engine::kAuto : a->aio == "threads" ? Engine::kThreads : Engine::kIoUring;
    r.cache = (a->nocache || a->cache == "none") ? block::CacheMode::kDirect : block::CacheMode::kWriteback;
    fmt::print("Sending {} {} requests, {} bytes each, {} in parallel (starting at offset {}, step size {})\n", r.count,
               r.write ? "write" : "read", r.size, r.depth, r.offset, r.step);
    double s = block::run_bench(r);
    fmt::print("Run completed in {:.3f} seconds.\n", s);
  });
}

}  // namespace insula::cli
