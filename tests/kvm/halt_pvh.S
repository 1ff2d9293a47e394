/* Test guest: halts with interrupts off at once (the vCPU never runs again).
   For pausing a machine one of whose vCPUs has ended. */
#include "pvh_note.inc"
    PVH_ENTRY_NOTE _start

    .text
    .code32
    .globl _start
_start:
    cli
1:  hlt
    jmp 1b
    .section .note.GNU-stack, "", @progbits
