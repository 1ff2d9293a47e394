/* PCI configuration access (mechanism #1, ports 0xCF8/0xCFC) and a minimal
 * modern virtio driver core: capabilities, feature negotiation, one split
 * virtqueue driven by polling (no interrupts, so it runs on PVM too). */
#ifndef INSULA_GUEST_PCI_H
#define INSULA_GUEST_PCI_H
#include "guest.h"

uint32_t pci_read32(int dev, int reg);
void pci_write32(int dev, int reg, uint32_t v);
/* Device number on bus 0 of the first function with this vendor:device, or -1. */
int pci_find(uint16_t vendor, uint16_t device);

struct virtio_dev {
    int pci_dev;
    uintptr_t common, notify, isr, device_cfg;
    uint32_t notify_mult;
    uint16_t qsize;
    /* queue 0 */
    struct vq_desc *desc;
    struct vq_avail *avail;
    struct vq_used *used;
    uint16_t last_used;
    uintptr_t notify_addr;
};

/* Places BAR 0 (64-bit) at bar_addr (below 4 GiB), enables decode and bus
 * mastering, finds the virtio capabilities, negotiates VERSION_1 only and
 * sets up queue 0 with up to 8 entries. false (with a printed reason) on any
 * step the device refuses. */
bool virtio_init(struct virtio_dev *v, int pci_dev, uintptr_t bar_addr);
/* Submits a chain of n buffers (writable[i]: device writes it) on queue 0,
 * notifies, and polls for completion; returns the used length or -1. */
int virtio_transfer(struct virtio_dev *v, void **bufs, const uint32_t *lens, const bool *writable, int n);
#endif
