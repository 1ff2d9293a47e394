/* The physical limit: the smallest VMM that can run the benchmark guests.
   Loads a 32-bit PVH ELF's PT_LOAD segments, enters at its PVH entry in flat
   protected mode, handles only port I/O (COM1 output, debug-exit), no
   devices, no irqchip, no checks beyond the minimum. Not for real use. */
#include <elf.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) { fprintf(stderr, "usage: bare_kvm GUEST.elf\n"); return 2; }
  int f = open(argv[1], O_RDONLY); struct stat st; fstat(f, &st);
  unsigned char* img = mmap(0, st.st_size, PROT_READ, MAP_PRIVATE, f, 0);
  Elf32_Ehdr* eh = (Elf32_Ehdr*)img;
  size_t mem_size = 64 << 20;
  unsigned char* mem = mmap(0, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  uint32_t entry = 0;
  for (int i = 0; i < eh->e_phnum; i++) {
    Elf32_Phdr* ph = (Elf32_Phdr*)(img + eh->e_phoff + i * sizeof(Elf32_Phdr));
    if (ph->p_type == PT_LOAD) memcpy(mem + ph->p_paddr, img + ph->p_offset, ph->p_filesz);
    if (ph->p_type == PT_NOTE) memcpy(&entry, img + ph->p_offset + 16, 4); /* our guests' only note */
  }
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000);
  struct kvm_userspace_memory_region r = {0, 0, 0, mem_size, (unsigned long)mem};
  ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r);
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  struct kvm_run* run = mmap(0, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  struct kvm_sregs s; ioctl(vcpu, KVM_GET_SREGS, &s);
  struct kvm_segment seg = {.base = 0, .limit = 0xffffffff, .selector = 8, .type = 11, .present = 1, .db = 1, .s = 1, .g = 1};
  s.cs = seg; seg.type = 3; seg.selector = 16; s.ds = s.es = s.fs = s.gs = s.ss = seg;
  s.cr0 = 0x11;
  ioctl(vcpu, KVM_SET_SREGS, &s);
  struct kvm_regs regs = {.rip = entry, .rflags = 2};
  ioctl(vcpu, KVM_SET_REGS, &regs);
  for (;;) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) { perror("KVM_RUN"); return 1; }
    if (run->exit_reason != KVM_EXIT_IO) { fprintf(stderr, "exit %d\n", run->exit_reason); return 1; }
    unsigned char* d = (unsigned char*)run + run->io.data_offset;
    if (run->io.port == 0x3f8 && run->io.direction == KVM_EXIT_IO_OUT) { if (write(1, d, 1) < 0) return 1; }
    else if (run->io.port == 0xf4) return (d[0] << 1) | 1;
  }
}
