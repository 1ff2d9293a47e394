// VM images (`insula vm image create/ls/rm`): the disks of a stopped VM, or
// one disk file, flattened with convert into <state>/images/NAME/diskN.qcow2
// (made read-only: clones use them as bases), recorded with the VM's config.
// The files are written under NAME.partial/ and renamed before the record is
// inserted, so a killed CLI never leaves a record of a half-written image.
#include <sys/stat.h>

#include <filesystem>
#include <optional>

#include "api/device_bodies.h"
#include "base/error.h"
#include "manager/vm_disks.h"
#include "manager/vm_lock.h"
#include "manager/vm_manager.h"

namespace insula::manager {

namespace fs = std::filesystem;

std::string VmManager::images_dir() const { return state_dir_ + "/images"; }

ImageRecord VmManager::create_image(const std::string& image, const std::string& from_vm, const std::string& from_file,
                                    const std::function<void(double)>& progress) {
  try {
    check_vm_name(image);
  } catch (const Error&) {
    throw error("invalid image name \"{}\": use 1-48 letters, digits, '-', '_' or '.', not starting with '.' or '-'", image);
  }
  if (from_vm.empty() == from_file.empty()) throw error("give exactly one of --from-vm VM and --from FILE");
  fs::create_directories(images_dir());
  VmLock lock(images_dir() + "/" + image + ".lock");
  if (store_.get_image(image)) throw error("an image named {} already exists (see insula vm image ls)", image);
  std::string dir = images_dir() + "/" + image, partial = dir + ".partial";
  fs::remove_all(dir);  // no record: left by a create that was killed
  fs::remove_all(partial);

  nlohmann::json config = nlohmann::json::object();
  std::string source;
  std::optional<VmLock> vm_lock;  // the VM cannot start while its disks are copied
  if (!from_vm.empty()) {
    vm_lock.emplace(vm_dir(from_vm) + ".lock");
    VmRecord r = reconcile(existing(from_vm));
    if (r.pid != 0) throw error("VM {} is {}: stop it first (its disks change while it runs)", from_vm, r.state);
    config = {{"kernel", r.kernel}, {"initrd", r.initrd}, {"cmdline", r.cmdline}, {"cpus", r.cpus}, {"memory", r.memory}};
    config["devices"] = nlohmann::json::parse(r.devices, nullptr, false);
    if (!config["devices"].is_object()) throw error("the device record of VM {} is not valid JSON", from_vm);
    source = "vm:" + from_vm;
  } else {
    if (!fs::is_regular_file(from_file)) throw error("--from {}: no such file", from_file);
    vmm::DiskConfig d;
    d.path = fs::absolute(from_file).string();
    config["devices"] = {{"drives", nlohmann::json::array({api::drive_body({"disk0", false, d})})}};
    source = d.path;
  }
  auto& drives = config["devices"]["drives"];
  if (!drives.is_array() || drives.empty()) throw error("VM {} has no disks: there is nothing to make an image of", from_vm);

  fs::create_directories(partial);
  try {
    for (size_t i = 0; i < drives.size(); ++i) {
      auto& d = drives[i];
      std::string file = fmt::format("disk{}.qcow2", i);
      flatten_disk(d.value("path_on_host", ""), d.value("format", ""), partial + "/" + file,
                   part_of(progress, i, drives.size()));
      ::chmod((partial + "/" + file).c_str(), 0444);  // a base: nothing writes it
      d["path_on_host"] = dir + "/" + file;
      d["format"] = "qcow2";
    }
    fs::rename(partial, dir);
    ImageRecord rec{image, dir, config.dump(), source, 0};
    store_.insert_image(rec);
    return *store_.get_image(image);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(partial, ec);
    fs::remove_all(dir, ec);
    throw;
  }
}

std::vector<ImageRecord> VmManager::images() { return store_.list_images(); }

void VmManager::remove_image(const std::string& image) {
  VmLock lock(images_dir() + "/" + image + ".lock");
  auto rec = store_.get_image(image);
  if (!rec) throw error("no image named {} (see insula vm image ls)", image);
  if (auto clones = store_.bases_owned_by("image", image); !clones.empty())
    throw error("image {} is the base of VM {}: remove the clones first (their disks are overlays over it)", image,
                clones.front().vm);
  store_.remove_image(image);
  std::error_code ec;
  fs::remove_all(rec->dir, ec);
  fs::remove(images_dir() + "/" + image + ".lock", ec);
}

}  // namespace insula::manager
