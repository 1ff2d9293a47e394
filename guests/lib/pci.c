/* PCI config access and a polled modern-virtio driver core (see pci.h). */
#include "pci.h"

struct vq_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vq_avail { uint16_t flags, idx, ring[8]; };
struct vq_used_elem { uint32_t id, len; };
struct vq_used { uint16_t flags, idx; struct vq_used_elem ring[8]; };

#define VQ_SIZE 8
static struct vq_desc g_desc[VQ_SIZE] __attribute__((aligned(16)));
static struct vq_avail g_avail __attribute__((aligned(2)));
static struct vq_used g_used __attribute__((aligned(4)));

uint32_t pci_read32(int dev, int reg) {
    outl(0xcf8, 0x80000000u | ((uint32_t)dev << 11) | ((uint32_t)reg & 0xfc));
    return inl(0xcfc);
}

void pci_write32(int dev, int reg, uint32_t v) {
    outl(0xcf8, 0x80000000u | ((uint32_t)dev << 11) | ((uint32_t)reg & 0xfc));
    outl(0xcfc, v);
}

int pci_find(uint16_t vendor, uint16_t device) {
    for (int d = 0; d < 32; d++) {
        uint32_t id = pci_read32(d, 0);
        if ((id & 0xffff) == vendor && (id >> 16) == device) return d;
    }
    return -1;
}

static uint8_t r8(uintptr_t a) { return *(volatile uint8_t *)a; }
static uint16_t r16(uintptr_t a) { return *(volatile uint16_t *)a; }
static void w8(uintptr_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static void w16(uintptr_t a, uint16_t v) { *(volatile uint16_t *)a = v; }

/* Common configuration offsets (virtio 1.2, 4.1.4.3). */
enum { DFSEL = 0x00, DF = 0x04, GFSEL = 0x08, GF = 0x0c, STATUS = 0x14, QSEL = 0x16, QSIZE = 0x18,
       QENABLE = 0x1c, QNOTIFYOFF = 0x1e, QDESC = 0x20, QDRIVER = 0x28, QDEVICE = 0x30 };
enum { ACK = 1, DRIVER = 2, DRIVER_OK = 4, FEATURES_OK = 8 };

bool virtio_init(struct virtio_dev *v, int dev, uintptr_t bar) {
    memset(v, 0, sizeof *v);
    v->pci_dev = dev;
    pci_write32(dev, 0x04, 0);                   /* decode off while moving the BAR */
    pci_write32(dev, 0x10, (uint32_t)bar);       /* BAR0 low */
    pci_write32(dev, 0x14, 0);                   /* BAR0 high: below 4 GiB */
    pci_write32(dev, 0x04, 0x6);                 /* memory decode + bus master */
    uint32_t base = pci_read32(dev, 0x10) & ~0xfu;
    if (base != bar) { printf("virtio: BAR0 reads %#x, expected %#x\n", base, (unsigned)bar); return false; }
    /* Walk the capability list for the virtio structures (vendor cap 0x09). */
    int cap = (int)(pci_read32(dev, 0x34) & 0xfc), guard = 0;
    while (cap && guard++ < 48) {
        uint32_t h = pci_read32(dev, cap);
        if ((h & 0xff) == 0x09) {
            uint8_t type = (uint8_t)(h >> 24);
            uint32_t off = pci_read32(dev, cap + 8);
            uintptr_t addr = bar + off;
            if (type == 1) v->common = addr;
            if (type == 2) { v->notify = addr; v->notify_mult = pci_read32(dev, cap + 16); }
            if (type == 3) v->isr = addr;
            if (type == 4) v->device_cfg = addr;
        }
        cap = (int)((h >> 8) & 0xfc);
    }
    if (!v->common || !v->notify || !v->isr) { printf("virtio: capabilities missing\n"); return false; }
    uintptr_t c = v->common;
    w8(c + STATUS, 0);
    w8(c + STATUS, ACK | DRIVER);
    mmio_write32(c + DFSEL, 1);
    if (!(mmio_read32(c + DF) & 1)) { printf("virtio: no VERSION_1\n"); return false; }
    mmio_write32(c + GFSEL, 0);
    mmio_write32(c + GF, 0);
    mmio_write32(c + GFSEL, 1);
    mmio_write32(c + GF, 1);  /* VERSION_1, nothing else: plain descriptors, no event idx */
    w8(c + STATUS, ACK | DRIVER | FEATURES_OK);
    if (!(r8(c + STATUS) & FEATURES_OK)) { printf("virtio: FEATURES_OK refused\n"); return false; }
    w16(c + QSEL, 0);
    uint16_t max = r16(c + QSIZE);
    if (max == 0) { printf("virtio: queue 0 absent\n"); return false; }
    v->qsize = max < VQ_SIZE ? max : VQ_SIZE;
    w16(c + QSIZE, v->qsize);
    v->desc = g_desc; v->avail = &g_avail; v->used = &g_used;
    memset(g_desc, 0, sizeof g_desc); memset(&g_avail, 0, sizeof g_avail); memset(&g_used, 0, sizeof g_used);
    mmio_write32(c + QDESC, (uint32_t)(uintptr_t)g_desc);   mmio_write32(c + QDESC + 4, 0);
    mmio_write32(c + QDRIVER, (uint32_t)(uintptr_t)&g_avail); mmio_write32(c + QDRIVER + 4, 0);
    mmio_write32(c + QDEVICE, (uint32_t)(uintptr_t)&g_used);  mmio_write32(c + QDEVICE + 4, 0);
    v->notify_addr = v->notify + (uintptr_t)r16(c + QNOTIFYOFF) * v->notify_mult;
    w16(c + QENABLE, 1);
    w8(c + STATUS, ACK | DRIVER | FEATURES_OK | DRIVER_OK);
    v->last_used = 0;
    return true;
}

int virtio_transfer(struct virtio_dev *v, void **bufs, const uint32_t *lens, const bool *writable, int n) {
    if (n <= 0 || n > v->qsize) return -1;
    for (int i = 0; i < n; i++) {
        v->desc[i].addr = (uint32_t)(uintptr_t)bufs[i];
        v->desc[i].len = lens[i];
        v->desc[i].flags = (uint16_t)((i + 1 < n ? 1 : 0) | (writable[i] ? 2 : 0));
        v->desc[i].next = (uint16_t)(i + 1);
    }
    v->avail->ring[v->avail->idx % v->qsize] = 0;
    __asm__ volatile("" ::: "memory");
    v->avail->idx++;
    __asm__ volatile("mfence" ::: "memory");
    w16(v->notify_addr, 0);
    for (uint32_t spin = 0; spin < 20000000u; spin++) {
        if (*(volatile uint16_t *)&v->used->idx != v->last_used) {
            struct vq_used_elem e = v->used->ring[v->last_used % v->qsize];
            v->last_used++;
            return (int)e.len;
        }
        pause();
    }
    printf("virtio: no completion\n");
    return -1;
}
