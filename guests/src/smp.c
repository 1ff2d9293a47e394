/* smp: the BSP starts every AP with INIT-SIPI-SIPI (broadcast to all but
 * itself); each AP prints its APIC ID, checks CPUID leaf 1 reports the same
 * ID, and checks in; the BSP checks that APIC IDs 0..N-1 all checked in, and
 * no more. */
#include "guest.h"

#define TRAMPOLINE 0x8000u /* SIPI vector 0x08 */
#define AP_MAX 32
extern char trampoline_start[], trampoline_end[];
extern void (*ap_main_fn)(void);

static volatile uint32_t checked_in, cpuid_mismatches;
static volatile uint32_t seen[8]; /* APIC IDs 0..255 */

static void ap_main(void) {
    uint32_t id = lapic_id(), r[4];
    /* Each vCPU's CPUID must report its own APIC ID (a per-vCPU CPUID table). */
    cpuid(1, 0, r);
    if (r[1] >> 24 != id) {
        printf("FAIL: smp: CPU with LAPIC ID %u reports initial APIC ID %u in CPUID leaf 1\n", id, r[1] >> 24);
        __atomic_fetch_add(&cpuid_mismatches, 1, __ATOMIC_SEQ_CST);
    }
    __atomic_fetch_or(&seen[(id / 32) & 7], 1u << (id % 32), __ATOMIC_SEQ_CST);
    printf("smp: AP with APIC ID %u is up\n", id);
    __atomic_fetch_add(&checked_in, 1, __ATOMIC_SEQ_CST);
}

static bool wait_for(uint32_t n, uint64_t cycles) {
    uint64_t start = rdtsc();
    while (checked_in < n && rdtsc() - start < cycles) pause();
    return checked_in >= n;
}

void guest_main(void) {
    const char *source;
    int n = discover_cpu_count(&source);
    uint32_t bsp = lapic_id();
    printf("smp: %d CPUs expected (from %s), BSP APIC ID %u\n", n, source, bsp);
    if (n < 1 || n > AP_MAX) {
        check(false, "smp: CPU count %d unknown or above %d (pass cpus=N)", n, AP_MAX);
        finish("smp");
    }
    check(bsp == 0, "smp: BSP APIC ID is %u, expected 0", bsp);
    seen[(bsp / 32) & 7] |= 1u << (bsp % 32);
    if (n > 1) {
        memcpy((void *)TRAMPOLINE, trampoline_start, (size_t)(trampoline_end - trampoline_start));
        ap_main_fn = ap_main;
        lapic_enable();
        /* All excluding self (shorthand 11): INIT, then SIPI (twice if needed). */
        lapic_send_ipi(0, 0x000c4500);
        tsc_delay(10000000); /* ~10 ms at 1 GHz: the INIT-to-SIPI wait real CPUs want */
        lapic_send_ipi(0, 0x000c4600 | (TRAMPOLINE >> 12));
        if (!wait_for((uint32_t)n - 1, 2000000)) lapic_send_ipi(0, 0x000c4600 | (TRAMPOLINE >> 12));
        /* ~5 s at 2 GHz; ends as soon as every AP is in. */
        wait_for((uint32_t)n - 1, 10000000000ull);
        /* Give any extra (unexpected) CPU a moment to show itself. */
        tsc_delay(20000000);
    }
    check(cpuid_mismatches == 0, "smp: %u AP(s) with a CPUID APIC ID different from the LAPIC's", cpuid_mismatches);
    check(checked_in == (uint32_t)n - 1, "smp: %u APs checked in, expected %d", checked_in, n - 1);
    for (int id = 0; id < 256; id++) {
        bool in = (seen[id / 32] >> (id % 32)) & 1;
        if (id < n) check(in, "smp: APIC ID %d never checked in", id);
        else check(!in, "smp: unexpected APIC ID %d checked in", id);
    }
    if (!failures()) printf("smp: all %d CPUs (APIC IDs 0..%d) checked in\n", n, n - 1);
    finish("smp");
}
