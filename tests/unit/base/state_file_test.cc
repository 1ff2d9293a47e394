// The saved-state format's reader refuses truncated, corrupted, foreign and
// wrong-version input with a message that says what is wrong.
#include "base/state_file.h"

#include <gtest/gtest.h>

#include <zlib.h>

#include <string>

namespace insula {
namespace {

struct Sample {
  static constexpr uint32_t kVersion = 3;
  uint32_t a = 0;
  uint64_t b = 0;
};

struct OldSample {
  static constexpr uint32_t kVersion = 2;
  uint32_t a = 0;
  uint64_t b = 0;
};

std::vector<uint8_t> sample_file() {
  StateWriter w;
  w.add_struct("dev/sample", Sample{7, 0x1122334455667788});
  std::string cfg = R"({"cpus":1})";
  w.add("config", 1, {reinterpret_cast<const uint8_t*>(cfg.data()), cfg.size()});
  w.add("empty", 1, {});
  return w.serialize();
}

std::string parse_error(const std::vector<uint8_t>& bytes) {
  try {
    StateReader::parse(bytes, "snap");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(StateFile, RoundTrip) {
  auto r = StateReader::parse(sample_file(), "snap");
  ASSERT_EQ(r.sections().size(), 3u);
  auto s = r.get_struct<Sample>("dev/sample");
  EXPECT_EQ(s.a, 7u);
  EXPECT_EQ(s.b, 0x1122334455667788u);
  EXPECT_EQ(std::string(r.get("config", 1).data.begin(), r.get("config", 1).data.end()), R"({"cpus":1})");
  EXPECT_TRUE(r.get("empty", 1).data.empty());
  EXPECT_FALSE(r.has("vcpu/0"));
}

TEST(StateFile, EveryTruncationIsRefused) {
  auto bytes = sample_file();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
    EXPECT_NE(parse_error(cut), "") << "a file cut to " << n << " bytes was accepted";
  }
  EXPECT_NE(parse_error({bytes.begin(), bytes.end() - 1}).find("truncated"), std::string::npos);
}

TEST(StateFile, EveryFlippedByteIsRefused) {
  auto bytes = sample_file();
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] ^= 0x40;
    EXPECT_NE(parse_error(bad), "") << "a flipped byte at " << i << " was accepted";
  }
  auto bad = bytes;
  bad[50] ^= 1;  // inside the first section's data
  EXPECT_NE(parse_error(bad).find("corrupt"), std::string::npos) << parse_error(bad);
}

TEST(StateFile, TrailingBytesAreRefused) {
  auto bytes = sample_file();
  bytes.push_back(0);
  EXPECT_NE(parse_error(bytes).find("after the trailer"), std::string::npos);
}

TEST(StateFile, ForeignFileIsRefused) {
  std::vector<uint8_t> elf = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_NE(parse_error(elf).find("not an insula state file"), std::string::npos);
}

TEST(StateFile, UnknownFormatVersionIsRefused) {
  // A later format: version 2 with a correct header checksum, so the reader
  // must refuse it for its version, not as damage.
  auto bytes = StateWriter().serialize();
  uint32_t v = 2;
  std::memcpy(bytes.data() + 8, &v, 4);
  uint32_t c = static_cast<uint32_t>(::crc32(0, bytes.data(), 16));
  std::memcpy(bytes.data() + 16, &c, 4);
  std::string msg = parse_error(bytes);
  EXPECT_NE(msg.find("format version 2 is not supported"), std::string::npos) << msg;
}

TEST(StateFile, WrongSectionVersionOrSizeIsRefused) {
  StateWriter w;
  w.add_struct("dev/sample", OldSample{});
  auto r = StateReader::parse(w.serialize(), "snap");
  try {
    r.get_struct<Sample>("dev/sample");
    FAIL() << "a version-2 section was read as version 3";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("version 2"), std::string::npos) << e.what();
  }
  StateWriter w2;
  uint8_t short_data[3] = {};
  w2.add("dev/sample", Sample::kVersion, short_data);
  auto r2 = StateReader::parse(w2.serialize(), "snap");
  EXPECT_THROW(r2.get_struct<Sample>("dev/sample"), Error);
  EXPECT_THROW(r2.get_struct<Sample>("dev/missing"), Error);
}

}  // namespace
}  // namespace insula
