// Helpers for the interop tests: files in and out, and the qemu-img verdicts
// they rely on (check clean, compare equal).
#pragma once

#include <fstream>
#include <iterator>

#include "test_util.h"

namespace insula::block::test {

#define REQUIRE_QEMU() \
  if (!test::have_qemu_img()) GTEST_SKIP() << "qemu-img not installed"

inline void write_file(const std::string& path, const std::vector<uint8_t>& d) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(d.data()), static_cast<std::streamsize>(d.size()));
}

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

inline void expect_qemu_clean(const std::string& img) {
  std::string out;
  int rc = run("qemu-img check " + img, &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("No errors were found"), std::string::npos) << out;
}

inline void expect_qemu_equal(const std::string& raw, const std::string& img) {
  std::string out;
  EXPECT_EQ(run(fmt::format("qemu-img compare -f raw {} {}", raw, img), &out), 0) << out;
}

}  // namespace insula::block::test
