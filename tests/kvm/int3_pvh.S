/* Test guest: executes int3 with no IDT. On PVM this is an instruction KVM
   cannot emulate (insula must explain); elsewhere it triple-faults. */
#include "pvh_note.inc"
    PVH_ENTRY_NOTE _start

    .text
    .code32
    .globl _start
_start:
    int3
    hlt
    .section .note.GNU-stack, "", @progbits
