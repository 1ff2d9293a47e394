/* acpi: RSDP in the BIOS area (or PVH's pointer), RSDT/XSDT walk, every
 * table's checksum, MADT (CPU count), FADT (PM timer ticking), DSDT. */
#include "guest.h"

void guest_main(void) {
    static struct acpi_info ai;
    if (!acpi_scan(&ai, true)) {
        check(false, "acpi: no valid RSDP (PVH pointer 0x%llx, BIOS area 0xE0000-0xFFFFF)", boot.rsdp);
        finish("acpi");
    }
    check(ai.bad_checksums == 0, "acpi: %d table(s) with a bad checksum", ai.bad_checksums);
    check(ai.madt != 0, "acpi: no MADT (APIC)");
    check(ai.fadt != 0, "acpi: no FADT (FACP)");
    check(ai.dsdt != 0, "acpi: no DSDT");
    printf("acpi: %d tables, MADT: %d CPUs, %d IOAPIC(s) at 0x%x, LAPIC at 0x%x; IRQ0 -> GSI %d\n", ai.table_count,
           ai.cpu_count, ai.ioapic_count, ai.ioapic_addr, ai.lapic_addr, ai.irq0_gsi);
    uint64_t want;
    if (cmdline_u64("cpus", &want)) check(ai.cpu_count == (int)want, "acpi: MADT lists %d CPUs, expected %llu", ai.cpu_count, want);
    check(ai.ioapic_count >= 1, "acpi: MADT lists no IOAPIC");
    if (ai.fadt && ai.hw_reduced) {
        printf("acpi: hardware-reduced ACPI (FADT flag): no PM timer to check\n");
    } else if (ai.fadt) {
        printf("acpi: PM timer at port 0x%x (length %u, %s bit)\n", ai.pm_tmr_blk, ai.pm_tmr_len, ai.pm_tmr_32bit ? "32" : "24");
        check(ai.pm_tmr_blk != 0 && ai.pm_tmr_len == 4, "acpi: FADT has no PM timer block");
        if (ai.pm_tmr_blk && ai.pm_tmr_blk < 0x10000) {
            uint32_t mask = ai.pm_tmr_32bit ? 0xffffffffu : 0xffffffu;
            uint32_t t0 = inl((uint16_t)ai.pm_tmr_blk) & mask;
            tsc_delay(2000000);
            uint32_t t1 = inl((uint16_t)ai.pm_tmr_blk) & mask;
            printf("acpi: PM timer %u -> %u\n", t0, t1);
            check(t0 != t1, "acpi: PM timer does not advance");
        }
    }
    finish("acpi");
}
