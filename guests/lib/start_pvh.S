/* PVH entry: an ELF note XEN_ELFNOTE_PHYS32_ENTRY (18) gives the 32-bit entry;
 * EBX = hvm_start_info. */
    .section .note.pvh, "a", @note
    .align 4
    .long 4                     /* name size: "Xen\0" */
    .long 4                     /* descriptor size */
    .long 18                    /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .align 4
    .long _start

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
