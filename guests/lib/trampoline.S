/* AP start-up: the real-mode trampoline (copied below 1 MiB; a SIPI starts
 * each AP at its first byte with CS = page >> 4, IP = 0) enters protected
 * mode with the kernel's GDT and jumps to ap_entry32, which takes a stack
 * and calls *ap_main_fn. */
#define AP_STACK_SIZE 4096
#define AP_MAX 32
    .section .text
    .code16
    .globl trampoline_start, trampoline_end
trampoline_start:
    cli
    mov %cs, %ax
    mov %ax, %ds
    lgdtl (tramp_gdtr - trampoline_start)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $ap_entry32
    .align 4
tramp_gdtr:
    .word 23
    .long gdt
trampoline_end:

    .code32
ap_entry32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    mov $1, %eax
    lock xadd %eax, ap_next_stack
    cmp $AP_MAX, %eax
    jae 2f
    inc %eax
    shl $12, %eax
    add $ap_stacks, %eax
    mov %eax, %esp
    call *ap_main_fn
2:  cli
    hlt
    jmp 2b

    .section .bss
    .globl ap_main_fn, ap_next_stack
    .align 4
ap_main_fn:
    .long 0
ap_next_stack:
    .long 0
    .align 16
ap_stacks:
    .skip AP_STACK_SIZE * AP_MAX
    .section .note.GNU-stack, "", @progbits
