/* portio: count=N (default 200000) byte writes to port=P (default 0x80), then
 * exit - the guest for measuring a VMM's PIO exit path (bench/). One `out`
 * per exit: no string I/O, which KVM could batch into fewer exits. */
#include "guest.h"

void guest_main(void) {
    uint64_t count = 200000, port = 0x80;
    cmdline_u64("count", &count);
    cmdline_u64("port", &port);
    check(port <= 0xffff && port != DEBUG_EXIT_PORT, "portio: bad port 0x%llx", port);
    if (failures()) finish("portio");
    printf("portio: %llu writes to port 0x%x\n", count, (uint32_t)port);
    uint64_t t0 = rdtsc();
    uint32_t n = (uint32_t)count;
    if (n) __asm__ volatile("1: outb %%al, %%dx\n\tdec %%ecx\n\tjnz 1b" : "+c"(n) : "a"(0), "d"((uint16_t)port) : "cc");
    uint64_t cycles = rdtsc() - t0;
    printf("portio: done, %llu TSC cycles (%llu per write)\n", cycles, count ? cycles / count : 0);
    finish("portio");
}
