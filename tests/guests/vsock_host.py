#!/usr/bin/env python3
"""Host side of virtio_vsock_test.sh, in the order the vsock guest works:
1. listens on UDS_6000 and takes the guest's connection (guest -> host):
   reads a line, answers, waits for the guest to close;
2. connects to UDS, asks for guest port 1234 (host -> guest): reads "OK",
   the guest's greeting, sends a line, reads the echo, closes.
Prints what it saw, one line per event. Usage: vsock_host.py UDS READY_FILE"""
import os
import socket
import sys
import time

uds, ready = sys.argv[1], sys.argv[2]
TIMEOUT = 120


def read_line(s):
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").rstrip("\n")


listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(f"{uds}_6000")
listener.listen(1)
listener.settimeout(TIMEOUT)
open(ready, "w").close()

conn, _ = listener.accept()
conn.settimeout(TIMEOUT)
print(f"listener got: {read_line(conn)}", flush=True)
conn.sendall(b"reply-from-host-listener\n")
rest = conn.recv(64)
print("listener: guest closed" if rest == b"" else f"listener: unexpected {rest!r}", flush=True)
conn.close()

deadline = time.time() + TIMEOUT
while not os.path.exists(uds) and time.time() < deadline:
    time.sleep(0.05)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(TIMEOUT)
s.connect(uds)
s.sendall(b"CONNECT 1234\n")
print(f"connect: {read_line(s)}", flush=True)
print(f"connect got: {read_line(s)}", flush=True)
s.sendall(b"ping-from-host\n")
print(f"connect got: {read_line(s)}", flush=True)
s.close()
