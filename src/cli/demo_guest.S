/* The built-in demo guest, linked into the insula binary (see default_guest.cc). */
    .section .rodata
    .balign 16
    .globl insula_demo_guest_start
    .globl insula_demo_guest_end
insula_demo_guest_start:
#ifdef INSULA_DEMO_GUEST_FILE
    .incbin INSULA_DEMO_GUEST_FILE
#endif
insula_demo_guest_end:
    .section .note.GNU-stack,"",@progbits
