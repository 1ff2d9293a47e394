/* PVH entry: an ELF note XEN_ELFNOTE_PHYS32_ENTRY (18) gives the 32-bit entry;
 * EBX = hvm_start_info. */
#include "pvh_note.inc"
    PVH_ENTRY_NOTE _start

    .section .text
    .globl _start
_start:
    cli
    cld
    mov $boot_stack_top, %esp
    push %ebx
    mov $boot_pvh, %ecx
    jmp common_entry
    .section .note.GNU-stack, "", @progbits
