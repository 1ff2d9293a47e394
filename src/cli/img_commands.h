// The `insula img` subcommands, one file each (img_create.cc, img_info.cc...),
// registered by add_img_commands() in img.cc.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <string>

#include "block/image_ops.h"
#include "cli/commands.h"

namespace insula::cli {

void add_img_create(CLI::App& img, Context& ctx);
void add_img_info(CLI::App& img, Context& ctx);
void add_img_convert(CLI::App& img, Context& ctx);
void add_img_check(CLI::App& img, Context& ctx);
void add_img_map(CLI::App& img, Context& ctx);
void add_img_compare(CLI::App& img, Context& ctx);
void add_img_bench(CLI::App& img, Context& ctx);
void add_img_resize(CLI::App& img, Context& ctx);
void add_img_commit(CLI::App& img, Context& ctx);
void add_img_rebase(CLI::App& img, Context& ctx);
void add_img_snapshot(CLI::App& img, Context& ctx);
void add_img_measure(CLI::App& img, Context& ctx);

// qemu-img's snapshot table ("Snapshot list:" and one row per snapshot), as
// `snapshot -l` and `info` print it.
std::string snapshot_table(const std::vector<block::ImageInfo::Snap>& snaps);

// qemu-img's progress line: "    (42.00/100%)" rewritten in place, on stdout
// by default (where qemu-img prints it, for scripts that parse both alike);
// commands whose stdout carries a summary (JSON) pass stderr.
inline block::Progress progress_printer(bool enabled, std::FILE* out = stdout) {
  if (!enabled) return {};
  std::fprintf(out, "    (0.00/100%%)\r");  // qemu-img starts at 0 and moves in steps of 1% or more
  std::fflush(out);
  return [last = 0, out](double f) mutable {
    int pct = static_cast<int>(f * 10000);
    if (pct - last < 100 && f < 1.0) return;
    if (pct == last) return;
    last = pct;
    std::fprintf(out, "    (%.2f/100%%)\r", pct / 100.0);
    if (f >= 1.0) std::fprintf(out, "\n");
    std::fflush(out);
  };
}

}  // namespace insula::cli
