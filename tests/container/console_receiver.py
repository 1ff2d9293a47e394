#!/usr/bin/env python3
"""Test helper: listens on a unix socket, receives a pty master over
SCM_RIGHTS (the runc console-socket protocol) and copies its output to stdout."""
import os, socket, sys

path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
srv.settimeout(20)
conn, _ = srv.accept()
msg, fds, _, _ = socket.recv_fds(conn, 4096, 1)
master = fds[0]
while True:
    try:
        data = os.read(master, 4096)
    except OSError:
        break
    if not data:
        break
    sys.stdout.write(data.decode(errors="replace"))
    sys.stdout.flush()
