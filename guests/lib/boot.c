/* Boot-information parsing: multiboot v1 info or PVH hvm_start_info, copied
 * into one struct boot_info before the guest may reuse low memory. */
#include "guest.h"

struct boot_info boot;

static void copy_cmdline(uint32_t addr, bool skip_first_word) {
    const char *s = (const char *)(uintptr_t)addr;
    if (!addr) return;
    if (skip_first_word) { /* multiboot: "kernel-name args" */
        while (*s && *s != ' ') s++;
        while (*s == ' ') s++;
    }
    size_t i;
    for (i = 0; s[i] && i + 1 < sizeof boot.cmdline; i++) boot.cmdline[i] = s[i];
    boot.cmdline[i] = 0;
}
/* Firmware (SeaBIOS) may leave its cursor mid-line: start on a fresh one. */
static void console_start(void) {
    serial_init();
    serial_puts("\n");
}
static void add_range(uint64_t base, uint64_t len, uint32_t type) {
    if (boot.map_count < MAX_MEM_RANGES) {
        struct mem_range *r = &boot.map[boot.map_count++];
        r->base = base, r->len = len, r->type = type;
    }
}

void boot_multiboot(uint32_t magic, uint32_t info) {
    console_start();
    boot.format = "multiboot";
    if (magic != 0x2badb002 || !info) {
        printf("FAIL: bad multiboot magic 0x%x (info %x)\n", magic, info);
        debug_exit(EXIT_BADBOOT);
    }
    const uint32_t *mbi = (const uint32_t *)(uintptr_t)info;
    uint32_t flags = mbi[0];
    if (flags & (1u << 0)) boot.has_meminfo = true, boot.mem_lower_kb = mbi[1], boot.mem_upper_kb = mbi[2];
    if (flags & (1u << 2)) copy_cmdline(mbi[4], true);
    if ((flags & (1u << 3)) && mbi[5] >= 1) {
        const uint32_t *mod = (const uint32_t *)(uintptr_t)mbi[6];
        boot.has_initrd = true, boot.initrd_base = mod[0], boot.initrd_size = mod[1] - mod[0];
    }
    if (flags & (1u << 6)) {
        uint32_t p = mbi[12], end = mbi[12] + mbi[11];
        while (p < end) {
            const uint8_t *e = (const uint8_t *)(uintptr_t)p;
            uint32_t size = *(const uint32_t *)e;
            add_range(*(const uint64_t *)(e + 4), *(const uint64_t *)(e + 12), *(const uint32_t *)(e + 20));
            p += size + 4;
        }
    }
    guest_main();
    printf("FAIL: guest_main returned\n");
    debug_exit(EXIT_FAIL);
}

struct hvm_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    uint32_t memmap_entries, reserved;
} __attribute__((packed));
struct hvm_memmap_entry {
    uint64_t addr, size;
    uint32_t type, reserved;
} __attribute__((packed));
struct hvm_modlist_entry {
    uint64_t paddr, size, cmdline_paddr, reserved;
} __attribute__((packed));

void boot_pvh(uint32_t info) {
    console_start();
    boot.format = "pvh";
    const struct hvm_start_info *si = (const struct hvm_start_info *)(uintptr_t)info;
    if (!info || si->magic != 0x336ec578) {
        printf("FAIL: bad PVH start info at 0x%x (magic 0x%x)\n", info, info ? si->magic : 0);
        debug_exit(EXIT_BADBOOT);
    }
    copy_cmdline((uint32_t)si->cmdline_paddr, false);
    if (si->nr_modules >= 1) {
        const struct hvm_modlist_entry *m = (const void *)(uintptr_t)si->modlist_paddr;
        boot.has_initrd = true, boot.initrd_base = m->paddr, boot.initrd_size = m->size;
    }
    boot.rsdp = si->rsdp_paddr;
    if (si->version >= 1) {
        const struct hvm_memmap_entry *e = (const void *)(uintptr_t)si->memmap_paddr;
        for (uint32_t i = 0; i < si->memmap_entries; i++) add_range(e[i].addr, e[i].size, e[i].type);
    }
    guest_main();
    printf("FAIL: guest_main returned\n");
    debug_exit(EXIT_FAIL);
}
