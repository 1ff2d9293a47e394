/* Local APIC and IO APIC access (xAPIC MMIO, paging off so physical = linear). */
#include "guest.h"

uint32_t lapic_base(void) { return (uint32_t)rdmsr(0x1b) & 0xfffff000u; }
uint32_t lapic_read(uint32_t reg) { return mmio_read32(LAPIC_DEFAULT_BASE + reg); }
void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(LAPIC_DEFAULT_BASE + reg, v); }
uint32_t lapic_id(void) { return lapic_read(0x20) >> 24; }
void lapic_enable(void) { lapic_write(0xf0, 0x1ff); }
void lapic_eoi(void) { lapic_write(0xb0, 0); }
void lapic_send_ipi(uint32_t dest_apic, uint32_t icr_low) {
    lapic_write(0x310, dest_apic << 24);
    lapic_write(0x300, icr_low);
    for (int i = 0; i < 100000 && (lapic_read(0x300) & (1u << 12)); i++) pause();
}
uint32_t ioapic_read(uint32_t base, uint32_t reg) {
    mmio_write32(base, reg);
    return mmio_read32(base + 0x10);
}
void ioapic_write(uint32_t base, uint32_t reg, uint32_t v) {
    mmio_write32(base, reg);
    mmio_write32(base + 0x10, v);
}
void ioapic_route(uint32_t base, uint32_t gsi, uint8_t vector, uint8_t dest, bool level, bool active_low) {
    uint32_t low = vector | (active_low ? 1u << 13 : 0) | (level ? 1u << 15 : 0);
    ioapic_write(base, 0x10 + 2 * gsi + 1, (uint32_t)dest << 24);
    ioapic_write(base, 0x10 + 2 * gsi, low);
}
