/* virtio: finds insula's virtio devices over PCI and drives them directly:
 * virtio-rng (random bytes arrive) and, when present, virtio-blk (reads
 * sector 0, which the test filled with a known text, writes sector 1 and reads
 * it back, flushes). Polled queues: no interrupts needed. */
#include "guest.h"
#include "pci.h"


static uint8_t rng_buf[64] __attribute__((aligned(16)));
static uint8_t sector[512] __attribute__((aligned(512)));

static int blk_io(struct virtio_dev *v, uint32_t type, uint64_t lba, bool with_data) {
    return virtio_blk_io(v, type, lba, with_data ? sector : NULL);
}

void guest_main(void) {
    struct virtio_dev v;
    int d = pci_find(VIRTIO_VENDOR, VIRTIO_ID_RNG);
    check(d > 0, "virtio-rng found on bus 0 (device %d)", d);
    if (d > 0 && virtio_init(&v, d, VIRTIO_BAR_BASE)) {
        memset(rng_buf, 0, sizeof rng_buf);
        void *bufs[1] = {rng_buf};
        uint32_t lens[1] = {sizeof rng_buf};
        bool wr[1] = {true};
        int n = virtio_transfer(&v, bufs, lens, wr, 1);
        int nonzero = 0;
        for (unsigned i = 0; i < sizeof rng_buf; i++) nonzero += rng_buf[i] != 0;
        check(n == (int)sizeof rng_buf && nonzero > 32, "virtio-rng: %d bytes, %d non-zero", n, nonzero);
    } else {
        check(false, "virtio-rng initialised");
    }
    d = pci_find(VIRTIO_VENDOR, VIRTIO_ID_BLK);
    if (d > 0) {
        bool ok = virtio_init(&v, d, VIRTIO_BAR_BASE + VIRTIO_BAR_STEP);
        check(ok, "virtio-blk initialised (device %d)", d);
        if (ok) {
            uint64_t cap = (uint64_t)mmio_read32(v.device_cfg) | ((uint64_t)mmio_read32(v.device_cfg + 4) << 32);
            printf("virtio-blk: capacity %llu sectors\n", (unsigned long long)cap);
            int st = blk_io(&v, 0, 0, true);
            char text[16];
            memcpy(text, sector, 15);
            text[15] = 0;
            for (int i = 0; i < 15; i++) if (text[i] < 32 || text[i] > 126) text[i] = '?';
            check(st == 0 && memcmp(sector, "insula-sector-0", 15) == 0, "virtio-blk: read sector 0 (status %d): %s",
                  st, text);
            for (int i = 0; i < 512; i++) sector[i] = (uint8_t)(i * 7 + 1);
            st = blk_io(&v, 1, 1, true);
            check(st == 0, "virtio-blk: write sector 1 (status %d)", st);
            memset(sector, 0, sizeof sector);
            st = blk_io(&v, 0, 1, true);
            bool same = true;
            for (int i = 0; i < 512; i++) same = same && sector[i] == (uint8_t)(i * 7 + 1);
            check(st == 0 && same, "virtio-blk: sector 1 reads back what was written");
            st = blk_io(&v, 4, 0, false);
            check(st == 0, "virtio-blk: flush (status %d)", st);
            st = blk_io(&v, 0, cap, true);
            check(st == 1, "virtio-blk: a read past the end fails with IOERR (status %d)", st);
        }
    } else {
        printf("virtio-blk: none attached\n");
    }
    finish("virtio");
}
