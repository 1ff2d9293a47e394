/* vsock: drives insula's virtio-vsock (`--vsock CID,UDS`) directly, stream
 * sockets by hand (virtio 1.2, 5.10): checks guest_cid against cid=, then
 *  1. connects out to host port 6001 (nobody listens: RST), then to 6000
 *     (a host program listens on UDS_6000),
 *     sends a line, reads the answer, shuts down and waits for the RST;
 *  2. accepts the host's connection to its port 1234 (a host program writes
 *     "CONNECT 1234" on UDS), sends a line, echoes what the host sends, and
 *     answers the host's close (SHUTDOWN) with an RST.
 * Queues are polled; the guest hands credit back as it consumes data. */
#include "guest.h"
#include "pci.h"

enum { RXQ = 0, TXQ = 1, EVQ = 2, NRX = 3, PAYLOAD = 128 };
enum { OP_REQUEST = 1, OP_RESPONSE = 2, OP_RST = 3, OP_SHUTDOWN = 4, OP_RW = 5, OP_CREDIT_UPDATE = 6,
       OP_CREDIT_REQUEST = 7 };
#define HOST_CID 2
#define OUT_PORT 5555   /* guest side of the connection the guest makes */
#define HOST_PORT 6000  /* the host listener it connects to */
#define LISTEN_PORT 1234
#define BUF_ALLOC 4096

struct hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

static struct virtio_dev v;
static uint64_t cid;
static uint8_t rx_buf[NRX][sizeof(struct hdr) + PAYLOAD] __attribute__((aligned(16)));
static uint8_t tx_buf[sizeof(struct hdr) + PAYLOAD] __attribute__((aligned(16)));
static uint8_t event_buf[8];
static uint32_t fwd_cnt; /* bytes consumed on the current connection */
static char text[PAYLOAD + 1];

static void post_rx(int i) {
    void *bufs[1] = {rx_buf[i]};
    uint32_t lens[1] = {sizeof rx_buf[i]};
    bool wr[1] = {true};
    virtq_submit(&v, RXQ, bufs, lens, wr, 1);
}

static bool send(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t flags, const char *data) {
    struct hdr h = {cid, HOST_CID, src_port, dst_port, data ? strlen(data) : 0, 1, op, flags, BUF_ALLOC, fwd_cnt};
    memcpy(tx_buf, &h, sizeof h);
    if (data) memcpy(tx_buf + sizeof h, data, h.len);
    void *bufs[1] = {tx_buf};
    uint32_t lens[1] = {sizeof h + h.len};
    bool wr[1] = {false};
    uint32_t used;
    return virtq_submit(&v, TXQ, bufs, lens, wr, 1) >= 0 && virtq_wait(&v, TXQ, &used, VIRTQ_WAIT) >= 0;
}

/* Waits for a packet to local port `port` with operation `op` (any port when
 * 0), skipping credit updates; its header lands in *out, an RW payload in
 * text[]. false on a timeout or a different operation (printed). */
static bool receive(uint16_t op, uint32_t port, struct hdr *out) {
    for (int tries = 0; tries < 8; tries++) {
        uint32_t len;
        int id = virtq_wait(&v, RXQ, &len, VIRTQ_WAIT_LONG);
        if (id < 0) { printf("vsock: nothing received (waiting for op %u)\n", op); return false; }
        int i = id < NRX ? id : 0;
        memcpy(out, rx_buf[i], sizeof *out);
        uint32_t n = len > sizeof *out ? len - sizeof *out : 0;
        if (n > out->len) n = out->len;
        if (n > PAYLOAD) n = PAYLOAD;
        memcpy(text, rx_buf[i] + sizeof *out, n);
        text[n] = 0;
        post_rx(i);
        if (out->op == OP_CREDIT_UPDATE) continue;
        if (out->dst_cid != cid || out->src_cid != HOST_CID || (port && out->dst_port != port) || out->op != op) {
            printf("vsock: got op %u %u->%u (flags %u) while waiting for op %u\n", out->op, out->src_port,
                   out->dst_port, out->flags, op);
            return false;
        }
        if (op == OP_RW) fwd_cnt += n;
        return true;
    }
    return false;
}

static void connect_out(void) {
    struct hdr h;
    fwd_cnt = 0;
    /* Nothing listens on UDS_6001: the device refuses with RST. */
    check(send(OP_REQUEST, OUT_PORT + 1, HOST_PORT + 1, 0, NULL), "vsock: REQUEST to host port %d sent", HOST_PORT + 1);
    check(receive(OP_RST, OUT_PORT + 1, &h), "vsock: a REQUEST to a port nobody listens on gets RST");
    check(send(OP_REQUEST, OUT_PORT, HOST_PORT, 0, NULL), "vsock: REQUEST to host port %d sent", HOST_PORT);
    if (!receive(OP_RESPONSE, OUT_PORT, &h)) { check(false, "vsock: RESPONSE from the host listener"); return; }
    check(h.src_port == HOST_PORT && h.buf_alloc > 0, "vsock: connected to host port %u (host buf_alloc %u)",
          h.src_port, h.buf_alloc);
    check(send(OP_RW, OUT_PORT, HOST_PORT, 0, "hello-from-guest-to-host-listener\n"), "vsock: data sent");
    bool got = receive(OP_RW, OUT_PORT, &h);
    check(got && strncmp(text, "reply-from-host-listener\n", 25) == 0, "vsock: host listener answered: %s",
          got ? text : "(nothing)\n");
    check(send(OP_SHUTDOWN, OUT_PORT, HOST_PORT, 3, NULL), "vsock: SHUTDOWN sent");
    check(receive(OP_RST, OUT_PORT, &h), "vsock: the host answered SHUTDOWN with RST");
}

static void accept_in(void) {
    struct hdr h;
    fwd_cnt = 0;
    if (!receive(OP_REQUEST, LISTEN_PORT, &h)) { check(false, "vsock: REQUEST from the host to port %d", LISTEN_PORT); return; }
    uint32_t peer = h.src_port;
    printf("vsock: host port %u connects to guest port %d\n", peer, LISTEN_PORT);
    check(send(OP_RESPONSE, LISTEN_PORT, peer, 0, NULL), "vsock: RESPONSE sent");
    check(send(OP_RW, LISTEN_PORT, peer, 0, "hello-from-guest-listener\n"), "vsock: greeting sent");
    bool got = receive(OP_RW, LISTEN_PORT, &h);
    check(got, "vsock: data from the host");
    if (got) {
        char echo[PAYLOAD + 8];
        snprintf(echo, sizeof echo, "echo: %s", text);
        check(send(OP_RW, LISTEN_PORT, peer, 0, echo), "vsock: echo sent");
    }
    got = receive(OP_SHUTDOWN, LISTEN_PORT, &h);
    check(got && h.flags == 3, "vsock: the host closed (SHUTDOWN flags %u)", got ? h.flags : 0);
    check(send(OP_RST, LISTEN_PORT, peer, 0, NULL), "vsock: RST sent");
}

void guest_main(void) {
    uint64_t want = 0;
    check(cmdline_u64("cid", &want), "vsock: command line has cid=");
    if (!virtio_find(&v, VIRTIO_ID_VSOCK, "vsock", 0, 0, 3)) {
        check(false, "virtio-vsock present and set up");
        finish("vsock");
    }
    cid = (uint64_t)virtio_cfg32(&v, 0) | (uint64_t)virtio_cfg32(&v, 4) << 32;
    check(cid == want, "vsock: guest_cid %llu (expected %llu)", (unsigned long long)cid, (unsigned long long)want);
    for (int i = 0; i < NRX; i++) post_rx(i);
    void *bufs[1] = {event_buf};
    uint32_t lens[1] = {sizeof event_buf};
    bool wr[1] = {true};
    virtq_submit(&v, EVQ, bufs, lens, wr, 1);
    connect_out();
    accept_in();
    finish("vsock");
}
