// `vm create --from`: a VM cloned from another VM or a VM image. Each of
// the source's disks becomes the read-only base of a qcow2 overlay in the
// new VM's directory (or, with full, is copied flat). The bases are recorded
// (table clone_bases) so that their owner cannot be removed and no VM
// starts with a base as a writable disk while a clone depends on it.
#include <filesystem>
#include <optional>

#include "base/error.h"
#include "manager/vm_disks.h"
#include "manager/vm_lock.h"
#include "manager/vm_manager.h"

namespace insula::manager {

namespace fs = std::filesystem;

namespace {

// What a clone copies: a VM's record or an image's config.
struct CloneSource {
  std::string kind, name;  // "vm" or "image"
  std::string kernel, initrd, cmdline;
  uint32_t cpus = 1;
  uint64_t memory = 256ULL << 20;
  nlohmann::json devices;
};

nlohmann::json parse_devices(const std::string& text, const std::string& what) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw error("the device record of {} is not valid JSON", what);
  if (!j.contains("drives") || !j["drives"].is_array()) j["drives"] = nlohmann::json::array();
  return j;
}

}  // namespace

std::string VmManager::new_vm_dir(const std::string& name) {
  if (store_.get(name)) throw error("a VM named {} already exists", name);
  // No record: whatever is there was left by a create that was killed.
  std::string dir = vm_dir(name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void VmManager::check_no_writable_base(const VmRecord& r) {
  auto devices = parse_devices(r.devices, "VM " + r.name);
  for (const auto& d : devices["drives"]) {
    if (d.value("is_read_only", false)) continue;
    std::string path = d.value("path_on_host", "");
    for (const auto& c : store_.clones_of(path))
      if (c.vm != r.name)
        throw error("VM {}'s disk {} is the read-only base of clone {}: writing it would corrupt the clone. "
                    "Start the clone, or clone {} again (insula vm create NEW --from {}) and start that",
                    r.name, path, c.vm, r.name, r.name);
  }
}

VmRecord VmManager::create_from(const VmSpec& spec, const CloneOptions& o, const std::function<void(double)>& progress) {
  check_vm_name(spec.name);
  VmLock lock(vm_dir(spec.name) + ".lock");
  if (store_.get(spec.name)) throw error("a VM named {} already exists", spec.name);
  // The source: "vm:X", "image:X", or a bare name that must be only one of them.
  std::string kind, src = o.from;
  if (src.rfind("vm:", 0) == 0) kind = "vm", src = src.substr(3);
  else if (src.rfind("image:", 0) == 0) kind = "image", src = src.substr(6);
  bool is_vm = store_.get(src).has_value(), is_image = store_.get_image(src).has_value();
  if (kind.empty()) {
    if (is_vm && is_image)
      throw error("--from {}: both a VM and an image have that name; say vm:{} or image:{}", src, src, src);
    kind = is_vm ? "vm" : is_image ? "image" : "";
  }
  if (kind.empty() || (kind == "vm" && !is_vm) || (kind == "image" && !is_image))
    throw error("--from {}: no such VM or image (see insula vm list, insula vm image ls)", o.from);

  // Held until the clone is recorded: the source cannot be removed, started
  // or changed meanwhile.
  CloneSource s;
  s.kind = kind, s.name = src;
  std::optional<VmLock> source_lock;
  if (kind == "vm") {
    source_lock.emplace(vm_dir(src) + ".lock");
    VmRecord r = reconcile(existing(src));
    if (r.pid != 0) throw error("VM {} is {}: stop it before cloning it (its disks change while it runs)", src, r.state);
    s.kernel = r.kernel, s.initrd = r.initrd, s.cmdline = r.cmdline, s.cpus = r.cpus, s.memory = r.memory;
    s.devices = parse_devices(r.devices, "VM " + src);
  } else {
    source_lock.emplace(images_dir() + "/" + src + ".lock");
    auto img = store_.get_image(src);
    if (!img) throw error("--from {}: the image was removed meanwhile", o.from);
    auto c = nlohmann::json::parse(img->config, nullptr, false);
    if (c.is_discarded() || !c.is_object()) throw error("the record of image {} is not valid JSON", src);
    s.kernel = c.value("kernel", ""), s.initrd = c.value("initrd", ""), s.cmdline = c.value("cmdline", "");
    s.cpus = c.value("cpus", 1u), s.memory = c.value("memory", uint64_t{256} << 20);
    s.devices = parse_devices(c.value("devices", nlohmann::json::object()).dump(), "image " + src);
  }

  VmRecord r;
  r.name = spec.name;
  r.kernel = o.kernel ? fs::absolute(spec.kernel).string() : s.kernel;
  r.initrd = o.initrd ? (spec.initrd.empty() ? "" : fs::absolute(spec.initrd).string()) : s.initrd;
  r.cmdline = o.cmdline ? spec.cmdline : s.cmdline;
  r.cpus = o.cpus ? spec.cpus : s.cpus;
  r.memory = o.memory ? spec.memory : s.memory;
  if (r.kernel.empty()) throw error("{} {} has no kernel (an image made from a disk file): give --kernel", kind, src);
  if (r.cpus < 1 || r.cpus > 32) throw error("--cpus {} is out of range: 1 to 32", r.cpus);
  if (r.memory < (1 << 20)) throw error("--memory must be at least 1 MiB");
  // The command line's devices, checked before any file is made.
  VmSpec extra = spec;
  extra.memory = r.memory;
  auto& drives = s.devices["drives"];
  nlohmann::json added = device_bodies(extra, drives.size());

  std::string dir = new_vm_dir(spec.name);
  try {
    std::vector<BaseRef> bases;
    for (size_t i = 0; i < drives.size(); ++i) {
      auto& d = drives[i];
      std::string base = d.value("path_on_host", ""), format = d.value("format", "");
      std::string path = fmt::format("{}/disk{}.qcow2", dir, i);
      if (o.full) {
        flatten_disk(base, format, path, part_of(progress, i, drives.size()));
      } else {
        make_overlay(path, base, format);
        bases.push_back({spec.name, base, kind, src});
      }
      d["path_on_host"] = path;
      d["format"] = "qcow2";
      d["drive_id"] = fmt::format("disk{}", i);
    }
    for (auto& d : added["drives"]) drives.push_back(d);
    if (!spec.nets.empty()) s.devices["network-interfaces"] = added["network-interfaces"];
    if (spec.vsock) s.devices["vsock"] = added["vsock"];
    if (spec.balloon) s.devices["balloon"] = added["balloon"];
    if (s.devices.contains("balloon") && uint64_t(s.devices["balloon"].value("amount_mib", 0u)) << 20 > r.memory)
      throw error("the balloon's target is more than the clone's memory: give --balloon");
    add_blank_disks(s.devices, dir, spec.blank_disks);
    r.devices = s.devices.dump();
    r.api_socket = dir + "/api.sock";
    r.console_socket = dir + "/console.sock";
    r.log_path = dir + "/console.log";
    store_.insert_clone(r, bases);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(dir, ec);
    throw;
  }
  return r;
}

}  // namespace insula::manager
