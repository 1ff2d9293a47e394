/* QEMU fw_cfg, legacy I/O port interface: write a 16-bit key to 0x510, read
 * the item's bytes one at a time from 0x511. */
#include "guest.h"

void fwcfg_read(uint16_t key, void *buf, size_t n) {
    outw(0x510, key);
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) p[i] = inb(0x511);
}
bool fwcfg_present(void) {
    char sig[4];
    fwcfg_read(FW_CFG_SIGNATURE, sig, sizeof sig);
    return !memcmp(sig, "QEMU", 4);
}
