/* fwcfg: QEMU's fw_cfg I/O interface - signature, CPU count and RAM size
 * match cpus=N and mem=SIZE from the command line. */
#include "guest.h"

void guest_main(void) {
    if (!fwcfg_present()) {
        check(false, "fwcfg: no \"QEMU\" signature at selector 0x510 / data 0x511");
        finish("fwcfg");
    }
    uint32_t id = 0;
    uint16_t cpus = 0;
    uint64_t ram = 0, want;
    fwcfg_read(FW_CFG_ID, &id, sizeof id);
    fwcfg_read(FW_CFG_NB_CPUS, &cpus, sizeof cpus);
    fwcfg_read(FW_CFG_RAM_SIZE, &ram, sizeof ram);
    printf("fwcfg: signature QEMU, id 0x%x, %u CPUs, RAM %llu MiB\n", id, cpus, ram >> 20);
    check(id & 1, "fwcfg: id 0x%x lacks the traditional interface bit", id);
    if (cmdline_u64("cpus", &want)) check(cpus == want, "fwcfg: %u CPUs, expected %llu", cpus, want);
    if (cmdline_u64("mem", &want)) check(ram == want, "fwcfg: RAM size %llu, expected %llu", ram, want);
    finish("fwcfg");
}
