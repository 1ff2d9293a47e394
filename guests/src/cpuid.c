/* cpuid: vendor, the hypervisor bit and KVM signature leaf, kvmclock
 * feature bits, and APIC IDs consistent between CPUID and the LAPIC. */
#include "guest.h"

void guest_main(void) {
    uint32_t r[4];
    char vendor[13];
    cpuid(0, 0, r);
    uint32_t max_leaf = r[0];
    memcpy(vendor, &r[1], 4), memcpy(vendor + 4, &r[3], 4), memcpy(vendor + 8, &r[2], 4);
    vendor[12] = 0;
    printf("cpuid: vendor \"%s\", max basic leaf 0x%x\n", vendor, max_leaf);
    bool printable = true;
    for (int i = 0; i < 12; i++) printable &= vendor[i] >= 0x20 && vendor[i] < 0x7f;
    check(printable, "cpuid: vendor string is not printable");
    check(max_leaf >= 1, "cpuid: max basic leaf is 0");

    cpuid(1, 0, r);
    uint32_t initial_apic = r[1] >> 24, lapic = lapic_id();
    printf("cpuid: family/model/stepping 0x%x, initial APIC ID %u, LAPIC ID %u\n", r[0], initial_apic, lapic);
    check(r[2] & (1u << 31), "cpuid: leaf 1 ECX bit 31 (hypervisor present) is clear");
    check(r[3] & (1u << 9), "cpuid: leaf 1 EDX bit 9 (APIC) is clear");
    check(initial_apic == lapic, "cpuid: initial APIC ID %u differs from the LAPIC ID %u", initial_apic, lapic);
    if (max_leaf >= 0xb) {
        cpuid(0xb, 0, r);
        if (r[1]) { /* leaf 0xB implemented */
            printf("cpuid: leaf 0xB x2APIC ID %u, SMT level %u logical CPUs\n", r[3], r[1] & 0xffff);
            check(r[3] == lapic, "cpuid: leaf 0xB x2APIC ID %u differs from the LAPIC ID %u", r[3], lapic);
        }
    }

    cpuid(0x40000000, 0, r);
    char hv[13];
    memcpy(hv, &r[1], 4), memcpy(hv + 4, &r[2], 4), memcpy(hv + 8, &r[3], 4);
    hv[12] = 0;
    printf("cpuid: hypervisor leaf max 0x%x, signature \"%s\"\n", r[0], hv);
    check(!memcmp(hv, "KVMKVMKVM\0\0\0", 12), "cpuid: hypervisor signature is \"%s\", expected \"KVMKVMKVM\"", hv);
    if (r[0] >= 0x40000001 || r[0] == 0) {
        cpuid(0x40000001, 0, r);
        printf("cpuid: KVM features 0x%x (clocksource %u, clocksource2 %u)\n", r[0], r[0] & 1, (r[0] >> 3) & 1);
        check(r[0] & ((1u << 0) | (1u << 3)), "cpuid: no kvmclock feature bit (KVM_FEATURE_CLOCKSOURCE/2) set");
    }

    cpuid(0x80000000, 0, r);
    printf("cpuid: max extended leaf 0x%x\n", r[0]);
    check(r[0] >= 0x80000001 && r[0] < 0x80000100, "cpuid: max extended leaf 0x%x is implausible", r[0]);
    finish("cpuid");
}
