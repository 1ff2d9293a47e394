/* timer: the LAPIC timer (periodic) and the PIT (IRQ0, routed through the
 * IOAPIC per the MADT interrupt source override) both deliver interrupts. */
#include "guest.h"

#define VEC_LAPIC 0x30
#define VEC_PIT 0x31
#define TICKS 5
static volatile uint32_t lapic_ticks, pit_ticks;

static void on_lapic(struct irq_frame *f) { (void)f; lapic_ticks++; lapic_eoi(); }
static void on_pit(struct irq_frame *f) { (void)f; pit_ticks++; lapic_eoi(); }

/* Polls (interrupts on) until *count reaches TICKS or ~5 s of TSC pass. */
static bool wait_ticks(volatile uint32_t *count) {
    uint64_t start = rdtsc();
    sti();
    while (*count < TICKS && rdtsc() - start < 10000000000ull) pause();
    cli();
    return *count >= TICKS;
}

void guest_main(void) {
    idt_init();
    idt_set_handler(VEC_LAPIC, on_lapic);
    idt_set_handler(VEC_PIT, on_pit);
    pic_mask_all();
    lapic_enable();

    /* LAPIC timer: divide by 16, periodic, 100000 counts (1.6 ms on KVM's 1 GHz bus). */
    lapic_write(0x3e0, 0x3);
    lapic_write(0x320, VEC_LAPIC | (1u << 17));
    lapic_write(0x380, 100000);
    bool ok = wait_ticks(&lapic_ticks);
    lapic_write(0x320, 1u << 16);
    lapic_write(0x380, 0);
    check(ok, "timer: %u LAPIC timer interrupts, expected %d", lapic_ticks, TICKS);
    if (ok) printf("timer: LAPIC timer delivered %u interrupts\n", lapic_ticks);

    static struct acpi_info ai;
    uint32_t ioapic = IOAPIC_DEFAULT_BASE;
    int gsi = 0;
    uint16_t flags = 0;
    if (acpi_scan(&ai, false) && ai.madt) {
        if (ai.ioapic_count) ioapic = ai.ioapic_addr;
        gsi = ai.irq0_gsi - (int)ai.ioapic_gsi_base;
        flags = ai.irq0_flags;
    } else {
        printf("timer: no ACPI MADT; assuming IOAPIC at 0x%x and IRQ0 = GSI 0\n", ioapic);
    }
    uint64_t forced;
    if (cmdline_u64("irq0_gsi", &forced)) {
        printf("timer: IRQ0's GSI forced to %u by the command line\n", (uint32_t)forced);
        gsi = (int)forced;
    }
    uint32_t entries = ((ioapic_read(ioapic, 1) >> 16) & 0xff) + 1;
    printf("timer: IRQ0 -> GSI %d (flags 0x%x), IOAPIC at 0x%x with %u pins\n", gsi, flags, ioapic, entries);
    check(gsi >= 0 && (uint32_t)gsi < entries, "timer: IRQ0's GSI %d is not on the IOAPIC (%u pins)", gsi, entries);
    if (gsi >= 0 && (uint32_t)gsi < entries) {
        /* MPS INTI flags: polarity bits 0-1 (3 = active low), trigger bits 2-3 (3 = level). */
        ioapic_route(ioapic, (uint32_t)gsi, VEC_PIT, (uint8_t)lapic_id(), ((flags >> 2) & 3) == 3, (flags & 3) == 3);
        outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 (rate generator) */
        outb(0x40, 1193 & 0xff); /* ~1 kHz */
        outb(0x40, 1193 >> 8);
        ok = wait_ticks(&pit_ticks);
        ioapic_write(ioapic, 0x10 + 2 * (uint32_t)gsi, 1u << 16);
        check(ok, "timer: %u PIT interrupts through the IOAPIC, expected %d", pit_ticks, TICKS);
        if (ok) printf("timer: PIT delivered %u interrupts through IOAPIC pin %d\n", pit_ticks, gsi);
    }
    finish("timer");
}
