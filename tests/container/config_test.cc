// Unit tests: config.json validation, path resolution in a rootfs, mount
// options, signal names and cgroup paths. No privileges needed.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "base/error.h"
#include "container/cgroups.h"
#include "container/config.h"
#include "container/mounts.h"
#include "container/runtime.h"
#include "container/secure_path.h"
#include "container/security.h"

namespace insula::container {
namespace {

std::string minimal(const std::string& extra_linux = "", const std::string& extra = "") {
  return R"({"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},)" + extra +
         R"("linux":{"namespaces":[{"type":"mount"}])" + extra_linux + "}}";
}

std::string message_of(const std::string& text) {
  try {
    parse_config(text, "/b");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, ParsesMinimalAndResolvesRelativeRoot) {
  Config c = parse_config(minimal(), "/bundle");
  EXPECT_EQ(c.root_path, "/bundle/rootfs");
  EXPECT_EQ(c.process.args.at(0), "sh");
  EXPECT_TRUE(c.has_namespace("mount"));
}

TEST(Config, RejectsWrongTypes) {
  EXPECT_NE(message_of(R"({"ociVersion":"1.0.2","root":{"path":"r"},"process":{"args":"sh","cwd":"/"}})").find("process.args"),
            std::string::npos);
  EXPECT_NE(message_of(R"({"ociVersion":"1.0.2","root":{"path":"r"},"process":{"args":["sh"],"cwd":"/","user":{"uid":"0"}}})")
                .find("process.user.uid"),
            std::string::npos);
  EXPECT_NE(message_of(R"({"ociVersion":"1.0.2","root":{"path":"r"},"mounts":{}})").find("mounts must be an array"),
            std::string::npos);
  EXPECT_NE(message_of("[1,2]").find("top level"), std::string::npos);
  EXPECT_NE(message_of("{not json").find("not valid JSON"), std::string::npos);
}

TEST(Config, NumbersTooBigForJsonAreAnErrorNotACrash) {
  // Found by fuzz/container: nlohmann throws out_of_range, not parse_error.
  EXPECT_THROW(parse_config("[[[222e22222222]]]", "/b"), insula::Error);
  EXPECT_THROW(parse_config(R"({"ociVersion":"1.0.2","root":{"path":"r"},"x":1e400})", "/b"), insula::Error);
}

TEST(Config, RejectsUnknownNamespaceAndRelativePaths) {
  EXPECT_NE(message_of(minimal(R"(,"namespaces":[{"type":"bogus"}])")).find("unknown namespace type 'bogus'"), std::string::npos);
  EXPECT_NE(message_of(minimal("", R"("mounts":[{"destination":"proc","type":"proc"}],)")).find("must be an absolute path"),
            std::string::npos);
  EXPECT_NE(message_of(R"({"ociVersion":"1.0.2","root":{"path":"r"},"process":{"args":["sh"],"cwd":"tmp"}})").find("cwd"),
            std::string::npos);
  EXPECT_NE(message_of(minimal(R"(,"maskedPaths":["proc/kcore"])")).find("must be absolute"), std::string::npos);
  EXPECT_NE(message_of(minimal("", R"("hooks":{"prestart":[{"path":"hook"}]},)")).find("absolute"), std::string::npos);
  EXPECT_NE(message_of(minimal(R"(,"uidMappings":[{"containerID":0,"hostID":1000,"size":1}])")).find("user namespace"),
            std::string::npos);
}

TEST(Config, ParsesSeccompAndHooks) {
  Config c = parse_config(minimal(R"(,"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1,"args":[{"index":1,"value":511,"op":"SCMP_CMP_EQ"}]}]})",
                                  R"("hooks":{"poststop":[{"path":"/bin/true","timeout":3}]},)"),
                          "/b");
  ASSERT_TRUE(c.seccomp.has_value());
  EXPECT_EQ(c.seccomp->syscalls.at(0).args.at(0).value, 511u);
  EXPECT_EQ(c.hooks.poststop.at(0).timeout.value(), 3);
}

TEST(Config, ParsesSeccompListenerAndMountIdMappings) {
  Config c = parse_config(
      minimal(R"(,"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/l.sock","listenerMetadata":"m","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]})",
              R"("mounts":[{"destination":"/d","type":"bind","source":"/s","options":["rbind","idmap"],"uidMappings":[{"containerID":1000,"hostID":2000,"size":1}]}],)"),
      "/b");
  EXPECT_EQ(c.seccomp->listener_path, "/run/l.sock");
  EXPECT_EQ(c.seccomp->listener_metadata, "m");
  EXPECT_TRUE(seccomp_uses_notify(*c.seccomp));
  EXPECT_NO_THROW(check_seccomp(*c.seccomp));
  c.seccomp->listener_path.clear();
  EXPECT_THROW(check_seccomp(*c.seccomp), Error);  // NOTIFY needs a listener
  c.seccomp->listener_path = "relative.sock";
  EXPECT_THROW(check_seccomp(*c.seccomp), Error);
  c.seccomp->listener_path = "/run/l.sock";
  c.seccomp->default_action = "SCMP_ACT_NOTIFY";
  EXPECT_THROW(check_seccomp(*c.seccomp), Error);
  const Mount& m = c.mounts.at(0);
  ASSERT_EQ(m.uid_mappings.size(), 1u);
  EXPECT_EQ(m.uid_mappings[0].host_id, 2000u);
  EXPECT_TRUE(m.gid_mappings.empty());
  EXPECT_TRUE(is_idmapped(m));
  // Without the container's gidMappings to fall back on, it is refused before anything is made.
  EXPECT_THROW(open_idmapped_mounts(c, "/b"), Error);
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/insula-sj-XXXXXX";
    root_ = mkdtemp(tmpl);
    ASSERT_EQ(mkdir((root_ + "/etc").c_str(), 0755), 0);
  }
  void TearDown() override { remove_tree(root_); }
  std::string root_;
};

TEST_F(TempDir, SecureJoinReRootsAbsoluteSymlinks) {
  ASSERT_EQ(symlink("/etc", (root_ + "/link").c_str()), 0);
  EXPECT_EQ(secure_join(root_, "/link/passwd"), root_ + "/etc/passwd");
  EXPECT_EQ(secure_join(root_, "/a/b/../c"), root_ + "/a/c");
}

TEST_F(TempDir, SecureJoinRefusesEscapes) {
  ASSERT_EQ(symlink("../../../../etc", (root_ + "/escape").c_str()), 0);
  EXPECT_THROW(secure_join(root_, "/escape/passwd"), Error);
  EXPECT_THROW(secure_join(root_, "/../etc"), Error);
  ASSERT_EQ(symlink("loop", (root_ + "/loop").c_str()), 0);
  EXPECT_THROW(secure_join(root_, "/loop"), Error);
}

TEST(MountOptions, FlagsPropagationAndData) {
  MountFlags f = parse_mount_options({"ro", "nosuid", "rbind", "rslave", "mode=755", "size=1k"});
  EXPECT_TRUE(f.flags & MS_RDONLY);
  EXPECT_TRUE(f.flags & MS_NOSUID);
  EXPECT_TRUE(f.bind && f.recursive);
  EXPECT_EQ(f.propagation, static_cast<unsigned long>(MS_SLAVE | MS_REC));
  EXPECT_EQ(f.data, "mode=755,size=1k");
  EXPECT_FALSE(parse_mount_options({"ro", "rw"}).flags & MS_RDONLY);
  // idmap/ridmap select an idmapped mount (idmap_mounts.cc): no fs data.
  EXPECT_EQ(parse_mount_options({"idmap", "ridmap"}).data, "");
}

TEST(Signals, NamesAndNumbers) {
  EXPECT_EQ(parse_signal("KILL"), 9);
  EXPECT_EQ(parse_signal("SIGTERM"), 15);
  EXPECT_EQ(parse_signal("10"), 10);
  EXPECT_THROW(parse_signal("SIGNOPE"), Error);
  EXPECT_THROW(parse_signal("0"), Error);
}

TEST(Cgroups, PathsFromConfig) {
  EXPECT_EQ(cgroup_relative_path("", "c1", false), "/insula/c1");
  EXPECT_EQ(cgroup_relative_path("/a/b", "c1", false), "/a/b");
  EXPECT_EQ(cgroup_relative_path("machine.slice:libpod:abc", "c1", true), "/machine.slice/libpod-abc.scope");
  EXPECT_THROW(cgroup_relative_path("/a/../../b", "c1", false), Error);
}

TEST(Spec, DefaultSpecParses) {
  Config c = parse_config(default_spec(false).dump(), "/b");
  EXPECT_TRUE(c.has_namespace("pid"));
  EXPECT_TRUE(c.root_readonly);
  Config r = parse_config(default_spec(true).dump(), "/b");
  EXPECT_EQ(r.uid_mappings.size(), 1u);
}

}  // namespace
}  // namespace insula::container
