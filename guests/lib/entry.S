/* Shared 32-bit entry code: our own flat GDT (neither multiboot nor PVH
 * promises a usable one), the boot stack, and the jump into C. */
    .section .text
    .globl common_entry
/* In: %esp = boot stack with the C arguments already pushed, %ecx = C function. */
common_entry:
    lgdt gdt_desc
    ljmp $0x08, $1f
1:  mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ax, %fs
    mov %ax, %gs
    call *%ecx
2:  cli
    hlt
    jmp 2b

    .section .rodata
    .align 8
    .globl gdt
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff /* 0x08: flat 32-bit code */
    .quad 0x00cf92000000ffff /* 0x10: flat data */
gdt_end:
    .globl gdt_desc
    .align 4
    .word 0
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt

    .section .bss
    .align 16
    .globl boot_stack_top
boot_stack:
    .skip 16384
boot_stack_top:
    .section .note.GNU-stack, "", @progbits
