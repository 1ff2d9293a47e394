// The device allow-list: the rules of linux.resources.devices plus the
// defaults every container needs, written to v1's devices.allow/deny
// (cgroups_v1.cc) or, on cgroup2, compiled here into an eBPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE attached to the container's group (cgroup2 has
// no devices files; this is what runc and crun do too).
#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <iterator>

#include "base/error.h"
#include "base/fd.h"
#include "container/cgroups.h"

namespace insula::container {
namespace {

using nlohmann::json;

bool has(const json& o, const char* k) { return o.is_object() && o.contains(k) && !o[k].is_null(); }

bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst;
  i.src_reg = src;
  i.off = off;
  i.imm = imm;
  return i;
}

// The program: r2 = device type, r3 = requested access, r4 = major, r5 = minor
// (from struct bpf_cgroup_dev_ctx in r1); then one block per rule, last rule
// first, each jumping to the next block on a mismatch and returning
// 1 (allow) or 0 (deny) on a match; no match denies.
std::vector<bpf_insn> compile(const std::vector<DeviceRule>& rules) {
  std::vector<bpf_insn> p;
  p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0));
  p.push_back(insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xFFFF));
  p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_3, BPF_REG_1, 0, 0));
  p.push_back(insn(BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16));
  p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 4, 0));
  p.push_back(insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_5, BPF_REG_1, 8, 0));
  for (auto r = rules.rbegin(); r != rules.rend(); ++r) {
    int32_t access = 0;
    for (char c : r->access) access |= c == 'm' ? BPF_DEVCG_ACC_MKNOD : c == 'r' ? BPF_DEVCG_ACC_READ : BPF_DEVCG_ACC_WRITE;
    std::vector<bpf_insn> block;
    // Each check jumps by a placeholder offset that is fixed once the block's length is known.
    std::vector<size_t> to_next;
    if (r->type != 'a') {
      block.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 0, r->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK));
      to_next.push_back(block.size() - 1);
    }
    // allow: every requested access bit is in the rule; deny: any of them is.
    block.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0));
    if (r->allow) {
      block.push_back(insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, ~access & 7));
      block.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 0, 0));
    } else {
      block.push_back(insn(BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, access));
      block.push_back(insn(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_1, 0, 0, 0));
    }
    to_next.push_back(block.size() - 1);
    if (r->type != 'a' && r->major >= 0) {
      block.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, static_cast<int32_t>(r->major)));
      to_next.push_back(block.size() - 1);
    }
    if (r->type != 'a' && r->minor >= 0) {
      block.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, static_cast<int32_t>(r->minor)));
      to_next.push_back(block.size() - 1);
    }
    block.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, r->allow ? 1 : 0));
    block.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    for (size_t j : to_next) block[j].off = static_cast<int16_t>(block.size() - j - 1);
    p.insert(p.end(), block.begin(), block.end());
  }
  p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
  p.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  return p;
}

}  // namespace

std::vector<DeviceRule> device_rules(const json& devices) {
  std::vector<DeviceRule> rules;
  for (const auto& d : devices) {
    DeviceRule r;
    r.allow = d.value("allow", false);
    const std::string type = d.value("type", std::string());
    r.type = type.empty() || type == "a" || type == "all" ? 'a' : type == "c" ? 'c' : type == "b" ? 'b' : '\0';
    if (!r.type) throw error("config.json: linux.resources.devices: type '{}' must be a, c or b", type);
    if (has(d, "major")) r.major = d["major"].get<int64_t>();
    if (has(d, "minor")) r.minor = d["minor"].get<int64_t>();
    std::string access = d.value("access", std::string());
    if (access.find_first_not_of("rwm") != std::string::npos)
      throw error("config.json: linux.resources.devices: access '{}' must be a subset of rwm", access);
    if (!access.empty()) r.access = access;
    rules.push_back(r);
  }
  // What every container needs whatever the config says (runc's default allow list).
  const DeviceRule kDefaults[] = {{true, 'c', -1, -1, "m"},  {true, 'b', -1, -1, "m"}, {true, 'c', 1, 3, "rwm"},
                                  {true, 'c', 1, 8, "rwm"},  {true, 'c', 1, 7, "rwm"}, {true, 'c', 5, 0, "rwm"},
                                  {true, 'c', 1, 5, "rwm"},  {true, 'c', 1, 9, "rwm"}, {true, 'c', 5, 1, "rwm"},
                                  {true, 'c', 136, -1, "rwm"}, {true, 'c', 5, 2, "rwm"}, {true, 'c', 10, 200, "rwm"}};
  rules.insert(rules.end(), std::begin(kDefaults), std::end(kDefaults));
  return rules;
}

void attach_device_filter(const std::string& dir, const std::vector<DeviceRule>& rules) {
  std::vector<bpf_insn> prog = compile(rules);
  bpf_attr load{};
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = reinterpret_cast<uint64_t>(prog.data());
  load.insn_cnt = static_cast<uint32_t>(prog.size());
  load.license = reinterpret_cast<uint64_t>("Apache");
  UniqueFd prog_fd(static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load)));
  if (!prog_fd) {
    // Load again with the verifier's log, to say why (the log is only asked for
    // on failure: a full log of a good program can overflow the buffer).
    int err = errno;
    std::vector<char> log(65536);
    load.log_buf = reinterpret_cast<uint64_t>(log.data());
    load.log_size = static_cast<uint32_t>(log.size());
    load.log_level = 1;
    UniqueFd again(static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load)));
    errno = err;
    throw errno_error(fmt::format("cgroup2: load the device filter (eBPF) for {} (verifier: {})", dir, log.data()));
  }
  UniqueFd cg(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cg) throw errno_error(fmt::format("cgroup2: open {}", dir));
  bpf_attr attach{};
  attach.target_fd = static_cast<uint32_t>(cg.get());
  attach.attach_bpf_fd = static_cast<uint32_t>(prog_fd.get());
  attach.attach_type = BPF_CGROUP_DEVICE;
  // Multi: programs of the parents (systemd's, say) keep applying as well.
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  if (::syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof attach) != 0)
    throw errno_error(fmt::format("cgroup2: attach the device filter to {}", dir));
  // The attachment holds the program; it goes away with the cgroup.
}

}  // namespace insula::container
