#!/usr/bin/env python3
"""Test helper: a seccomp notify listener (linux.seccomp.listenerPath).
Accepts COUNT connections (create, then exec), each with the container
process state JSON and a notify fd (SCM_RIGHTS); writes the JSON to
STATE_FILE.N, and answers every notification until the filter goes away:
getppid returns 4242, mkdir and mkdirat fail with EDQUOT, anything else gets
ENOSYS. Exits with 1 when a connection brought no fd.

usage: seccomp_listener.py SOCKET STATE_FILE COUNT"""
import ctypes, errno, fcntl, json, os, select, socket, sys, threading

# linux/seccomp.h (x86_64 numbers for the syscalls answered).
class SeccompData(ctypes.Structure):
    _fields_ = [("nr", ctypes.c_int), ("arch", ctypes.c_uint32), ("ip", ctypes.c_uint64), ("args", ctypes.c_uint64 * 6)]

class Notif(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("pid", ctypes.c_uint32), ("flags", ctypes.c_uint32), ("data", SeccompData)]

class Resp(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("val", ctypes.c_int64), ("error", ctypes.c_int32), ("flags", ctypes.c_uint32)]

def iowr(nr, size):  # _IOWR('!', nr, size)
    return (3 << 30) | (size << 16) | (ord("!") << 8) | nr

NOTIF_RECV = iowr(0, ctypes.sizeof(Notif))
NOTIF_SEND = iowr(1, ctypes.sizeof(Resp))
GETPPID, MKDIR, MKDIRAT = 110, 83, 258

def answer(fd):
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    while True:
        events = poll.poll(60000)
        if not events or events[0][1] & select.POLLHUP:
            break  # the filter's processes are gone
        req = Notif()
        try:
            fcntl.ioctl(fd, NOTIF_RECV, req, True)
        except OSError:
            continue  # the caller was killed meanwhile
        resp = Resp(id=req.id)
        if req.data.nr == GETPPID:
            resp.val = 4242
        elif req.data.nr in (MKDIR, MKDIRAT):
            resp.error = -errno.EDQUOT
        else:
            resp.error = -errno.ENOSYS
        try:
            fcntl.ioctl(fd, NOTIF_SEND, resp, True)
        except OSError:
            pass


sock_path, state_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sock_path)
srv.listen(count)
srv.settimeout(60)
threads, ok = [], True
for n in range(1, count + 1):
    conn, _ = srv.accept()
    msg, fds, _, _ = socket.recv_fds(conn, 65536, 1)
    while True:  # the runtime sends one message and closes
        more = conn.recv(65536)
        if not more:
            break
        msg += more
    conn.close()
    state = json.loads(msg)
    state["received_fds"] = len(fds)
    with open(f"{state_file}.{n}.tmp", "w") as f:
        json.dump(state, f)
    os.rename(f"{state_file}.{n}.tmp", f"{state_file}.{n}")
    if not fds:
        ok = False
        continue
    t = threading.Thread(target=answer, args=(fds[0],))
    t.start()
    threads.append(t)
for t in threads:
    t.join()
sys.exit(0 if ok else 1)
