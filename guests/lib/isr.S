/* Interrupt entry stubs for all 256 vectors: push a uniform frame
 * (error code or 0, vector, pusha) and call irq_dispatch(frame).
 * Handlers run at CPL 0 only, on the interrupted stack. */
    .section .text
    .altmacro
.macro stub v
    .align 16
isr_\v:
    .if (\v == 8 || (\v >= 10 && \v <= 14) || \v == 17 || \v == 21)
    .else
    push $0
    .endif
    push $\v
    jmp isr_common
.endm

    .globl isr_stubs
    .align 16
isr_stubs:
    .set i, 0
    .rept 256
    stub %i
    .set i, i + 1
    .endr

isr_common:
    pusha
    cld
    push %esp
    call irq_dispatch
    add $4, %esp
    popa
    add $8, %esp
    /* Return without iret: KVM's instruction emulator (all PVM guests run
     * under it) handles iret only in real mode. Same-privilege return, so
     * popf + near ret restores EFLAGS, EIP (CS is unchanged). */
    pushl 8(%esp)
    popfl
    ret $8
    .section .note.GNU-stack, "", @progbits
