/* PCI config access and a polled modern-virtio driver core (see pci.h). */
#include "pci.h"

struct vq_desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vq_avail { uint16_t flags, idx, ring[VQ_SIZE]; };
struct vq_used_elem { uint32_t id, len; };
struct vq_used { uint16_t flags, idx; struct vq_used_elem ring[VQ_SIZE]; };
enum { DESC_NEXT = 1, DESC_WRITE = 2 };

/* Ring memory for every queue a guest sets up, handed out in order. */
#define VQ_POOL 8
static struct vq_mem {
    struct vq_desc desc[VQ_SIZE] __attribute__((aligned(16)));
    struct vq_avail avail __attribute__((aligned(2)));
    struct vq_used used __attribute__((aligned(4)));
} vq_pool[VQ_POOL];
static int vq_pool_used;
uint16_t virtq_entries = VQ_DEFAULT_ENTRIES;

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

static bool setup_queue(struct virtio_dev *v, int qi) {
    uintptr_t c = v->common;
    w16(c + QSEL, (uint16_t)qi);
    uint16_t max = r16(c + QSIZE);
    if (max == 0) { printf("virtio: queue %d absent\n", qi); return false; }
    if (vq_pool_used == VQ_POOL) { printf("virtio: out of queue memory\n"); return false; }
    struct vq_mem *m = &vq_pool[vq_pool_used++];
    memset(m, 0, sizeof *m);
    struct virtq *q = &v->q[qi];
    uint16_t want = virtq_entries <= VQ_SIZE ? virtq_entries : VQ_SIZE;
    q->size = max < want ? max : want;
    q->desc = m->desc; q->avail = &m->avail; q->used = &m->used;
    for (uint16_t i = 0; i < q->size; i++) q->desc[i].next = (uint16_t)(i + 1);
    q->free_head = 0;
    q->num_free = q->size;
    w16(c + QSIZE, q->size);
    mmio_write32(c + QDESC, (uint32_t)(uintptr_t)m->desc);    mmio_write32(c + QDESC + 4, 0);
    mmio_write32(c + QDRIVER, (uint32_t)(uintptr_t)&m->avail); mmio_write32(c + QDRIVER + 4, 0);
    mmio_write32(c + QDEVICE, (uint32_t)(uintptr_t)&m->used);  mmio_write32(c + QDEVICE + 4, 0);
    q->notify_addr = v->notify + (uintptr_t)r16(c + QNOTIFYOFF) * v->notify_mult;
    w16(c + QENABLE, 1);
    return true;
}

bool virtio_setup(struct virtio_dev *v, int dev, uintptr_t bar, uint64_t features, int nqueues) {
    memset(v, 0, sizeof *v);
    v->pci_dev = dev;
    if (nqueues < 1 || nqueues > VIRTIO_MAX_QUEUES) { printf("virtio: %d queues asked\n", nqueues); return false; }
    /* Walk the capability list for the virtio structures (vendor cap 0x09):
     * their offsets, and the BAR that holds the common config. */
    int cap = (int)(pci_read32(dev, 0x34) & 0xfc), guard = 0, bar_index = -1;
    while (cap && guard++ < 48) {
        uint32_t h = pci_read32(dev, cap);
        if ((h & 0xff) == 0x09) {
            uint8_t type = (uint8_t)(h >> 24);
            uintptr_t addr = bar + pci_read32(dev, cap + 8);
            if (type == 1) { v->common = addr; bar_index = (int)(pci_read32(dev, cap + 4) & 0xff); }
            if (type == 2) { v->notify = addr; v->notify_mult = pci_read32(dev, cap + 16); }
            if (type == 3) v->isr = addr;
            if (type == 4) v->device_cfg = addr;
        }
        cap = (int)((h >> 8) & 0xfc);
    }
    if (!v->common || !v->notify || !v->isr || bar_index < 0 || bar_index > 5) {
        printf("virtio: capabilities missing\n");
        return false;
    }
    int reg = 0x10 + 4 * bar_index;
    pci_write32(dev, 0x04, 0);                   /* decode off while moving the BAR */
    bool bar64 = ((pci_read32(dev, reg) >> 1) & 3) == 2;
    pci_write32(dev, reg, (uint32_t)bar);        /* BAR low */
    if (bar64) pci_write32(dev, reg + 4, 0);     /* BAR high: below 4 GiB */
    pci_write32(dev, 0x04, 0x6);                 /* memory decode + bus master */
    uint32_t base = pci_read32(dev, reg) & ~0xfu;
    if (base != bar) {
        printf("virtio: BAR%d reads 0x%x, expected 0x%x\n", bar_index, base, (unsigned)bar);
        return false;
    }
    uintptr_t c = v->common;
    w8(c + STATUS, 0);
    w8(c + STATUS, ACK | DRIVER);
    mmio_write32(c + DFSEL, 0);
    uint64_t offered = mmio_read32(c + DF);
    mmio_write32(c + DFSEL, 1);
    offered |= (uint64_t)mmio_read32(c + DF) << 32;
    if (!(offered & VIRTIO_F_VERSION_1)) { printf("virtio: no VERSION_1\n"); return false; }
    /* Nothing the ring code does not handle: plain descriptors, no event idx. */
    v->features = (features | VIRTIO_F_VERSION_1) & offered;
    mmio_write32(c + GFSEL, 0);
    mmio_write32(c + GF, (uint32_t)v->features);
    mmio_write32(c + GFSEL, 1);
    mmio_write32(c + GF, (uint32_t)(v->features >> 32));
    w8(c + STATUS, ACK | DRIVER | FEATURES_OK);
    if (!(r8(c + STATUS) & FEATURES_OK)) { printf("virtio: FEATURES_OK refused\n"); return false; }
    for (int i = 0; i < nqueues; i++)
        if (!setup_queue(v, i)) return false;
    v->nqueues = nqueues;
    w8(c + STATUS, ACK | DRIVER | FEATURES_OK | DRIVER_OK);
    return true;
}

bool virtio_init(struct virtio_dev *v, int dev, uintptr_t bar) { return virtio_setup(v, dev, bar, 0, 1); }

bool virtio_find(struct virtio_dev *v, uint16_t device, const char *what, int slot, uint64_t features, int nqueues) {
    int d = pci_find(VIRTIO_VENDOR, device);
    if (d < 0) { printf("%s: not found on PCI bus 0\n", what); return false; }
    if (!virtio_setup(v, d, VIRTIO_BAR_BASE + (uintptr_t)slot * VIRTIO_BAR_STEP, features, nqueues)) {
        printf("%s: set-up failed (device %d)\n", what, d);
        return false;
    }
    printf("%s: device %d, features 0x%llx\n", what, d, (unsigned long long)v->features);
    return true;
}

int virtq_submit(struct virtio_dev *v, int qi, void **bufs, const uint32_t *lens, const bool *writable, int n) {
    struct virtq *q = &v->q[qi];
    if (qi >= v->nqueues || n <= 0 || n > q->num_free) return -1;
    uint16_t head = q->free_head, d = head;
    for (int i = 0; i < n; i++) {
        q->desc[d].addr = (uint32_t)(uintptr_t)bufs[i];
        q->desc[d].len = lens[i];
        q->desc[d].flags = (uint16_t)((i + 1 < n ? DESC_NEXT : 0) | (writable[i] ? DESC_WRITE : 0));
        if (i + 1 < n) d = q->desc[d].next;
    }
    q->free_head = q->desc[d].next;
    q->num_free = (uint16_t)(q->num_free - n);
    q->avail->ring[q->avail->idx % q->size] = head;
    __asm__ volatile("" ::: "memory");
    q->avail->idx++;
    __asm__ volatile("mfence" ::: "memory");
    w16(q->notify_addr, (uint16_t)qi);
    return head;
}

int virtq_poll(struct virtio_dev *v, int qi, uint32_t *len) {
    struct virtq *q = &v->q[qi];
    if (*(volatile uint16_t *)&q->used->idx == q->last_used) return -1;
    __asm__ volatile("" ::: "memory");
    struct vq_used_elem e = q->used->ring[q->last_used % q->size];
    q->last_used++;
    if (e.id >= q->size) return -1;
    /* Give the chain's descriptors back to the free list. */
    uint16_t d = (uint16_t)e.id, n = 1;
    while ((q->desc[d].flags & DESC_NEXT) && n < q->size) { d = q->desc[d].next; n++; }
    q->desc[d].next = q->free_head;
    q->free_head = (uint16_t)e.id;
    q->num_free = (uint16_t)(q->num_free + n);
    if (len) *len = e.len;
    return (int)e.id;
}

int virtq_wait(struct virtio_dev *v, int qi, uint32_t *len, uint64_t tsc_cycles) {
    uint64_t start = rdtsc();
    do {
        int id = virtq_poll(v, qi, len);
        if (id >= 0) return id;
        pause();
    } while (rdtsc() - start < tsc_cycles);
    return -1;
}

int virtio_transfer(struct virtio_dev *v, void **bufs, const uint32_t *lens, const bool *writable, int n) {
    uint32_t len;
    if (virtq_submit(v, 0, bufs, lens, writable, n) < 0) return -1;
    if (virtq_wait(v, 0, &len, VIRTQ_WAIT_LONG) < 0) { printf("virtio: no completion\n"); return -1; }
    return (int)len;
}

int virtio_blk_io(struct virtio_dev *v, uint32_t type, uint64_t lba, void *data) {
    static struct { uint32_t type, reserved; uint64_t sector; } req __attribute__((aligned(16)));
    static uint8_t status_byte;
    req.type = type; req.reserved = 0; req.sector = lba;
    status_byte = 0xff;
    void *bufs[3] = {&req, data, &status_byte};
    uint32_t lens[3] = {sizeof req, 512, 1};
    bool wr[3] = {false, type == 0, true};
    if (!data) { bufs[1] = &status_byte; lens[1] = 1; wr[1] = true; }
    int used = virtio_transfer(v, bufs, lens, wr, data ? 3 : 2);
    return used < 0 ? -1 : status_byte;
}
