/* Test guest: prints "boot" and pulses the reset line through the i8042
   (command 0xFE on port 0x64), as Linux's "reboot=k" does. */
#include "pvh_note.inc"
    PVH_ENTRY_NOTE _start

    .text
    .code32
    .globl _start
_start:
    mov $0x3f8, %dx
    mov $'b', %al
    out %al, %dx
    mov $'\n', %al
    out %al, %dx
    mov $0xfe, %al
    out %al, $0x64
1:  hlt
    jmp 1b
    .section .note.GNU-stack, "", @progbits
