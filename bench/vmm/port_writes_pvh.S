/* Benchmark guest: 200000 writes to an unused port (0x510 + 0x100 = 0x610
   is claimed by nobody), then the debug-exit port. Measures the exit path. */
#include "pvh_note.inc"
    PVH_ENTRY_NOTE _start

    .text
    .code32
    .globl _start
_start:
    mov $200000, %ecx
    mov $0x610, %dx
1:  out %al, %dx
    dec %ecx
    jnz 1b
    mov $0xf4, %dx
    xor %eax, %eax
    out %eax, %dx
    hlt
    .section .note.GNU-stack, "", @progbits
