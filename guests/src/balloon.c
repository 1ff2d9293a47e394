/* balloon: drives insula's virtio-balloon (`--balloon`) directly. With no
 * host request num_pages is 0; the guest inflates a few pages by itself
 * (their page frame numbers on the inflate queue), reports them in `actual`,
 * deflates them again and checks the host really dropped them: guest RAM is
 * anonymous memory, so a page the host discarded comes back zero-filled.
 * A page frame outside RAM must be ignored without breaking the device; a
 * buffer outside RAM must set NEEDS_RESET, and a reset must bring it back. */
#include "guest.h"
#include "pci.h"

enum { INFLATEQ = 0, DEFLATEQ = 1, NPAGES = 4, CFG_NUM_PAGES = 0, CFG_ACTUAL = 4 };
#define STATUS_NEEDS_RESET 0x40

static uint8_t pages[NPAGES][4096] __attribute__((aligned(4096)));
static uint32_t pfns[NPAGES + 1];

static bool send_pfns(struct virtio_dev *v, int q, uint32_t count) {
    void *bufs[1] = {pfns};
    uint32_t lens[1] = {count * 4};
    bool wr[1] = {false};
    uint32_t len;
    return virtq_submit(v, q, bufs, lens, wr, 1) >= 0 && virtq_wait(v, q, &len, VIRTQ_WAIT) >= 0;
}

void guest_main(void) {
    struct virtio_dev v;
    if (!virtio_find(&v, VIRTIO_ID_BALLOON, "balloon", 0, 0, 2)) {
        check(false, "virtio-balloon present and set up");
        finish("balloon");
    }
    uint32_t target = virtio_cfg32(&v, CFG_NUM_PAGES), actual = virtio_cfg32(&v, CFG_ACTUAL);
    printf("balloon: num_pages %u, actual %u\n", target, actual);
    check(target == 0 && actual == 0, "balloon: no inflation asked for at boot");

    for (int i = 0; i < NPAGES; i++) {
        memset(pages[i], 0xa5, sizeof pages[i]);
        pfns[i] = (uint32_t)(uintptr_t)pages[i] >> 12;
    }
    pfns[NPAGES] = 0xfffffu; /* the page below 4 GiB: not RAM */
    check(send_pfns(&v, INFLATEQ, NPAGES + 1), "balloon: inflate queue took %d page frames", NPAGES + 1);
    virtio_cfg_write32(&v, CFG_ACTUAL, NPAGES);
    actual = virtio_cfg32(&v, CFG_ACTUAL);
    check(actual == NPAGES, "balloon: actual reads back %u", actual);
    uint8_t status = *(volatile uint8_t *)(v.common + 0x14);
    check(!(status & STATUS_NEEDS_RESET), "balloon: a frame outside RAM is ignored (device status 0x%x)", status);

    check(send_pfns(&v, DEFLATEQ, NPAGES), "balloon: deflate queue took %d page frames", NPAGES);
    virtio_cfg_write32(&v, CFG_ACTUAL, 0);
    int zero = 0;
    for (int i = 0; i < NPAGES; i++) {
        bool all = true;
        for (int j = 0; j < 4096; j += 64) all = all && pages[i][j] == 0;
        zero += all;
    }
    check(zero == NPAGES, "balloon: %d of %d inflated pages came back zero-filled (dropped by the host)", zero, NPAGES);
    printf("balloon: inflated and deflated %d pages\n", NPAGES);

    /* A hostile chain: its buffer lies outside guest RAM. The device must
     * flag NEEDS_RESET (the VMM carries on), and a reset must bring it back. */
    void *bufs[1] = {(void *)0x3ff00000u};
    uint32_t lens[1] = {4};
    bool wr[1] = {false};
    virtq_submit(&v, INFLATEQ, bufs, lens, wr, 1);
    uint64_t start = rdtsc();
    do status = *(volatile uint8_t *)(v.common + 0x14);
    while (!(status & STATUS_NEEDS_RESET) && rdtsc() - start < VIRTQ_WAIT);
    check(status & STATUS_NEEDS_RESET, "balloon: a buffer outside RAM sets NEEDS_RESET (status 0x%x)", status);
    bool again = virtio_setup(&v, v.pci_dev, VIRTIO_BAR_BASE, 0, 2);
    check(again, "balloon: set up again after a reset");
    if (again) {
        pages[0][0] = 0xa5;
        pfns[0] = (uint32_t)(uintptr_t)pages[0] >> 12;
        check(send_pfns(&v, INFLATEQ, 1) && send_pfns(&v, DEFLATEQ, 1) && pages[0][0] == 0,
              "balloon: works again after the reset");
        printf("balloon: recovered from a bad buffer by a reset\n");
    }
    finish("balloon");
}
