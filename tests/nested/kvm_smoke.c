/* kvm_smoke: the smallest proof that /dev/kvm runs guest code. Creates a VM
 * with one page of real-mode code at 0x1000 that writes 0x42 to port 0x10 and
 * halts, and checks that KVM reports exactly that: an I/O exit with the byte,
 * then a HLT exit. Used inside the emulated-hardware test host (tests/nested),
 * where it shows that nested KVM on emulated AMD-V really executes guests.
 * Prints "kvm_smoke: ok" and exits 0, or says what went wrong and exits 1. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int fail(const char *what) {
  fprintf(stderr, "kvm_smoke: %s failed: %s\n", what, strerror(errno));
  return 1;
}

int main(void) {
  /* mov al, 0x42 ; out 0x10, al ; hlt */
  static const uint8_t code[] = {0xb0, 0x42, 0xe6, 0x10, 0xf4};
  const uint64_t guest_addr = 0x1000;
  const size_t mem_size = 0x1000;

  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) return fail("open /dev/kvm");
  if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
    fprintf(stderr, "kvm_smoke: unexpected KVM API version\n");
    return 1;
  }
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) return fail("KVM_CREATE_VM");

  void *mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return fail("mmap guest memory");
  memcpy(mem, code, sizeof code);
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = guest_addr, .memory_size = mem_size, .userspace_addr = (uint64_t)(uintptr_t)mem};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) return fail("KVM_SET_USER_MEMORY_REGION");

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) return fail("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < (int)sizeof(struct kvm_run)) return fail("KVM_GET_VCPU_MMAP_SIZE");
  struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) return fail("mmap kvm_run");

  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) return fail("KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) return fail("KVM_SET_SREGS");
  struct kvm_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.rip = guest_addr;
  regs.rflags = 0x2;
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) return fail("KVM_SET_REGS");

  int saw_out = 0;
  for (int exits = 0; exits < 16; ++exits) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) return fail("KVM_RUN");
    switch (run->exit_reason) {
      case KVM_EXIT_IO: {
        const uint8_t *data = (const uint8_t *)run + run->io.data_offset;
        if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != 0x10 || run->io.size != 1 || data[0] != 0x42) {
          fprintf(stderr, "kvm_smoke: unexpected I/O exit: dir %u port 0x%x size %u byte 0x%x\n", run->io.direction,
                  run->io.port, run->io.size, data[0]);
          return 1;
        }
        saw_out = 1;
        break;
      }
      case KVM_EXIT_HLT:
        if (!saw_out) {
          fprintf(stderr, "kvm_smoke: guest halted before writing to port 0x10\n");
          return 1;
        }
        printf("kvm_smoke: ok (guest wrote 0x42 to port 0x10, then halted)\n");
        return 0;
      default:
        fprintf(stderr, "kvm_smoke: unexpected exit reason %u\n", run->exit_reason);
        return 1;
    }
  }
  fprintf(stderr, "kvm_smoke: guest did not halt within 16 exits\n");
  return 1;
}
