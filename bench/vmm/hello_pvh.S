/* Benchmark guest: prints one line on COM1 and writes the debug-exit port.
   A PVH ELF (XEN_ELFNOTE_PHYS32_ENTRY), entered in 32-bit protected mode. */
#include "pvh_note.inc"
    PVH_ENTRY_NOTE _start

    .text
    .code32
    .globl _start
_start:
    mov $msg, %esi
1:  lodsb
    test %al, %al
    jz 2f
    mov $0x3f8, %dx
    out %al, %dx
    jmp 1b
2:  mov $0xf4, %dx
    xor %eax, %eax
    out %eax, %dx
    hlt
    jmp 2b
msg: .asciz "hello from a PVH guest\n"
    .section .note.GNU-stack, "", @progbits
