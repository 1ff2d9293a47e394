/* PCI configuration access (mechanism #1, ports 0xCF8/0xCFC) and a minimal
 * modern virtio driver core: capabilities, feature negotiation, up to
 * VIRTIO_MAX_QUEUES split virtqueues per device, driven by polling (no
 * interrupts, so it runs on PVM too). */
#ifndef INSULA_GUEST_PCI_H
#define INSULA_GUEST_PCI_H
#include "guest.h"

#define VIRTIO_VENDOR 0x1af4
/* Modern PCI device IDs: 0x1040 + virtio device type (virtio 1.2, 4.1.2.1). */
#define VIRTIO_ID_NET 0x1041
#define VIRTIO_ID_BLK 0x1042
#define VIRTIO_ID_CONSOLE 0x1043
#define VIRTIO_ID_RNG 0x1044
#define VIRTIO_ID_BALLOON 0x1045
#define VIRTIO_ID_VSOCK 0x1053
#define VIRTIO_F_VERSION_1 (1ull << 32)
/* Where guests place BARs: one 1 MiB window per device, below the LAPIC/IOAPIC. */
#define VIRTIO_BAR_BASE 0xc0000000u
#define VIRTIO_BAR_STEP 0x100000u

uint32_t pci_read32(int dev, int reg);
void pci_write32(int dev, int reg, uint32_t v);
/* Device number on bus 0 of the first function with this vendor:device, or -1. */
int pci_find(uint16_t vendor, uint16_t device);

#define VIRTIO_MAX_QUEUES 3
/* Ring capacity; queues get virtq_entries (default VQ_DEFAULT_ENTRIES)
 * entries, or the device's maximum if smaller. */
#define VQ_SIZE 128
#define VQ_DEFAULT_ENTRIES 8
/* A guest that keeps many requests in flight (blkbench) raises this (up to
 * VQ_SIZE, a power of two) before virtio_setup. */
extern uint16_t virtq_entries;
struct virtq {
    struct vq_desc *desc;
    struct vq_avail *avail;
    struct vq_used *used;
    uint16_t size, last_used, free_head, num_free;
    uintptr_t notify_addr;
};

struct virtio_dev {
    int pci_dev;
    uintptr_t common, notify, isr, device_cfg;
    uint32_t notify_mult;
    uint64_t features; /* what was negotiated (VERSION_1 included) */
    int nqueues;
    struct virtq q[VIRTIO_MAX_QUEUES];
};

/* Places the BAR that holds the virtio structures (insula: BAR 0; QEMU's
 * modern-only virtio-pci: BAR 4) at bar_addr (below 4 GiB), enables decode
 * and bus mastering, finds the virtio capabilities, negotiates VERSION_1 plus those
 * of `features` that the device offers, and sets up queues 0..nqueues-1 with
 * up to virtq_entries entries each. false (with a printed reason) on any step the
 * device refuses. */
bool virtio_setup(struct virtio_dev *v, int pci_dev, uintptr_t bar_addr, uint64_t features, int nqueues);
/* virtio_setup with no device features and one queue. */
bool virtio_init(struct virtio_dev *v, int pci_dev, uintptr_t bar_addr);
/* Posts a chain of n buffers (writable[i]: the device writes it) on queue q
 * and notifies; returns the chain's head id, or -1 when the queue is full. */
int virtq_submit(struct virtio_dev *v, int q, void **bufs, const uint32_t *lens, const bool *writable, int n);
/* One used element of queue q, if there is one: returns its head id (and
 * its length in *len) and frees its descriptors; -1 when none is there. */
int virtq_poll(struct virtio_dev *v, int q, uint32_t *len);
/* virtq_poll until an element arrives, or -1 after tsc_cycles TSC cycles. */
int virtq_wait(struct virtio_dev *v, int q, uint32_t *len, uint64_t tsc_cycles);
/* Timeouts in TSC cycles: 2-20 s and 6-60 s at TSC rates of 5-0.5 GHz. */
#define VIRTQ_WAIT 10000000000ull
#define VIRTQ_WAIT_LONG 30000000000ull
/* Submits a chain on queue 0 and waits for it; returns the used length or -1. */
int virtio_transfer(struct virtio_dev *v, void **bufs, const uint32_t *lens, const bool *writable, int n);
/* One virtio-blk request on queue 0: type (0 read, 1 write, 4 flush) of one
 * 512-byte sector at lba from or into data (NULL: no data, as a flush).
 * Returns the device's status byte (0 ok), or -1 when it did not answer. */
int virtio_blk_io(struct virtio_dev *v, uint32_t type, uint64_t lba, void *data);
/* Device-specific configuration access (MMIO, little-endian). */
static inline uint8_t virtio_cfg8(const struct virtio_dev *v, uint32_t off) { return *(volatile uint8_t *)(v->device_cfg + off); }
static inline uint16_t virtio_cfg16(const struct virtio_dev *v, uint32_t off) { return *(volatile uint16_t *)(v->device_cfg + off); }
static inline uint32_t virtio_cfg32(const struct virtio_dev *v, uint32_t off) { return mmio_read32(v->device_cfg + off); }
static inline void virtio_cfg_write32(const struct virtio_dev *v, uint32_t off, uint32_t x) { mmio_write32(v->device_cfg + off, x); }
/* Finds vendor:device on bus 0 and sets it up at BAR window `slot`; prints
 * why not and returns false when absent or refused. */
bool virtio_find(struct virtio_dev *v, uint16_t device, const char *what, int slot, uint64_t features, int nqueues);
#endif
