// Fuzzes the split-ring parser and each virtio device behind the PCI
// transport. The input is: a mode byte, a queue configuration, a list of
// transport register writes, then the bytes of guest memory (rings,
// descriptors and buffers all come from the fuzzer).
#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <vector>

#include "devices/virtio/virtio_balloon.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_console.h"
#include "devices/virtio/virtio_net.h"
#include "devices/virtio/virtio_pci.h"
#include "devices/virtio/virtio_rng.h"
#include "devices/virtio/virtio_vsock.h"
#include "mem_disk.h"

using namespace insula;
using namespace insula::virtio;

namespace {

constexpr size_t kRamSize = 64 * 1024;

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  template <typename T>
  T get() {
    T v{};
    size_t n = std::min(sizeof(T), size_ - pos_);
    std::memcpy(&v, data_ + pos_, n);
    pos_ += n;
    return v;
  }
  std::span<const uint8_t> rest() { return {data_ + pos_, size_ - pos_}; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

class NullMsi : public MsiSender {
 public:
  void send(uint64_t, uint32_t) override {}
};
class NullIrq : public IrqLine {
 public:
  void set_level(bool) override {}
};

void fuzz_queue(Input& in, const GuestMemory& mem) {
  Virtqueue vq(256);
  uint8_t sz = in.get<uint8_t>();
  vq.size = uint16_t(sz & 0x80 ? sz : 1u << (sz % 9));
  vq.desc_addr = in.get<uint16_t>() & ~0xfu;
  vq.avail_addr = in.get<uint16_t>() & ~0x1u;
  vq.used_addr = in.get<uint16_t>() & ~0x3u;
  vq.ready = true;
  vq.set_event_idx(in.get<uint8_t>() & 1);
  std::string why;
  if (!vq.check(mem, why)) return;
  DescChain chain;
  for (int i = 0; i < 300; i++) {
    auto r = vq.pop(mem, chain, why);
    if (r != Virtqueue::Pop::kChain) break;
    ChainReader reader(mem, chain.readable);
    uint8_t buf[64];
    while (reader.read(buf, sizeof buf)) {
    }
    ChainWriter writer(mem, chain.writable);
    writer.write(buf, sizeof buf);
    vq.add_used(mem, chain.head, uint32_t(writer.written()));
    vq.needs_interrupt(mem);
  }
}

void fuzz_device(Input& in, const GuestMemory& mem, std::shared_ptr<VirtioDevice> device) {
  NullMsi msi;
  NullIrq irq;
  VirtioPci pci(device, mem, &msi, &irq);
  auto w = [&](uint64_t off, auto v) { pci.bar_write(0, off, {reinterpret_cast<uint8_t*>(&v), sizeof v}); };
  uint64_t features = in.get<uint64_t>() | kFVersion1;
  w(uint8_t(20), uint8_t(3));
  w(uint64_t(8), uint32_t(0));
  w(uint64_t(12), uint32_t(features));
  w(uint64_t(8), uint32_t(1));
  w(uint64_t(12), uint32_t(features >> 32));
  w(uint64_t(20), uint8_t(0xb));
  for (uint16_t q = 0; q < pci.num_queues(); q++) {
    w(uint64_t(22), q);
    // Mostly valid sizes and alignments, so the devices get to run; the
    // high bit of the size byte keeps hostile values in play.
    uint8_t sz = in.get<uint8_t>();
    w(uint64_t(24), uint16_t(sz & 0x80 ? sz : 1u << (sz % 9)));
    w(uint64_t(32), uint64_t(in.get<uint16_t>() & ~0xfu));
    w(uint64_t(40), uint64_t(in.get<uint16_t>() & ~0x1u));
    w(uint64_t(48), uint64_t(in.get<uint16_t>() & ~0x3u));
    w(uint64_t(28), uint16_t(1));
  }
  w(uint64_t(20), uint8_t(0xf));
  // A few arbitrary register writes (common config, device config, notify,
  // MSI-X table), each followed by notifications of every queue.
  uint8_t writes = in.get<uint8_t>() % 8;
  for (uint8_t i = 0; i <= writes; i++) {
    uint16_t off = in.get<uint16_t>();
    uint32_t val = in.get<uint32_t>();
    uint8_t how = in.get<uint8_t>();
    uint8_t len = uint8_t(1u << (how % 3));
    uint32_t back;
    if (how & 0x80) {
      // PCI config space: command, BARs, MSI-X control, the PCI_CFG window.
      off %= 256;
      pci.config_write(off, {reinterpret_cast<uint8_t*>(&val), len});
      pci.config_read(off, {reinterpret_cast<uint8_t*>(&back), len});
    } else {
      off %= kVirtioBarSize;
      pci.bar_write(0, off, {reinterpret_cast<uint8_t*>(&val), len});
      pci.bar_read(0, off, {reinterpret_cast<uint8_t*>(&back), len});
    }
    for (size_t q = 0; q < pci.num_queues(); q++) pci.notify(q);
  }
  w(uint64_t(20), uint8_t(0));  // reset: waits for the device's workers
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  uint8_t mode = in.get<uint8_t>() % 7;
  // Configuration bytes come first; guest memory takes the remainder.
  uint8_t header[64];
  for (auto& b : header) b = in.get<uint8_t>();
  std::vector<uint8_t> ram(kRamSize);
  auto rest = in.rest();
  std::memcpy(ram.data(), rest.data(), std::min(rest.size(), ram.size()));
  GuestMemory mem;
  mem.add_region(MemoryRegion{0, kRamSize, ram.data()});
  Input cfg(header, sizeof header);
  switch (mode) {
    case 0:
      fuzz_queue(cfg, mem);
      break;
    case 1:
      fuzz_device(cfg, mem, std::make_shared<VirtioRng>());
      break;
    case 2: {
      auto disk = std::make_shared<testing::MemDisk>(64 * 1024, header[0] & 1);
      // One queue or two (multiqueue), as the machine gives per vCPU.
      uint16_t queues = header[0] & 2 ? 2 : 1;
      fuzz_device(cfg, mem, std::make_shared<VirtioBlk>(disk, VirtioBlkOptions{false, "fuzz", 1, 256, queues}));
      break;
    }
    case 3: {
      UniqueFd out(::open("/dev/null", O_WRONLY | O_CLOEXEC));
      fuzz_device(cfg, mem, std::make_shared<VirtioConsole>(-1, out.get(), nullptr));
      break;
    }
    case 4:
      fuzz_device(cfg, mem, std::make_shared<VirtioBalloon>());
      break;
    case 5: {
      // A datagram socket pair stands in for the tap.
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) break;
      UniqueFd peer(sv[1]);
      EventLoop loop;
      auto net = std::make_shared<VirtioNet>(Tap(UniqueFd(sv[0]), "fuzz"), MacAddress{2, 0, 0, 0, 0, 1}, &loop);
      uint8_t frame[200] = {};
      std::memcpy(frame + 12, rest.data(), std::min<size_t>(rest.size(), sizeof frame - 12));
      // Two frames: the second takes the buffers the first gave back.
      [[maybe_unused]] auto n = ::send(peer.get(), frame, 12 + header[1] % 188, 0);
      n = ::send(peer.get(), frame, 12 + header[2] % 188, 0);
      fuzz_device(cfg, mem, net);
      break;
    }
    case 6: {
      // Guest-initiated connections go to <path>_<port>, which do not
      // exist: every REQUEST is answered with RST.
      EventLoop loop;
      std::string path = fmt::format("/tmp/insula-vsock-fuzz-{}.sock", ::getpid());
      auto vsock = std::make_shared<VirtioVsock>(3, path, &loop);
      fuzz_device(cfg, mem, vsock);
      break;
    }
  }
  return 0;
}
