/* Test guest: an ACPI guest's answer to the power button, in a few
   instructions. Enables the power-button event in PM1_EN, prints '.' while it
   polls PM1_STS (no interrupts, so it also runs on PVM), and when the host
   presses the button prints "power button" and enters S5 through PM1_CNT. */
#include "pvh_note.inc"
    PVH_ENTRY_NOTE _start

    .set PM1_STS, 0x600          /* arch/x86/layout.h kAcpiPm1EvtPort */
    .set PM1_EN, 0x602
    .set PM1_CNT, 0x604
    .set PWRBTN, 0x100           /* bit 8 in PM1_STS and PM1_EN */
    .set S5_SLP_EN, (5 << 10) | (1 << 13)

    .text
    .code32
    .globl _start
_start:
    mov $PM1_EN, %dx
    mov $PWRBTN, %ax
    out %ax, %dx
1:  mov $3000, %ecx
2:  dec %ecx
    jnz 2b
    mov $0x3f8, %dx
    mov $'.', %al
    out %al, %dx
    mov $PM1_STS, %dx
    in %dx, %ax
    test $PWRBTN, %ax
    jz 1b
    mov $msg, %esi
3:  lodsb
    test %al, %al
    jz 4f
    mov $0x3f8, %dx
    out %al, %dx
    jmp 3b
4:  mov $PM1_CNT, %dx
    mov $S5_SLP_EN, %ax
    out %ax, %dx
5:  hlt
    jmp 5b

    .section .rodata
msg: .asciz "\npower button\n"
    .section .note.GNU-stack, "", @progbits
