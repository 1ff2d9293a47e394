// The embedded demo guest (insula_demo_guest) is the built demo-pvh.elf and
// carries a PVH entry note pointing at its ELF entry point.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "insula_guests/demo_guest.h"

namespace {

template <typename T>
T read_at(std::span<const unsigned char> b, std::size_t off) {
  T v{};
  if (off + sizeof v <= b.size()) std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}

TEST(DemoGuest, MatchesTheBuiltFile) {
  std::ifstream f(INSULA_DEMO_GUEST_FILE, std::ios::binary);
  ASSERT_TRUE(f) << "cannot open " << INSULA_DEMO_GUEST_FILE;
  std::vector<unsigned char> file((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto blob = insula::guests::demo_guest_pvh_elf();
  ASSERT_EQ(blob.size(), file.size());
  EXPECT_EQ(0, std::memcmp(blob.data(), file.data(), file.size()));
}

TEST(DemoGuest, IsA32BitElfWithPvhEntryNote) {
  auto b = insula::guests::demo_guest_pvh_elf();
  ASSERT_GT(b.size(), 52u);
  ASSERT_EQ(0, std::memcmp(b.data(), "\x7f" "ELF", 4));
  EXPECT_EQ(b[4], 1);  // ELFCLASS32
  const auto entry = read_at<std::uint32_t>(b, 24);
  const auto phoff = read_at<std::uint32_t>(b, 28);
  const auto phentsize = read_at<std::uint16_t>(b, 42);
  const auto phnum = read_at<std::uint16_t>(b, 44);
  bool found = false;
  for (std::uint32_t i = 0; i < phnum; i++) {
    const std::size_t ph = phoff + std::size_t{i} * phentsize;
    if (read_at<std::uint32_t>(b, ph) != 4) continue;  // PT_NOTE
    const std::size_t off = read_at<std::uint32_t>(b, ph + 4);
    const std::size_t end = off + read_at<std::uint32_t>(b, ph + 16);
    for (std::size_t n = off; n + 12 <= end && n + 12 <= b.size();) {
      const auto namesz = read_at<std::uint32_t>(b, n), descsz = read_at<std::uint32_t>(b, n + 4);
      const auto type = read_at<std::uint32_t>(b, n + 8);
      const std::size_t desc = n + 12 + ((namesz + 3) & ~3u);
      if (type == 18 && namesz == 4 && std::memcmp(b.data() + n + 12, "Xen", 4) == 0) {
        EXPECT_EQ(read_at<std::uint32_t>(b, desc), entry);  // XEN_ELFNOTE_PHYS32_ENTRY
        found = true;
      }
      n = desc + ((descsz + 3) & ~3u);
    }
  }
  EXPECT_TRUE(found) << "no XEN_ELFNOTE_PHYS32_ENTRY note";
}

}  // namespace
