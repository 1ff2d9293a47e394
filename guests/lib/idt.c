/* The IDT: every vector goes to one C dispatcher; exceptions without a
 * registered handler end the guest with EXIT_EXCEPTION. */
#include "guest.h"

extern char isr_stubs[];
static uint64_t idt[256] __attribute__((aligned(8)));
static irq_handler handlers[256];

void irq_dispatch(struct irq_frame *f) {
    irq_handler h = handlers[f->vector & 0xff];
    if (h) {
        h(f);
        return;
    }
    if (f->vector < 32) {
        printf("FAIL: CPU exception %u (error 0x%x) at eip 0x%x\n", f->vector, f->error, f->eip);
        debug_exit(EXIT_EXCEPTION);
    }
    printf("FAIL: unexpected interrupt vector %u\n", f->vector);
    if (f->vector >= 0x20 && f->vector != 0xff) lapic_eoi();
}

void idt_init(void) {
    for (int v = 0; v < 256; v++) {
        /* Stubs are 16-byte aligned, one per vector (see isr.S). */
        uint32_t a = (uint32_t)(uintptr_t)isr_stubs + (uint32_t)v * 16;
        idt[v] = (a & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | ((uint64_t)(a >> 16) << 48);
    }
    struct {
        uint16_t limit;
        uint32_t base;
    } __attribute__((packed)) d = {sizeof idt - 1, (uint32_t)(uintptr_t)idt};
    __asm__ volatile("lidt %0" ::"m"(d));
}
void idt_set_handler(uint8_t vector, irq_handler h) { handlers[vector] = h; }

void pic_mask_all(void) {
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}
