/* net: drives insula's virtio-net (`--net TAP,mac=M`) directly. Checks that
 * config space carries the MAC given on the command line (mac=) and the link
 * is up, asks for the tap's address by ARP (the host kernel answers), sends a
 * UDP datagram to the host (peer=, port 9999) and waits for the UDP answer
 * the test's helper sends back. Command line: mac=M ip=A peer=P. */
#include "guest.h"
#include "pci.h"

#define F_MAC (1ull << 5)
#define F_STATUS (1ull << 16)
#define HDR 12 /* struct virtio_net_hdr with num_buffers (VERSION_1) */
#define UDP_PORT 9999
#define GUEST_PORT 7777
enum { RXQ = 0, TXQ = 1, NRX = 2, FRAME = 1536 };

static uint8_t rx_buf[NRX][HDR + FRAME] __attribute__((aligned(16)));
static uint8_t tx_buf[HDR + 128] __attribute__((aligned(16)));
static uint8_t my_mac[6], peer_mac[6];
static uint8_t my_ip[4], peer_ip[4];

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool parse_mac(const char *s, uint8_t out[6]) {
    for (int i = 0; i < 6; i++, s += 3) {
        int hi = hexval(s[0]), lo = hexval(s[1]);
        if (hi < 0 || lo < 0 || s[2] != (i == 5 ? 0 : ':')) return false;
        out[i] = (uint8_t)(hi * 16 + lo);
    }
    return true;
}

static bool parse_ip(const char *s, uint8_t out[4]) {
    for (int i = 0; i < 4; i++) {
        unsigned v = 0, digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) v = v * 10 + (unsigned)(*s++ - '0'), digits++;
        if (!digits || v > 255 || *s != (i == 3 ? 0 : '.')) return false;
        out[i] = (uint8_t)v;
        s++;
    }
    return true;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static uint16_t ip_checksum(const uint8_t *p, int n) {
    uint32_t sum = 0;
    for (int i = 0; i < n; i += 2) sum += get16(p + i);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void post_rx(struct virtio_dev *v, int i) {
    void *bufs[1] = {rx_buf[i]};
    uint32_t lens[1] = {sizeof rx_buf[i]};
    bool wr[1] = {true};
    virtq_submit(v, RXQ, bufs, lens, wr, 1);
}

/* Sends the Ethernet frame in tx_buf + HDR (the header stays zero: no offloads). */
static bool send_frame(struct virtio_dev *v, uint32_t len) {
    if (len < 60) { memset(tx_buf + HDR + len, 0, 60 - len); len = 60; }
    memset(tx_buf, 0, HDR);
    void *bufs[1] = {tx_buf};
    uint32_t lens[1] = {HDR + len};
    bool wr[1] = {false};
    uint32_t used;
    return virtq_submit(v, TXQ, bufs, lens, wr, 1) >= 0 && virtq_wait(v, TXQ, &used, VIRTQ_WAIT) >= 0;
}

static uint8_t *eth(uint8_t *f, const uint8_t *dst, uint16_t type) {
    memcpy(f, dst, 6); memcpy(f + 6, my_mac, 6); put16(f + 12, type);
    return f + 14;
}

/* Waits for a frame that `want` accepts; reposts every buffer it looks at. */
static bool receive(struct virtio_dev *v, bool (*want)(const uint8_t *f, uint32_t n), int *seen) {
    for (int tries = 0; tries < 16; tries++) {
        uint32_t len;
        int id = virtq_wait(v, RXQ, &len, VIRTQ_WAIT);
        if (id < 0) return false;
        /* Heads are handed out 0, 1 for the two one-descriptor buffers. */
        int i = id < NRX ? id : 0;
        /* Without GUEST_CSUM/GUEST_TSO/MRG_RXBUF the device must give flags 0,
         * gso_type NONE and num_buffers 1 (virtio 1.2, 5.1.6.4.1). */
        const uint8_t *h = rx_buf[i];
        check(len >= HDR && h[0] == 0 && h[1] == 0 && (h[10] | h[11] << 8) == 1,
              "net: receive header flags %u, gso_type %u, num_buffers %u", h[0], h[1], h[10] | h[11] << 8);
        bool ok = len > HDR && want(rx_buf[i] + HDR, len - HDR);
        (*seen)++;
        post_rx(v, i);
        if (ok) return true;
    }
    return false;
}

static bool is_arp_reply(const uint8_t *f, uint32_t n) {
    if (n < 42 || get16(f + 12) != 0x0806) return false;
    const uint8_t *a = f + 14;
    if (get16(a + 6) != 2 || memcmp(a + 14, peer_ip, 4) || memcmp(a + 24, my_ip, 4)) return false;
    memcpy(peer_mac, a + 8, 6);
    return true;
}

static char udp_text[64];
static bool is_udp_answer(const uint8_t *f, uint32_t n) {
    if (n < 42 || get16(f + 12) != 0x0800 || memcmp(f, my_mac, 6)) return false;
    const uint8_t *ip = f + 14;
    int ihl = (ip[0] & 15) * 4;
    if (ip[9] != 17 || memcmp(ip + 12, peer_ip, 4) || (uint32_t)(14 + ihl + 8) > n) return false;
    const uint8_t *udp = ip + ihl;
    if (get16(udp + 2) != GUEST_PORT) return false;
    uint32_t len = get16(udp + 4) - 8u;
    if (len > sizeof udp_text - 1 || 14 + ihl + 8 + len > n) return false;
    memcpy(udp_text, udp + 8, len);
    udp_text[len] = 0;
    return true;
}

void guest_main(void) {
    char arg[32];
    bool args = cmdline_get("mac", arg, sizeof arg) && parse_mac(arg, my_mac);
    args = args && cmdline_get("ip", arg, sizeof arg) && parse_ip(arg, my_ip);
    args = args && cmdline_get("peer", arg, sizeof arg) && parse_ip(arg, peer_ip);
    check(args, "net: command line has mac=, ip= and peer=");
    struct virtio_dev v;
    if (!args || !virtio_find(&v, VIRTIO_ID_NET, "net", 0, F_MAC | F_STATUS, 2)) {
        check(false, "virtio-net present and set up");
        finish("net");
    }
    uint8_t cfg_mac[6];
    for (int i = 0; i < 6; i++) cfg_mac[i] = virtio_cfg8(&v, (uint32_t)i);
    printf("net: config MAC %02x:%02x:%02x:%02x:%02x:%02x, status 0x%x\n", cfg_mac[0], cfg_mac[1], cfg_mac[2],
           cfg_mac[3], cfg_mac[4], cfg_mac[5], virtio_cfg16(&v, 6));
    check((v.features & F_MAC) && memcmp(cfg_mac, my_mac, 6) == 0, "net: config MAC is the mac= one");
    check(!(v.features & F_STATUS) || (virtio_cfg16(&v, 6) & 1), "net: link up");
    for (int i = 0; i < NRX; i++) post_rx(&v, i);

    /* ARP request: who has peer? tell my_ip. */
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t *a = eth(tx_buf + HDR, bcast, 0x0806);
    put16(a, 1); put16(a + 2, 0x0800); a[4] = 6; a[5] = 4; put16(a + 6, 1);
    memcpy(a + 8, my_mac, 6); memcpy(a + 14, my_ip, 4); memset(a + 18, 0, 6); memcpy(a + 24, peer_ip, 4);
    check(send_frame(&v, 42), "net: ARP request sent");
    int seen = 0;
    bool arp = receive(&v, is_arp_reply, &seen);
    check(arp, "net: ARP reply from the peer (%d frames looked at)", seen);
    if (arp)
        printf("net: %u.%u.%u.%u is at %02x:%02x:%02x:%02x:%02x:%02x\n", peer_ip[0], peer_ip[1], peer_ip[2],
               peer_ip[3], peer_mac[0], peer_mac[1], peer_mac[2], peer_mac[3], peer_mac[4], peer_mac[5]);
    else
        finish("net");

    /* UDP my_ip:GUEST_PORT -> peer:UDP_PORT, checksum 0 (none). */
    static const char text[] = "ping-from-guest-kit";
    uint32_t plen = sizeof text - 1;
    uint8_t *ip = eth(tx_buf + HDR, peer_mac, 0x0800);
    memset(ip, 0, 20);
    ip[0] = 0x45; put16(ip + 2, (uint16_t)(20 + 8 + plen)); ip[6] = 0x40; ip[8] = 64; ip[9] = 17;
    memcpy(ip + 12, my_ip, 4); memcpy(ip + 16, peer_ip, 4);
    put16(ip + 10, ip_checksum(ip, 20));
    uint8_t *udp = ip + 20;
    put16(udp, GUEST_PORT); put16(udp + 2, UDP_PORT); put16(udp + 4, (uint16_t)(8 + plen)); put16(udp + 6, 0);
    memcpy(udp + 8, text, plen);
    check(send_frame(&v, 14 + 20 + 8 + plen), "net: UDP datagram sent");
    seen = 0;
    bool answered = receive(&v, is_udp_answer, &seen);
    check(answered, "net: UDP answer from the peer (%d frames looked at)", seen);
    if (answered) printf("net: UDP answer: %s\n", udp_text);
    finish("net");
}
