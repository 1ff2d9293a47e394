/* Test guest: prints '.' after every few thousand loop iterations, forever
   (no interrupts, so it also runs on PVM). For pause/resume tests. */
#include "pvh_note.inc"
    PVH_ENTRY_NOTE _start

    .text
    .code32
    .globl _start
_start:
    mov $0x3f8, %dx
1:  mov $3000, %ecx
2:  dec %ecx
    jnz 2b
    mov $'.', %al
    out %al, %dx
    jmp 1b
    .section .note.GNU-stack, "", @progbits
