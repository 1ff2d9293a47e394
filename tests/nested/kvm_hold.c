// Part of the test host's /init (tests/nested/host-init): holds one empty KVM
// VM for the test host's whole life, so that KVM enables AMD-V on every CPU
// once, when it starts, instead of each time the number of VMs goes from 0 to
// 1 (and disabling it each time it drops back to 0), as Linux 6.1 does; newer
// kernels enable it when kvm loads. Each such switch runs a function on every
// CPU of the test host, and under QEMU's TCG emulation of AMD-V that now and
// then stalled the whole test host for a minute or more (soft lockup in
// KVM_CREATE_VM or kvm_destroy_vm; measured in docs/testing.md). That one
// switch can still stall the test host, so host-init runs it before the
// command, with the heartbeat already going, and waits for the file named by
// argv[1], created once the VM exists. Built static by `testhost prepare`:
// the initramfs has no C library.
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) {
    perror("kvm_hold: /dev/kvm");
    return 1;
  }
  if (ioctl(kvm, KVM_CREATE_VM, 0) < 0) {
    perror("kvm_hold: KVM_CREATE_VM");
    return 1;
  }
  if (argc > 1) {
    int ready = open(argv[1], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (ready < 0) {
      perror("kvm_hold: ready file");
      return 1;
    }
    close(ready);
  }
  for (;;) pause();
}
