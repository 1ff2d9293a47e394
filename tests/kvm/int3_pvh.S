/* Test guest: executes int3 with no IDT. On PVM this is an instruction KVM
   cannot emulate (insula must explain); elsewhere it triple-faults. */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4, 4, 18
    .asciz "Xen"
    .long _start
    .text
    .code32
    .globl _start
_start:
    int3
    hlt
    .section .note.GNU-stack, "", @progbits
