/* ACPI walker: RSDP (PVH pointer or the BIOS area scan), RSDT/XSDT, checksum
 * of every table, and the facts the guests need from MADT and FADT. */
#include "guest.h"

uint8_t acpi_sum(const void *p, size_t n) {
    const uint8_t *b = p;
    uint8_t s = 0;
    while (n--) s = (uint8_t)(s + *b++);
    return s;
}

static bool rsdp_valid(uint32_t a) {
    const uint8_t *p = (const uint8_t *)(uintptr_t)a;
    if (memcmp(p, "RSD PTR ", 8) || acpi_sum(p, 20)) return false;
    if (p[15] >= 2) {
        uint32_t len = *(const uint32_t *)(p + 20);
        if (len < 36 || len > 4096 || acpi_sum(p, len)) return false;
    }
    return true;
}

static void parse_madt(struct acpi_info *ai, const struct acpi_header *h) {
    const uint8_t *p = (const uint8_t *)h;
    ai->lapic_addr = *(const uint32_t *)(p + 36);
    for (uint32_t off = 44; off + 2 <= h->length;) {
        uint8_t type = p[off], len = p[off + 1];
        if (len < 2 || off + len > h->length) break;
        const uint8_t *e = p + off;
        if (type == 0 && len >= 8 && (*(const uint32_t *)(e + 4) & 1)) { /* processor local APIC */
            if (ai->cpu_count < 64) ai->cpu_apic_ids[ai->cpu_count] = e[3];
            ai->cpu_count++;
        } else if (type == 9 && len >= 16 && (*(const uint32_t *)(e + 8) & 1)) { /* local x2APIC */
            if (ai->cpu_count < 64) ai->cpu_apic_ids[ai->cpu_count] = *(const uint32_t *)(e + 4);
            ai->cpu_count++;
        } else if (type == 1 && len >= 12) { /* IO APIC */
            if (!ai->ioapic_count++) {
                ai->ioapic_addr = *(const uint32_t *)(e + 4);
                ai->ioapic_gsi_base = *(const uint32_t *)(e + 8);
            }
        } else if (type == 2 && len >= 10 && e[2] == 0 && e[3] == 0) { /* ISA IRQ0 override */
            ai->irq0_gsi = (int)*(const uint32_t *)(e + 4);
            ai->irq0_flags = *(const uint16_t *)(e + 8);
        }
        off += len;
    }
}

static void parse_fadt(struct acpi_info *ai, const struct acpi_header *h, bool verbose) {
    const uint8_t *p = (const uint8_t *)h;
    if (h->length >= 44) ai->dsdt = *(const uint32_t *)(p + 40);
    if (h->length >= 148 && *(const uint64_t *)(p + 140) && *(const uint64_t *)(p + 140) < 0x100000000ull)
        ai->dsdt = (uint32_t)*(const uint64_t *)(p + 140);
    if (h->length >= 80) ai->pm_tmr_blk = *(const uint32_t *)(p + 76);
    if (h->length >= 92) ai->pm_tmr_len = p[91];
    if (h->length >= 116) {
        uint32_t flags = *(const uint32_t *)(p + 112);
        ai->pm_tmr_32bit = (flags >> 8) & 1;  /* TMR_VAL_EXT */
        ai->hw_reduced = (flags >> 20) & 1;   /* HW_REDUCED_ACPI: no PM timer */
    }
    if (ai->dsdt) {
        const struct acpi_header *d = (const void *)(uintptr_t)ai->dsdt;
        bool ok = !memcmp(d->sig, "DSDT", 4) && d->length >= 36 && !acpi_sum(d, d->length);
        if (!ok) ai->bad_checksums++;
        ai->table_count++;
        if (verbose) printf("acpi: table DSDT at 0x%x length %u checksum %s\n", ai->dsdt, d->length, ok ? "ok" : "BAD");
    }
}

bool acpi_scan(struct acpi_info *ai, bool verbose) {
    memset(ai, 0, sizeof *ai);
    ai->irq0_gsi = 0;
    if (boot.rsdp && boot.rsdp < 0x100000000ull && rsdp_valid((uint32_t)boot.rsdp)) ai->rsdp = (uint32_t)boot.rsdp;
    for (uint32_t a = 0xe0000; !ai->rsdp && a < 0x100000; a += 16)
        if (rsdp_valid(a)) ai->rsdp = a;
    if (!ai->rsdp) return false;
    const uint8_t *r = (const uint8_t *)(uintptr_t)ai->rsdp;
    ai->rsdp_revision = r[15];
    uint64_t xsdt = ai->rsdp_revision >= 2 ? *(const uint64_t *)(r + 24) : 0;
    ai->xsdt = xsdt && xsdt < 0x100000000ull;
    ai->root = ai->xsdt ? (uint32_t)xsdt : *(const uint32_t *)(r + 16);
    const struct acpi_header *root = (const void *)(uintptr_t)ai->root;
    bool root_ok = !memcmp(root->sig, ai->xsdt ? "XSDT" : "RSDT", 4) && root->length >= 36 && root->length < 65536 &&
                   !acpi_sum(root, root->length);
    if (verbose)
        printf("acpi: RSDP at 0x%x revision %u, %s at 0x%x checksum %s\n", ai->rsdp, ai->rsdp_revision,
               ai->xsdt ? "XSDT" : "RSDT", ai->root, root_ok ? "ok" : "BAD");
    if (!root_ok) {
        ai->bad_checksums++;
        return true;
    }
    unsigned esz = ai->xsdt ? 8 : 4;
    for (uint32_t off = 36; off + esz <= root->length; off += esz) {
        const uint8_t *ep = (const uint8_t *)root + off;
        uint64_t addr = esz == 8 ? *(const uint64_t *)ep : *(const uint32_t *)ep;
        if (!addr || addr >= 0x100000000ull) continue;
        const struct acpi_header *h = (const void *)(uintptr_t)addr;
        bool ok = h->length >= 36 && h->length < (1u << 20) && !acpi_sum(h, h->length);
        ai->table_count++;
        if (!ok) ai->bad_checksums++;
        if (verbose)
            printf("acpi: table %c%c%c%c at 0x%x length %u checksum %s\n", h->sig[0], h->sig[1], h->sig[2], h->sig[3],
                   (uint32_t)addr, h->length, ok ? "ok" : "BAD");
        if (!ok) continue;
        if (!memcmp(h->sig, "APIC", 4)) ai->madt = (uint32_t)addr, parse_madt(ai, h);
        if (!memcmp(h->sig, "FACP", 4)) ai->fadt = (uint32_t)addr, parse_fadt(ai, h, verbose);
    }
    return true;
}
