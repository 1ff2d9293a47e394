/* diskcount: a counter kept both in guest memory and in sector 0 of a
 * virtio-blk disk, for the disk part of snapshots. Every tick (~period_ms,
 * LAPIC timer) it reads sector 0, checks that the count stored there is the
 * one it holds in memory, stores count+1, flushes and prints
 * "diskcount: N". A disk that disagrees with memory (a snapshot restored
 * without its disk part, after the guest had written on) prints
 * "diskcount: MISMATCH disk D memory M" and goes on from the disk's count.
 * A disk without the "insula-diskcount" mark starts at 0. With flush=0 on
 * the command line it never flushes (a guest that leaves its writes to the
 * VMM: what a pause must still make whole on the host). */
#include "guest.h"
#include "pci.h"

static const char kMark[] = "insula-diskcount";
static uint8_t sector[512] __attribute__((aligned(512)));
static volatile uint32_t ticks;
static void on_tick(struct irq_frame *f) { (void)f; ticks++; lapic_eoi(); }

static uint64_t stored(void) {
    if (memcmp(sector, kMark, sizeof kMark) != 0) return 0;
    uint64_t n;
    memcpy(&n, sector + 32, sizeof n);
    return n;
}

void guest_main(void) {
    uint64_t period_ms = 100;
    uint64_t flush = 1;
    cmdline_u64("period_ms", &period_ms);
    cmdline_u64("flush", &flush);
    struct virtio_dev v;
    int d = pci_find(VIRTIO_VENDOR, VIRTIO_ID_BLK);
    if (d <= 0 || !virtio_init(&v, d, VIRTIO_BAR_BASE + VIRTIO_BAR_STEP)) {
        check(false, "diskcount: a virtio-blk disk is attached and initialised");
        finish("diskcount");
    }
    if (virtio_blk_io(&v, 0, 0, sector) != 0) {
        check(false, "diskcount: sector 0 can be read");
        finish("diskcount");
    }
    uint64_t n = stored();
    idt_init();
    idt_set_handler(0x30, on_tick);
    pic_mask_all();
    lapic_enable();
    lapic_write(0x3e0, 0xb); /* divide by 1: 1 ms = 1000000 counts */
    lapic_write(0x320, 0x30 | (1u << 17));
    lapic_write(0x380, (uint32_t)(period_ms * 1000000));
    for (;;) {
        int st = virtio_blk_io(&v, 0, 0, sector);
        uint64_t on_disk = stored();
        if (st != 0) {
            printf("diskcount: read failed (status %d)\n", st);
        } else {
            if (on_disk != n) {
                printf("diskcount: MISMATCH disk %llu memory %llu\n", (unsigned long long)on_disk,
                       (unsigned long long)n);
                n = on_disk;
            }
            n++;
            memset(sector, 0, sizeof sector);
            memcpy(sector, kMark, sizeof kMark);
            memcpy(sector + 32, &n, sizeof n);
            st = virtio_blk_io(&v, 1, 0, sector);
            if (st == 0 && flush) st = virtio_blk_io(&v, 4, 0, NULL);
            if (st == 0) printf("diskcount: %llu\n", (unsigned long long)n);
            else printf("diskcount: write failed (status %d)\n", st);
        }
        uint32_t t = ticks;
        while (ticks == t) sti_hlt();
        cli();
    }
}
