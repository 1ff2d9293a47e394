/* blkbench: measures virtio-blk itself, without a guest kernel in the way
 * (bench/devices): polled requests on queue 0, timed with the TSC, which is
 * calibrated against PIT channel 2. Runs under insula and under QEMU
 * (modern-only virtio-blk-pci: `disable-legacy=on`), so both serve the same
 * guest. Rows, each for secs= seconds of TSC (default 3):
 *   randread-qd1   4 KiB reads at random 4 KiB-aligned offsets, one at a time
 *   randread-qd32  the same with 32 in flight (each completion resubmits)
 *   seqread        1 MiB reads front to back (wrapping), 4 in flight
 * tsc_khz=K gives the TSC rate instead (bench/devices passes the test
 * host's, which is its TSC's: more exact than the PIT under load).
 * Prints "BLKKIT <row> <IOPS> <MiB/s>" per row. No interrupts: the guest
 * polls the used ring, so a row costs one notify exit per request plus the
 * device's service time. */
#include "guest.h"
#include "pci.h"

#define MAX_INFLIGHT 32
#define SMALL 4096u
#define BIG (1u << 20)
#define BIG_INFLIGHT 4

struct blk_req { uint32_t type, reserved; uint64_t sector; };
static struct blk_req hdr[MAX_INFLIGHT] __attribute__((aligned(16)));
static uint8_t status[MAX_INFLIGHT];
static uint8_t small_buf[MAX_INFLIGHT][SMALL] __attribute__((aligned(4096)));
static uint8_t big_buf[BIG_INFLIGHT][BIG] __attribute__((aligned(4096)));
static int slot_of_head[VQ_SIZE];

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* TSC cycles per second: PIT channel 2 counts down 119318 ticks (100 ms at
 * 1.193182 MHz) in mode 0 with its gate up; OUT2 (port 0x61 bit 5) rises at
 * terminal count. 0 when OUT2 never rises. */
static uint64_t tsc_hz(void) {
    const uint32_t ticks = 59659; /* 50 ms; twice below */
    uint64_t total = 0;
    for (int i = 0; i < 2; i++) {
        outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));
        outb(0x43, 0xb0);
        outb(0x42, (uint8_t)(ticks & 0xff));
        outb(0x42, (uint8_t)(ticks >> 8));
        uint64_t t0 = rdtsc();
        while (!(inb(0x61) & 0x20))
            if (rdtsc() - t0 > 50000000000ull) return 0;
        total += rdtsc() - t0;
    }
    return total * 10; /* 2 x 50 ms */
}

static int submit(struct virtio_dev *v, int slot, uint64_t sector, uint8_t *buf, uint32_t len) {
    hdr[slot].type = 0; /* VIRTIO_BLK_T_IN */
    hdr[slot].reserved = 0;
    hdr[slot].sector = sector;
    status[slot] = 0xff;
    void *bufs[3] = {&hdr[slot], buf, &status[slot]};
    uint32_t lens[3] = {sizeof hdr[slot], len, 1};
    bool wr[3] = {false, true, true};
    int head = virtq_submit(v, 0, bufs, lens, wr, 3);
    if (head >= 0) slot_of_head[head] = slot;
    return head;
}

/* Keeps `depth` reads of `len` bytes in flight for `cycles` TSC cycles; the
 * next offset comes from next_sector(). Returns completed requests, or -1
 * on an error (printed). */
static int64_t run(struct virtio_dev *v, int depth, uint32_t len, uint64_t cycles, uint64_t (*next_sector)(void),
                   uint8_t *(*buffer)(int slot)) {
    int inflight = 0;
    for (int s = 0; s < depth; s++, inflight++)
        if (submit(v, s, next_sector(), buffer(s), len) < 0) { printf("blkbench: queue full\n"); return -1; }
    int64_t done = 0;
    uint64_t start = rdtsc(), last = start;
    bool stop = false;
    while (inflight > 0) {
        uint32_t used;
        int head = virtq_poll(v, 0, &used);
        if (head < 0) {
            pause();
            if (rdtsc() - last > VIRTQ_WAIT_LONG) { printf("blkbench: no completion\n"); return -1; }
            continue;
        }
        last = rdtsc();
        inflight--;
        int s = slot_of_head[head];
        if (status[s] != 0) { printf("blkbench: status %d\n", status[s]); return -1; }
        done++;
        if (last - start >= cycles) stop = true;
        if (!stop) {
            if (submit(v, s, next_sector(), buffer(s), len) < 0) { printf("blkbench: queue full\n"); return -1; }
            inflight++;
        }
    }
    return done;
}

static uint64_t disk_sectors;
static uint64_t seq_next;
static uint64_t random_4k(void) { return (rng() % (disk_sectors / 8)) * 8; }
static uint64_t sequential_1m(void) {
    uint64_t s = seq_next;
    seq_next += BIG / 512;
    if (seq_next + BIG / 512 > disk_sectors) seq_next = 0;
    return s;
}
static uint8_t *small(int slot) { return small_buf[slot]; }
static uint8_t *big(int slot) { return big_buf[slot]; }

void guest_main(void) {
    uint64_t secs = 3;
    cmdline_u64("secs", &secs);
    virtq_entries = VQ_SIZE; /* 32 chains of 3 descriptors */
    struct virtio_dev v;
    if (!virtio_find(&v, VIRTIO_ID_BLK, "blkbench", 1, 0, 1)) { check(false, "blkbench: virtio-blk set up"); finish("blkbench"); }
    if (v.q[0].size < 3 * MAX_INFLIGHT) {
        check(false, "blkbench: queue of %d entries, need %d", v.q[0].size, 3 * MAX_INFLIGHT);
        finish("blkbench");
    }
    disk_sectors = (uint64_t)virtio_cfg32(&v, 0) | ((uint64_t)virtio_cfg32(&v, 4) << 32);
    if (disk_sectors < 2 * BIG / 512) { check(false, "blkbench: disk of %llu sectors is too small", (unsigned long long)disk_sectors); finish("blkbench"); }
    uint64_t pit_hz = tsc_hz(), khz = 0;
    uint64_t hz = cmdline_u64("tsc_khz", &khz) && khz ? khz * 1000 : pit_hz;
    if (hz == 0) { check(false, "blkbench: PIT channel 2 never reached terminal count"); finish("blkbench"); }
    printf("blkbench: %llu sectors, TSC %llu MHz (PIT calibration: %llu MHz), %llu s per row\n",
           (unsigned long long)disk_sectors, (unsigned long long)(hz / 1000000),
           (unsigned long long)(pit_hz / 1000000), (unsigned long long)secs);
    struct { const char *name; int depth; uint32_t len; uint64_t (*next)(void); uint8_t *(*buf)(int); } rows[] = {
        {"randread-qd1", 1, SMALL, random_4k, small},
        {"randread-qd32", MAX_INFLIGHT, SMALL, random_4k, small},
        {"seqread", BIG_INFLIGHT, BIG, sequential_1m, big},
    };
    bool ok = true;
    for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        uint64_t t0 = rdtsc();
        int64_t n = run(&v, rows[i].depth, rows[i].len, secs * hz, rows[i].next, rows[i].buf);
        uint64_t cycles = rdtsc() - t0;
        if (n < 0) { ok = false; continue; }
        /* Per second: n * hz / cycles, in fixed point (no FPU in the kit). */
        uint64_t iops = (uint64_t)n * hz / cycles;
        uint64_t kib_s = (uint64_t)n * (rows[i].len / 1024) * hz / cycles;
        printf("BLKKIT %s %llu %llu\n", rows[i].name, (unsigned long long)iops, (unsigned long long)(kib_s / 1024));
    }
    check(ok, "blkbench: every row ran");
    finish("blkbench");
}
