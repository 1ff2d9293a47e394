/* Runtime basics: strings, COM1 output, printf-lite, checks, debug-exit,
 * command-line parsing and TSC delays. */
#include "guest.h"

#include <stdarg.h>

void *memcpy(void *d, const void *s, size_t n) {
    uint8_t *dp = d;
    const uint8_t *sp = s;
    while (n--) *dp++ = *sp++;
    return d;
}
void *memset(void *d, int c, size_t n) {
    uint8_t *dp = d;
    while (n--) *dp++ = (uint8_t)c;
    return d;
}
int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y) return *x - *y;
    return 0;
}
size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}
int strncmp(const char *a, const char *b, size_t n) {
    for (; n; n--, a++, b++) {
        if (*a != *b) return (uint8_t)*a - (uint8_t)*b;
        if (!*a) return 0;
    }
    return 0;
}

/* ---- COM1 ---- */
#define COM1 0x3f8
void serial_init(void) {
    outb(COM1 + 1, 0x00); /* no interrupts */
    outb(COM1 + 3, 0x80); /* DLAB */
    outb(COM1 + 0, 0x01); /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1 */
}
void serial_putc(char c) {
    /* Bounded wait for THR empty: a UART that never reports it must not hang us. */
    for (int i = 0; i < 1000 && !(inb(COM1 + 5) & 0x20); i++) pause();
    outb(COM1, (uint8_t)c);
}
void serial_puts(const char *s) {
    for (; *s; s++) {
        if (*s == '\n') serial_putc('\r');
        serial_putc(*s);
    }
}

/* ---- printf-lite ---- */
struct out {
    char *buf;
    size_t n, pos;
};
static void emit(struct out *o, char c) {
    if (o->pos + 1 < o->n) o->buf[o->pos] = c;
    o->pos++;
}
static void emit_num(struct out *o, uint64_t v, unsigned base, bool neg, int width, char pad) {
    char tmp[24];
    int i = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[i++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    if (neg) tmp[i++] = '-';
    for (int w = i; w < width; w++) emit(o, pad);
    while (i) emit(o, tmp[--i]);
}
static void vformat(struct out *o, const char *fmt, va_list ap) {
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(o, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, longs = 0;
        if (*fmt == '0') pad = '0', fmt++;
        while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l') longs++, fmt++;
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s) s = "(null)";
            int len = (int)strlen(s);
            for (int w = len; w < width; w++) emit(o, ' ');
            while (*s) emit(o, *s++);
            break;
        }
        case 'c': emit(o, (char)va_arg(ap, int)); break;
        case 'd': {
            int64_t v = longs >= 2 ? va_arg(ap, int64_t) : va_arg(ap, int32_t);
            emit_num(o, v < 0 ? (uint64_t)-v : (uint64_t)v, 10, v < 0, width, pad);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t v = longs >= 2 ? va_arg(ap, uint64_t) : va_arg(ap, uint32_t);
            emit_num(o, v, *fmt == 'u' ? 10 : 16, false, width, pad);
            break;
        }
        case 'p':
            emit(o, '0'), emit(o, 'x');
            emit_num(o, (uintptr_t)va_arg(ap, void *), 16, false, 8, '0');
            break;
        case '%': emit(o, '%'); break;
        default: emit(o, '?'); break;
        }
    }
    if (o->n) o->buf[o->pos < o->n ? o->pos : o->n - 1] = 0;
}
int snprintf(char *buf, size_t n, const char *fmt, ...) {
    struct out o = {buf, n, 0};
    va_list ap;
    va_start(ap, fmt);
    vformat(&o, fmt, ap);
    va_end(ap);
    return (int)o.pos;
}
/* Serialises whole lines between CPUs (the smp guest prints from every AP). */
static volatile int print_lock;
static int vprint(const char *fmt, va_list ap) {
    char buf[256];
    struct out o = {buf, sizeof buf, 0};
    vformat(&o, fmt, ap);
    while (__atomic_exchange_n(&print_lock, 1, __ATOMIC_ACQUIRE)) pause();
    serial_puts(buf);
    __atomic_store_n(&print_lock, 0, __ATOMIC_RELEASE);
    return (int)o.pos;
}
int printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vprint(fmt, ap);
    va_end(ap);
    return n;
}

/* ---- exit and verdicts ---- */
void debug_exit(uint8_t value) {
    outb(DEBUG_EXIT_PORT, value);
    /* A VMM without debug-exit: stop here rather than run off. */
    for (;;) __asm__ volatile("cli; hlt");
}
static int failed_checks;
void check(bool ok, const char *fmt, ...) {
    if (ok) return;
    failed_checks++;
    char buf[200];
    struct out o = {buf, sizeof buf, 0};
    va_list ap;
    va_start(ap, fmt);
    vformat(&o, fmt, ap);
    va_end(ap);
    printf("FAIL: %s\n", buf);
}
int failures(void) { return failed_checks; }
void finish(const char *name) {
    if (failed_checks) {
        printf("FAIL: %s: %d check(s) failed\n", name, failed_checks);
        debug_exit(EXIT_FAIL);
    }
    printf("PASS: %s\n", name);
    debug_exit(EXIT_PASS);
}

/* ---- command line ---- */
bool cmdline_get(const char *key, char *buf, size_t n) {
    size_t klen = strlen(key);
    const char *p = boot.cmdline;
    while (*p) {
        while (*p == ' ') p++;
        const char *word = p;
        while (*p && *p != ' ') p++;
        if ((size_t)(p - word) > klen && !strncmp(word, key, klen) && word[klen] == '=') {
            size_t len = (size_t)(p - word) - klen - 1, i;
            for (i = 0; i < len && i + 1 < n; i++) buf[i] = word[klen + 1 + i];
            if (n) buf[i] = 0;
            return true;
        }
    }
    return false;
}
bool parse_u64(const char *s, uint64_t *out) {
    uint64_t v = 0;
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) base = 16, s += 2;
    if (!*s) return false;
    for (; *s; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9') d = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f') d = (unsigned)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F') d = (unsigned)(*s - 'A' + 10);
        else break;
        v = v * base + d;
    }
    switch (*s) {
    case 0: break;
    case 'k': case 'K': v <<= 10, s++; break;
    case 'm': case 'M': v <<= 20, s++; break;
    case 'g': case 'G': v <<= 30, s++; break;
    default: return false;
    }
    if (*s) return false;
    *out = v;
    return true;
}
bool cmdline_u64(const char *key, uint64_t *out) {
    char buf[32];
    return cmdline_get(key, buf, sizeof buf) && parse_u64(buf, out);
}

void tsc_delay(uint64_t cycles) {
    uint64_t start = rdtsc();
    while (rdtsc() - start < cycles) pause();
}

/* ---- CPU count ---- */
int discover_cpu_count(const char **source) {
    uint64_t n;
    if (cmdline_u64("cpus", &n)) {
        *source = "cmdline cpus=";
        return (int)n;
    }
    if (fwcfg_present()) {
        uint16_t c = 0;
        fwcfg_read(FW_CFG_NB_CPUS, &c, sizeof c);
        *source = "fw_cfg";
        return c;
    }
    static struct acpi_info ai;
    if (acpi_scan(&ai, false) && ai.cpu_count) {
        *source = "ACPI MADT";
        return ai.cpu_count;
    }
    *source = "nothing";
    return 0;
}
