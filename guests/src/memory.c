/* memory: the boot memory map matches the RAM size (mem=SIZE on the command
 * line, else fw_cfg's RAM size), and every page above the kernel is written
 * and read back (one dword per page, to stay short in instructions). */
#include "guest.h"

#define MiB (1024ull * 1024)

void guest_main(void) {
    uint64_t expected = 0;
    const char *source = "cmdline mem=";
    if (!cmdline_u64("mem", &expected) && fwcfg_present()) {
        fwcfg_read(FW_CFG_RAM_SIZE, &expected, sizeof expected);
        source = "fw_cfg";
    }
    check(expected != 0, "memory: no expected RAM size (pass mem=SIZE)");
    uint64_t usable = 0;
    printf("memory: %s map, %d ranges; expected RAM %llu MiB (from %s)\n", boot.format, boot.map_count,
           expected / MiB, source);
    for (int i = 0; i < boot.map_count; i++) {
        const struct mem_range *r = &boot.map[i];
        printf("memory:   [0x%llx-0x%llx) type %u\n", r->base, r->base + r->len, r->type);
        if (r->type == MEM_USABLE) usable += r->len;
    }
    check(boot.map_count > 0, "memory: the boot information has no memory map");
    /* Usable RAM is what was asked for minus firmware holes (the 640K-1M hole,
     * ACPI tables, a few reserved pages): within 4 MiB below, never above. */
    check(usable <= expected && usable + 4 * MiB >= expected,
          "memory: usable RAM in the map is %llu KiB, expected about %llu KiB", usable / 1024, expected / 1024);
    if (boot.has_meminfo) {
        uint64_t upper = (uint64_t)boot.mem_upper_kb * 1024 + MiB;
        printf("memory: multiboot mem_lower %u KiB, mem_upper %u KiB\n", boot.mem_lower_kb, boot.mem_upper_kb);
        check(boot.mem_lower_kb >= 512 && boot.mem_lower_kb <= 640, "memory: mem_lower %u KiB is not 512..640",
              boot.mem_lower_kb);
        if (expected < 3072 * MiB)
            check(upper <= expected && upper + 4 * MiB >= expected,
                  "memory: mem_upper ends RAM at %llu KiB, expected about %llu KiB", upper / 1024, expected / 1024);
    }
    uint64_t ram_size;
    if (fwcfg_present()) {
        fwcfg_read(FW_CFG_RAM_SIZE, &ram_size, sizeof ram_size);
        check(ram_size == expected, "memory: fw_cfg RAM size %llu differs from expected %llu", ram_size, expected);
    }

    /* Every usable page above the kernel, below 4 GiB (no paging here), and
     * outside the initrd: write its address, then read all back. */
    uint32_t low = ((uint32_t)(uintptr_t)__kernel_end + 4095) & ~4095u;
    uint32_t pages = 0, bad = 0, first_bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < boot.map_count; i++) {
            const struct mem_range *r = &boot.map[i];
            if (r->type != MEM_USABLE) continue;
            uint64_t b = r->base < low ? low : (r->base + 4095) & ~4095ull;
            uint64_t e = r->base + r->len;
            if (e > 0x100000000ull) e = 0x100000000ull;
            for (uint64_t a = b; a + 4096 <= e; a += 4096) {
                if (boot.has_initrd && a + 4096 > boot.initrd_base && a < boot.initrd_base + boot.initrd_size)
                    continue;
                volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)a;
                uint32_t pattern = (uint32_t)a ^ 0x5a5aa5a5u;
                if (pass == 0) {
                    *p = pattern;
                    pages++;
                } else if (*p != pattern) {
                    if (!bad++) first_bad = (uint32_t)a;
                }
            }
        }
    }
    printf("memory: wrote and read back %u pages (%u MiB) above 0x%x\n", pages, pages / 256, low);
    check(bad == 0, "memory: %u pages read back wrong, first at 0x%x", bad, first_bad);
    check(pages > 0, "memory: no usable page above the kernel");
    finish("memory");
}
