/* The guest kit's shared runtime: one header for every freestanding guest.
 * Guests run in 32-bit protected mode, paging off, flat segments; everything
 * here is written to be short in instructions (PVM emulates each one). */
#ifndef INSULA_GUEST_H
#define INSULA_GUEST_H

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef int int32_t;
typedef long long int64_t;
typedef unsigned int size_t;
typedef unsigned int uintptr_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

/* ---- debug-exit values (the VMM exits with status (value << 1) | 1) ---- */
#define EXIT_PASS 0x10      /* status 33: every check passed */
#define EXIT_FAIL 0x11      /* status 35: at least one check failed */
#define EXIT_BADBOOT 0x12   /* status 37: no multiboot/PVH boot information */
#define EXIT_EXCEPTION 0x13 /* status 39: an unexpected CPU exception */
#define DEBUG_EXIT_PORT 0xf4

/* ---- port and memory-mapped I/O ---- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t mmio_read32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_write32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline uint64_t rdtsc(void) { uint32_t lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((uint64_t)hi << 32) | lo; }
static inline uint64_t rdmsr(uint32_t msr) { uint32_t lo, hi; __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr)); return ((uint64_t)hi << 32) | lo; }
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void pause(void) { __asm__ volatile("pause" ::: "memory"); }
/* sti;hlt is atomic with respect to interrupts (the sti shadow), so no wakeup is lost. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }

/* ---- strings (no libc) ---- */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

/* ---- serial console (COM1, polls LSR THRE before each byte) and printf-lite ---- */
void serial_init(void);
void serial_putc(char c);
void serial_puts(const char *s);
/* %s %c %d %u %x %p, optional '0' and width, 'll' for 64-bit (%llu %llx). */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- exit ---- */
__attribute__((noreturn)) void debug_exit(uint8_t value);

/* ---- checks: every failed check prints "FAIL: <reason>"; finish() prints the verdict ---- */
void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int failures(void);
/* Prints "PASS: <name>" (or "FAIL: <name>: N check(s) failed") and debug-exits. */
__attribute__((noreturn)) void finish(const char *name);

/* ---- boot information, normalised from multiboot v1 or PVH ---- */
#define MEM_USABLE 1
#define MEM_RESERVED 2
#define MEM_ACPI 3
#define MEM_NVS 4
#define MAX_MEM_RANGES 32
struct mem_range {
    uint64_t base, len;
    uint32_t type;
};
struct boot_info {
    const char *format; /* "multiboot" or "pvh" */
    char cmdline[512];  /* arguments only (multiboot's leading kernel name removed) */
    struct mem_range map[MAX_MEM_RANGES];
    int map_count;
    bool has_meminfo; /* multiboot mem_lower/mem_upper valid */
    uint32_t mem_lower_kb, mem_upper_kb;
    bool has_initrd;
    uint64_t initrd_base, initrd_size;
    uint64_t rsdp; /* PVH start info's RSDP address, 0 if none */
};
extern struct boot_info boot;
extern char __kernel_start[], __kernel_end[];
/* The guest's entry point, called with the boot information filled in. */
void guest_main(void);

/* ---- command line: "key=value" words ---- */
/* Copies the value of key into buf; false when the key is absent. */
bool cmdline_get(const char *key, char *buf, size_t n);
/* Parses a number (decimal or 0x hex, optional K/M/G suffix); false if absent or bad. */
bool cmdline_u64(const char *key, uint64_t *out);
bool parse_u64(const char *s, uint64_t *out);

/* ---- time: TSC only, for timeouts (any TSC rate from 0.5 to 5 GHz is fine) ---- */
void tsc_delay(uint64_t cycles);

/* ---- interrupts ---- */
struct irq_frame {
    uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;
    uint32_t vector, error, eip, cs, eflags;
};
typedef void (*irq_handler)(struct irq_frame *f);
void idt_init(void);
void idt_set_handler(uint8_t vector, irq_handler h);
void pic_mask_all(void);

/* ---- local APIC and IO APIC (xAPIC MMIO) ---- */
#define LAPIC_DEFAULT_BASE 0xfee00000u
#define IOAPIC_DEFAULT_BASE 0xfec00000u
uint32_t lapic_base(void);
uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t v);
uint32_t lapic_id(void);
void lapic_enable(void); /* software-enable via SVR, spurious vector 0xff */
void lapic_eoi(void);
/* Sends an IPI; waits for the delivery-status bit to clear. */
void lapic_send_ipi(uint32_t dest_apic, uint32_t icr_low);
uint32_t ioapic_read(uint32_t base, uint32_t reg);
void ioapic_write(uint32_t base, uint32_t reg, uint32_t v);
/* Routes a GSI to a vector on APIC ID dest (fixed, physical); edge/high unless told. */
void ioapic_route(uint32_t base, uint32_t gsi, uint8_t vector, uint8_t dest, bool level, bool active_low);

/* ---- QEMU fw_cfg (I/O port interface, selector 0x510, data 0x511) ---- */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NB_CPUS 0x05
bool fwcfg_present(void); /* signature reads "QEMU" */
void fwcfg_read(uint16_t key, void *buf, size_t n);

/* ---- ACPI ---- */
struct acpi_header {
    char sig[4];
    uint32_t length;
    uint8_t revision, checksum;
    char oem_id[6], oem_table_id[8];
    uint32_t oem_revision, creator_id, creator_revision;
} __attribute__((packed));
struct acpi_info {
    uint32_t rsdp;          /* physical address of the RSDP, 0 if none */
    uint8_t rsdp_revision;
    uint32_t root;          /* RSDT or XSDT address */
    bool xsdt;
    int table_count;
    int bad_checksums;      /* tables (and the RSDP) whose checksum is wrong */
    uint32_t madt, fadt, dsdt;
    int cpu_count;          /* enabled LAPIC / x2APIC entries in the MADT */
    uint32_t cpu_apic_ids[64];
    uint32_t lapic_addr, ioapic_addr, ioapic_gsi_base;
    int ioapic_count;
    int irq0_gsi;           /* IRQ0's GSI after interrupt source overrides */
    uint16_t irq0_flags;    /* MPS INTI flags of that override (0 = bus default) */
    uint32_t pm_tmr_blk;    /* FADT PM timer I/O port, 0 if none */
    uint8_t pm_tmr_len;
    bool pm_tmr_32bit;
    bool hw_reduced;        /* FADT HW_REDUCED_ACPI flag (e.g. QEMU microvm) */
};
uint8_t acpi_sum(const void *p, size_t n);
/* Finds the RSDP (PVH pointer first, then 0xE0000-0xFFFFF) and walks every table.
 * When verbose, prints one line per table. Returns false if no RSDP was found. */
bool acpi_scan(struct acpi_info *out, bool verbose);

/* ---- CPU count: cmdline cpus=, else fw_cfg, else MADT; 0 if unknown ---- */
int discover_cpu_count(const char **source);

#endif
