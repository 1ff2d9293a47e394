/* hello: the smallest guest - one line on COM1, then debug-exit. */
#include "guest.h"

void guest_main(void) {
    printf("hello from the insula guest kit (%s boot)\n", boot.format);
    finish("hello");
}
