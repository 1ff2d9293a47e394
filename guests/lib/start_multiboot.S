/* Multiboot v1 header and entry: EAX = 0x2BADB002, EBX = multiboot info. */
    .section .multiboot, "a"
    .align 4
    .long 0x1badb002
    .long 0x00000003            /* page-aligned modules, memory information */
    .long -(0x1badb002 + 0x00000003)

    .section .text
    .globl _start
_start:
    cli
    cld
    mov $boot_stack_top, %esp
    push %ebx
    push %eax
    mov $boot_multiboot, %ecx
    jmp common_entry
    .section .note.GNU-stack, "", @progbits
