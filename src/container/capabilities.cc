// Capability sets via libcap: the bounding set is dropped first (needs
// CAP_SETPCAP), the other four sets are set after the uid switch.
#include <linux/capability.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include <set>

#include "base/error.h"
#include "container/security.h"

namespace insula::container {
namespace {

std::set<cap_value_t> to_values(const std::vector<std::string>& names) {
  std::set<cap_value_t> out;
  for (const auto& n : names) {
    cap_value_t v;
    // Unknown names are skipped, as runc does: configs list caps of newer kernels.
    if (cap_from_name(n.c_str(), &v) == 0 && CAP_IS_SUPPORTED(v)) out.insert(v);
  }
  return out;
}

}  // namespace

std::vector<std::string> known_capabilities() {
  std::vector<std::string> out;
  for (cap_value_t v = 0; v <= CAP_LAST_CAP; ++v) {
    char* name = cap_to_name(v);
    std::string s = name;
    cap_free(name);
    for (auto& ch : s) ch = toupper(ch);
    out.push_back(s);
  }
  return out;
}

void drop_bounding_set(const Capabilities& caps) {
  auto keep = to_values(caps.bounding);
  for (cap_value_t v = 0; v <= CAP_LAST_CAP; ++v) {
    if (!CAP_IS_SUPPORTED(v) || keep.count(v)) continue;
    if (::prctl(PR_CAPBSET_DROP, v, 0, 0, 0) != 0 && errno != EINVAL)
      throw errno_error(fmt::format("drop capability {} from the bounding set", v));
  }
}

void apply_capabilities(const Capabilities& caps) {
  cap_t c = cap_init();
  if (!c) throw errno_error("cap_init");
  struct Free {
    cap_t c;
    ~Free() { cap_free(c); }
  } guard{c};
  auto set = [&](cap_flag_t flag, const std::vector<std::string>& names) {
    auto vals = to_values(names);
    std::vector<cap_value_t> v(vals.begin(), vals.end());
    if (!v.empty() && cap_set_flag(c, flag, static_cast<int>(v.size()), v.data(), CAP_SET) != 0)
      throw errno_error("cap_set_flag");
  };
  set(CAP_EFFECTIVE, caps.effective);
  set(CAP_PERMITTED, caps.permitted);
  set(CAP_INHERITABLE, caps.inheritable);
  if (cap_set_proc(c) != 0) throw errno_error("set process capabilities (capset)");
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (cap_value_t v : to_values(caps.ambient)) {
    // Ambient needs the cap in permitted and inheritable; the kernel says EPERM otherwise, which runc ignores.
    ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, v, 0, 0);
  }
}

}  // namespace insula::container
