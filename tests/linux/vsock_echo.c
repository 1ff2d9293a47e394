/* vsock test peer, static, for the Linux-guest device tests.
 *   vsock_echo server PORT            (guest) accept one AF_VSOCK stream, echo it back
 *   vsock_echo client UDS PORT MSG    (host) Firecracker-style: connect to the
 *                                     unix socket, "CONNECT PORT\n", expect "OK ",
 *                                     send MSG, print what comes back */
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int read_line(int fd, char* buf, size_t n) {
  size_t i = 0;
  while (i + 1 < n) {
    ssize_t r = read(fd, buf + i, 1);
    if (r <= 0) return -1;
    if (buf[i++] == '\n') break;
  }
  buf[i] = 0;
  return (int)i;
}

int main(int argc, char** argv) {
  if (argc == 3 && !strcmp(argv[1], "server")) {
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_port = (unsigned)atoi(argv[2]), .svm_cid = VMADDR_CID_ANY};
    if (s < 0 || bind(s, (struct sockaddr*)&a, sizeof a) || listen(s, 1)) { perror("vsock listen"); return 1; }
    printf("vsock-echo: listening\n");
    fflush(stdout);
    int c = accept(s, 0, 0);
    if (c < 0) { perror("accept"); return 1; }
    char buf[4096];
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0)
      if (write(c, buf, (size_t)n) != n) return 1;
    return 0;
  }
  if (argc == 5 && !strcmp(argv[1], "client")) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, argv[2], sizeof a.sun_path - 1);
    if (connect(s, (struct sockaddr*)&a, sizeof a)) { perror("connect uds"); return 1; }
    char line[256];
    snprintf(line, sizeof line, "CONNECT %s\n", argv[3]);
    if (write(s, line, strlen(line)) < 0 || read_line(s, line, sizeof line) < 0 || strncmp(line, "OK ", 3)) {
      fprintf(stderr, "no OK after CONNECT: '%s'\n", line);
      return 1;
    }
    size_t len = strlen(argv[4]), got = 0;
    if (write(s, argv[4], len) != (ssize_t)len) return 1;
    char buf[4096];
    while (got < len) {
      ssize_t n = read(s, buf + got, sizeof buf - got);
      if (n <= 0) break;
      got += (size_t)n;
    }
    printf("echoed: %.*s\n", (int)got, buf);
    return got == len && !memcmp(buf, argv[4], len) ? 0 : 1;
  }
  fprintf(stderr, "usage: vsock_echo server PORT | client UDS PORT MSG\n");
  return 2;
}
