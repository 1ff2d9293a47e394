/* console: drives insula's virtio-console (`--console hvc`) directly: a
 * line through emerg_wr (config space), a line on transmitq0, and the bytes
 * the host writes on stdin from receiveq0, echoed back on transmitq0. The
 * test reads the hvc lines on insula's stdout; this guest's own report goes
 * to COM1 and never repeats the hvc texts, so each path is seen apart. */
#include "guest.h"
#include "pci.h"

#define F_SIZE (1ull << 0)
#define F_EMERG_WRITE (1ull << 2)
enum { RXQ = 0, TXQ = 1 };

static char rx_buf[64];
static char tx_buf[96];

static bool send(struct virtio_dev *v, const char *text, uint32_t n) {
    memcpy(tx_buf, text, n);
    void *bufs[1] = {tx_buf};
    bool wr[1] = {false};
    uint32_t len;
    return virtq_submit(v, TXQ, bufs, &n, wr, 1) >= 0 && virtq_wait(v, TXQ, &len, VIRTQ_WAIT) >= 0;
}

void guest_main(void) {
    struct virtio_dev v;
    if (!virtio_find(&v, VIRTIO_ID_CONSOLE, "console", 0, F_SIZE | F_EMERG_WRITE, 2)) {
        check(false, "virtio-console present and set up");
        finish("console");
    }
    if (v.features & F_SIZE)
        printf("console: %u columns, %u rows\n", virtio_cfg16(&v, 0), virtio_cfg16(&v, 2));
    check(virtio_cfg32(&v, 4) >= 1, "console: max_nr_ports %u", virtio_cfg32(&v, 4));
    check(v.features & F_EMERG_WRITE, "console: EMERG_WRITE offered");
    if (v.features & F_EMERG_WRITE) {
        static const char emerg[] = "hvc-emerg: ok\n";
        for (const char *p = emerg; *p; p++) virtio_cfg_write32(&v, 8, (uint8_t)*p);
    }
    /* The receive buffer goes up first, so no input waits on us. */
    void *bufs[1] = {rx_buf};
    uint32_t lens[1] = {sizeof rx_buf - 1};
    bool wr[1] = {true};
    check(virtq_submit(&v, RXQ, bufs, lens, wr, 1) >= 0, "console: receive buffer posted");
    static const char hello[] = "hvc-tx: hello from the guest kit over virtio-console\n";
    check(send(&v, hello, sizeof hello - 1), "console: transmitq0 line sent");
    /* Input arrives in pieces as stdin delivers it: collect up to a newline. */
    char line[64];
    uint32_t got = 0;
    while (got < sizeof line - 1 && (got == 0 || line[got - 1] != '\n')) {
        uint32_t n;
        if (virtq_wait(&v, RXQ, &n, VIRTQ_WAIT) < 0) break;
        if (n > sizeof rx_buf - 1) n = sizeof rx_buf - 1;
        if (n > sizeof line - 1 - got) n = sizeof line - 1 - got;
        memcpy(line + got, rx_buf, n);
        got += n;
        virtq_submit(&v, RXQ, bufs, lens, wr, 1);
    }
    line[got] = 0;
    check(got > 0 && line[got - 1] == '\n', "console: a line arrived on receiveq0 (%u bytes)", got);
    if (got) {
        char echo[96];
        int n = snprintf(echo, sizeof echo, "hvc-echo: %s", line);
        if (line[got - 1] != '\n') echo[n++] = '\n';
        check(send(&v, echo, (uint32_t)n), "console: echo sent");
        printf("console: %u bytes received and echoed\n", got);
    }
    finish("console");
}
