/* counter: prints an increasing counter forever, one line every ~100 ms
 * (LAPIC timer + hlt, so it idles between lines); used by snapshot/restore
 * tests. limit=N on the command line makes it stop with PASS after N lines;
 * fill_mib=N first writes one dword into every page of N MiB from 16 MiB, so
 * snapshot benchmarks have guest RAM to save that is not all zero. */
#include "guest.h"

static volatile uint32_t ticks;
static void on_tick(struct irq_frame *f) { (void)f; ticks++; lapic_eoi(); }

void guest_main(void) {
    uint64_t limit = 0, period_ms = 100;
    cmdline_u64("limit", &limit);
    cmdline_u64("period_ms", &period_ms);
    uint64_t fill_mib = 0;
    cmdline_u64("fill_mib", &fill_mib);
    for (uint32_t a = 16u << 20; a < (16u << 20) + (uint32_t)fill_mib * (1u << 20); a += 4096)
        *(volatile uint32_t *)a = a | 1;
    idt_init();
    idt_set_handler(0x30, on_tick);
    pic_mask_all();
    lapic_enable();
    /* Divide by 1: KVM's APIC bus runs at 1 GHz, so 1 ms = 1000000 counts. */
    lapic_write(0x3e0, 0xb);
    lapic_write(0x320, 0x30 | (1u << 17));
    lapic_write(0x380, (uint32_t)(period_ms * 1000000));
    for (uint64_t n = 1;; n++) {
        printf("counter: %llu\n", n);
        if (limit && n >= limit) {
            lapic_write(0x320, 1u << 16);
            finish("counter");
        }
        uint32_t t = ticks;
        while (ticks == t) sti_hlt();
        cli();
    }
}
