#include "base/size.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace insula {
namespace {

TEST(ParseSize, Suffixes) {
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("512M"), 512ull << 20);
  EXPECT_EQ(parse_size("1G"), 1ull << 30);
  EXPECT_EQ(parse_size("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_size("3k"), 3ull << 10);
  EXPECT_EQ(parse_size("128", 1 << 20), 128ull << 20);
}

TEST(ParseSize, RejectsGarbage) {
  EXPECT_THROW(parse_size(""), Error);
  EXPECT_THROW(parse_size("M"), Error);
  EXPECT_THROW(parse_size("12Q"), Error);
  EXPECT_THROW(parse_size("12MX"), Error);
  EXPECT_THROW(parse_size("99999999999999E"), Error);
}

TEST(FormatSize, Readable) {
  EXPECT_EQ(format_size(17), "17 B");
  EXPECT_EQ(format_size(1ull << 30), "1 GiB");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
}

}  // namespace
}  // namespace insula
