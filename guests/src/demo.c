/* demo: the friendly banner guest `insula run` shows where Linux cannot
 * boot - a few facts discovered from inside the VM, then a clean exit. */
#include "guest.h"

void guest_main(void) {
    uint32_t r[4];
    char vendor[13], hv[13];
    cpuid(0, 0, r);
    memcpy(vendor, &r[1], 4), memcpy(vendor + 4, &r[3], 4), memcpy(vendor + 8, &r[2], 4);
    vendor[12] = 0;
    cpuid(0x40000000, 0, r);
    memcpy(hv, &r[1], 4), memcpy(hv + 4, &r[2], 4), memcpy(hv + 8, &r[3], 4);
    hv[12] = 0;
    for (int i = 0; i < 12; i++)
        if (hv[i] && (hv[i] < 0x20 || hv[i] > 0x7e)) hv[i] = '?';
    uint64_t usable = 0;
    for (int i = 0; i < boot.map_count; i++)
        if (boot.map[i].type == MEM_USABLE) usable += boot.map[i].len;
    const char *source;
    static struct acpi_info ai;
    int cpus = 0;
    if (acpi_scan(&ai, false) && ai.cpu_count) cpus = ai.cpu_count, source = "ACPI MADT";
    else cpus = discover_cpu_count(&source);

    printf("\n");
    printf("  +------------------------------------------------+\n");
    printf("  |   insula: this is a tiny guest inside your VM   |\n");
    printf("  +------------------------------------------------+\n");
    printf("  booted via      : %s\n", boot.format);
    printf("  command line    : \"%s\"\n", boot.cmdline);
    printf("  CPU vendor      : %s\n", vendor);
    printf("  hypervisor      : %s\n", hv[0] ? hv : "(none)");
    if (cpus) printf("  CPUs            : %d (from %s)\n", cpus, source);
    else printf("  CPUs            : unknown\n");
    printf("  usable memory   : %llu MiB in %d map ranges\n", usable >> 20, boot.map_count);
    if (boot.has_initrd) printf("  initrd          : %llu bytes at 0x%llx\n", boot.initrd_size, boot.initrd_base);
    printf("  Linux guests need hardware virtualization; this host's /dev/kvm\n");
    printf("  may be PVM, where only small guests like this one are practical.\n");
    printf("\n");
    finish("demo");
}
