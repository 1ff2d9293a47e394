/* Test guest: loads an empty IDT and divides by zero: the #DE cannot be
   delivered, nor the #DF, so the CPU shuts down (a triple fault). */
#include "pvh_note.inc"
    PVH_ENTRY_NOTE _start

    .text
    .code32
    .globl _start
_start:
    lidt idt_desc
    xor %ecx, %ecx
    mov $1, %eax
    div %ecx
    hlt
    .balign 8
idt_desc:
    .word 0
    .long 0
    .section .note.GNU-stack, "", @progbits
