#!/usr/bin/env python3
"""Snapshot create and restore-to-running: insula vs QEMU, side by side.

The guest is the guest kit's counter (build/guests/counter-pvh.elf, one line
every millisecond: its LAPIC timer restarts its period when restored, so a
longer period would add itself to every restore time), which first writes one
dword into every page of all but 32 MiB of its RAM (fill_mib), so the RAM to
save is not all zero. For each guest size and round:

  insula  create : PUT /snapshot/create on the paused VM (state + sparse RAM file)
          restore: a fresh `insula vmm`, PUT /snapshot/load {resume_vm: true},
                   until the guest prints its next line
  QEMU    create : QMP stop; migrate "exec:cat > FILE" until completed
          restore: a fresh `qemu-system-x86_64 -incoming defer`, QMP
                   migrate-incoming "exec:cat FILE" until completed, cont,
                   until the next line

Each snapshot is restored twice: "process start to next line" (spawning the
VMM, waiting for its socket, the load at once, and the guest's next line),
then "load to running" (Firecracker's definition: the VMM already started,
here idle for IDLE seconds after its socket answers; from the load request
until the VM runs, i.e. until PUT /snapshot/load answers / until QMP cont
answers). Both VMMs are told the RAM size at start (QEMU -m, insula
--memory-hint-mib, as `insula vm start` does). --timing also prints the median of each INSULA_TIMING
mark of insula's restore (src/base/timing.h), in ms after the spawn. Usage:
  bench/vmm/snapshot_bench.py BUILD_DIR [--sizes 256,1024] [--rounds 3] [--timing]
"""
import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

COUNTER = re.compile(rb"counter: (\d+)\r?\n")


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=600)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def api(sock, method, path, body=None):
    c = UnixHTTP(sock)
    c.request(method, path, json.dumps(body) if body is not None else None, {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data!r}")
    return data


def wait_for(cond, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.001)
    raise RuntimeError("timed out")


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def check_continues(who, before, after):
    """The restored guest's output continues the saved one's. The snapshot may
    be taken in the middle of a line (one comes every millisecond): the
    restored guest then finishes it, so the two logs are checked joined."""
    nums = [int(m) for m in COUNTER.findall(before + after)]
    saved = len(COUNTER.findall(before))
    assert len(nums) > saved, f"{who}: the restored guest printed no whole line"
    assert all(b == a + 1 for a, b in zip(nums, nums[1:])), f"{who}: the count does not continue: {nums[-8:]}"


def counts(path):
    try:
        with open(path, "rb") as f:
            return [int(m) for m in COUNTER.findall(f.read())]
    except FileNotFoundError:
        return []


def wait_socket(path):
    wait_for(lambda: os.path.exists(path))
    def ok():
        try:
            api(path, "GET", "/")
            return True
        except OSError:
            return False
    wait_for(ok)


class Qmp:
    def __init__(self, path):
        def connected():
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                return True
            except OSError:  # not there or not listening yet
                self.s.close()
                return False
        wait_for(connected)
        self.f = self.s.makefile("rwb")
        self.f.readline()  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}).encode() + b"\n")
        self.f.flush()
        while True:
            msg = json.loads(self.f.readline())
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise RuntimeError(f"QMP {name}: {msg['error']}")


# "The VMM already started": how long it idles, once its socket answers,
# before the load request of Firecracker's definition is sent.
IDLE = 0.2


def args(mib):
    return f"period_ms=1 fill_mib={mib - 32}"


def timing_marks(path, t0):
    """INSULA_TIMING lines of a stderr file, as {what: ms after t0}."""
    marks = {}
    with open(path) as f:
        for line in f:
            if line.startswith("insula-timing: "):
                _, us, what = line.rstrip("\n").split(" ", 2)
                marks.setdefault(what, int(us) / 1000 - t0 * 1000)
    return marks


def insula_round(build, kernel, mib, tmp):
    exe = os.path.join(build, "insula")
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    for d in (a, b):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    snap, mem = os.path.join(tmp, "i.snap"), os.path.join(tmp, "i.mem")
    pa = subprocess.Popen([exe, "vmm", "--api-sock", a + "/api.sock", "--log", a + "/log", "--memory-hint-mib", str(mib)])
    try:
        wait_socket(a + "/api.sock")
        api(a + "/api.sock", "PUT", "/boot-source", {"kernel_image_path": kernel, "boot_args": args(mib)})
        api(a + "/api.sock", "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": mib})
        api(a + "/api.sock", "PUT", "/actions", {"action_type": "InstanceStart"})
        wait_for(lambda: len(counts(a + "/log")) >= 3, 300)
        api(a + "/api.sock", "PATCH", "/vm", {"state": "Paused"})
        t0 = time.monotonic()
        api(a + "/api.sock", "PUT", "/snapshot/create",
            {"snapshot_type": "Full", "snapshot_path": snap, "mem_file_path": mem})
        create = time.monotonic() - t0
        time.sleep(0.05)
        before = read(a + "/log")
    finally:
        pa.kill()
        pa.wait()
    _, whole, marks = insula_restore(exe, b, snap, mem, mib, before, 0)
    load, _, _ = insula_restore(exe, b, snap, mem, mib, before, IDLE)
    size = os.stat(mem).st_blocks * 512 + os.path.getsize(snap)
    return create, load, whole, size, marks


def insula_restore(exe, b, snap, mem, mib, before, idle):
    """A fresh VMM, idle seconds after its API answers, loads the snapshot:
    (load request to 204, spawn to the guest's next line, timing marks)."""
    shutil.rmtree(b, ignore_errors=True)
    os.makedirs(b)
    env = dict(os.environ, INSULA_TIMING="1")
    t0 = time.monotonic()
    pb = subprocess.Popen([exe, "vmm", "--api-sock", b + "/api.sock", "--log", b + "/log", "--memory-hint-mib", str(mib)],
                          stderr=open(b + "/stderr", "w"), env=env)
    try:
        wait_socket(b + "/api.sock")
        time.sleep(idle)
        t1 = time.monotonic()
        api(b + "/api.sock", "PUT", "/snapshot/load",
            {"snapshot_path": snap, "mem_backend": {"backend_type": "File", "backend_path": mem}, "resume_vm": True})
        load = time.monotonic() - t1
        wait_for(lambda: b"\n" in read(b + "/log"))  # the end of its next line
        whole = time.monotonic() - t0
        wait_for(lambda: counts(b + "/log"), 10)
    finally:
        pb.kill()
        pb.wait()
    check_continues("insula", before, read(b + "/log"))
    return load, whole, timing_marks(b + "/stderr", t0)


def qemu_cmd(kernel, mib, tmp, tag, extra):
    return ["qemu-system-x86_64", "-accel", "kvm", "-M", "microvm", "-nodefaults", "-no-user-config",
            "-display", "none", "-m", f"{mib}M", "-kernel", kernel, "-append", args(mib),
            "-serial", f"file:{tmp}/{tag}.log", "-qmp", f"unix:{tmp}/{tag}.qmp,server=on,wait=off"] + extra


def qemu_round(kernel, mib, tmp):
    state = os.path.join(tmp, "q.state")
    for f in ("qa.log", "qb.log", "qa.qmp", "qb.qmp", "q.state"):
        try:
            os.unlink(os.path.join(tmp, f))
        except FileNotFoundError:
            pass
    pa = subprocess.Popen(qemu_cmd(kernel, mib, tmp, "qa", []))
    try:
        q = Qmp(f"{tmp}/qa.qmp")
        wait_for(lambda: len(counts(f"{tmp}/qa.log")) >= 3, 300)
        q.cmd("stop")
        t0 = time.monotonic()
        q.cmd("migrate", uri=f"exec:cat > {state}")
        wait_for(lambda: q.cmd("query-migrate").get("status") in ("completed", "failed"), 600)
        create = time.monotonic() - t0
        if q.cmd("query-migrate")["status"] != "completed":
            raise RuntimeError("QEMU migration failed")
        time.sleep(0.05)
        before = read(f"{tmp}/qa.log")
    finally:
        pa.kill()
        pa.wait()
    _, whole = qemu_restore(kernel, mib, tmp, state, before, 0)
    load, _ = qemu_restore(kernel, mib, tmp, state, before, IDLE)
    return create, load, whole, os.path.getsize(state)


def qemu_restore(kernel, mib, tmp, state, before, idle):
    for f in ("qb.log", "qb.qmp"):
        try:
            os.unlink(os.path.join(tmp, f))
        except FileNotFoundError:
            pass
    t0 = time.monotonic()
    pb = subprocess.Popen(qemu_cmd(kernel, mib, tmp, "qb", ["-incoming", "defer"]))
    try:
        q = Qmp(f"{tmp}/qb.qmp")
        time.sleep(idle)
        t1 = time.monotonic()
        q.cmd("migrate-incoming", uri=f"exec:cat {state}")
        wait_for(lambda: q.cmd("query-status")["status"] in ("paused", "postmigrate", "prelaunch") and
                 q.cmd("query-migrate").get("status") == "completed", 600)
        q.cmd("cont")
        load = time.monotonic() - t1
        wait_for(lambda: b"\n" in read(f"{tmp}/qb.log"))  # the end of its next line
        whole = time.monotonic() - t0
        wait_for(lambda: counts(f"{tmp}/qb.log"), 10)
    finally:
        pb.kill()
        pb.wait()
    check_continues("QEMU", before, read(f"{tmp}/qb.log"))
    return load, whole


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--sizes", default="256,1024")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--timing", action="store_true", help="also print insula's restore phases (INSULA_TIMING)")
    o = p.parse_args()
    kernel = os.path.abspath(os.path.join(o.build, "guests", "counter-pvh.elf"))
    print("| guest RAM | step | insula ms | QEMU ms | insula / QEMU | files insula / QEMU |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="insula-snapbench-") as tmp:
        for mib in (int(s) for s in o.sizes.split(",")):
            ins, qem = [], []
            for _ in range(o.rounds):  # interleaved
                ins.append(insula_round(o.build, kernel, mib, tmp))
                qem.append(qemu_round(kernel, mib, tmp))
            steps = ("create", "restore: load to running (VMM started)", "restore: process start to next line")
            for i, step in enumerate(steps):
                a = [r[i] * 1000 for r in ins]
                b = [r[i] * 1000 for r in qem]
                am, bm = statistics.median(a), statistics.median(b)
                files = f"{ins[0][3] / 1e6:.1f} MB / {qem[0][3] / 1e6:.1f} MB" if i == 0 else ""
                print(f"| {mib} MiB | {step} | {am:.1f} ({min(a):.1f}-{max(a):.1f}) | {bm:.1f} ({min(b):.1f}-{max(b):.1f}) "
                      f"| {am / bm:.2f} | {files} |", flush=True)
            if o.timing:
                names = [w for w in ins[0][4] if all(w in r[4] for r in ins)]
                for w in sorted(names, key=lambda w: ins[0][4][w]):
                    v = [r[4][w] for r in ins]
                    print(f"|   {mib} MiB insula restore | {w} | {statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f}) ms after spawn |",
                          flush=True)


if __name__ == "__main__":
    sys.exit(main())
