/* exitcode: debug-exits with the value given as code=N on the command line,
 * so a test can check the VMM's (value << 1) | 1 exit status. */
#include "guest.h"

void guest_main(void) {
    uint64_t code;
    if (!cmdline_u64("code", &code) || code > 255) {
        printf("FAIL: exitcode: no valid code=N (0..255) in cmdline \"%s\"\n", boot.cmdline);
        debug_exit(EXIT_FAIL);
    }
    printf("exitcode: writing %u to the debug-exit port\n", (uint32_t)code);
    debug_exit((uint8_t)code);
}
