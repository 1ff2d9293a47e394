#!/usr/bin/env python3
"""Snapshot create and restore-to-running: insula vs QEMU, side by side.

The guest is the guest kit's counter (build/guests/counter-pvh.elf, one line
every 20 ms), which first writes one dword into every page of all but 32 MiB
of its RAM (fill_mib), so the RAM to save is not all zero. For each guest
size and round:

  insula  create : PUT /snapshot/create on the paused VM (state + sparse RAM file)
          restore: a fresh `insula vmm`, PUT /snapshot/load {resume_vm: true},
                   until the guest prints its next line
  QEMU    create : QMP stop; migrate "exec:cat > FILE" until completed
          restore: a fresh `qemu-system-x86_64 -incoming "exec:cat FILE"`, QMP
                   cont once the migration is in, until the next line

Restore-to-running includes starting the process. Usage:
  bench/vmm/snapshot_bench.py BUILD_DIR [--sizes 256,1024] [--rounds 3]
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


def args(mib):
    return f"period_ms=20 fill_mib={mib - 32}"


def insula_round(build, kernel, mib, tmp):
    exe = os.path.join(build, "insula")
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    for d in (a, b):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    snap, mem = os.path.join(tmp, "i.snap"), os.path.join(tmp, "i.mem")
    pa = subprocess.Popen([exe, "vmm", "--api-sock", a + "/api.sock", "--log", a + "/log"])
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
        last = counts(a + "/log")[-1]
    finally:
        pa.kill()
        pa.wait()
    t0 = time.monotonic()
    pb = subprocess.Popen([exe, "vmm", "--api-sock", b + "/api.sock", "--log", b + "/log"])
    try:
        wait_socket(b + "/api.sock")
        api(b + "/api.sock", "PUT", "/snapshot/load",
            {"snapshot_path": snap, "mem_backend": {"backend_type": "File", "backend_path": mem}, "resume_vm": True})
        first = wait_for(lambda: counts(b + "/log"))[0]
        restore = time.monotonic() - t0
    finally:
        pb.kill()
        pb.wait()
    assert first == last + 1, f"insula resumed at {first}, expected {last + 1}"
    size = os.stat(mem).st_blocks * 512 + os.path.getsize(snap)
    return create, restore, size


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
        last = counts(f"{tmp}/qa.log")[-1]
    finally:
        pa.kill()
        pa.wait()
    t0 = time.monotonic()
    pb = subprocess.Popen(qemu_cmd(kernel, mib, tmp, "qb", ["-incoming", f"exec:cat {state}"]))
    try:
        q = Qmp(f"{tmp}/qb.qmp")
        wait_for(lambda: q.cmd("query-status")["status"] in ("paused", "postmigrate", "prelaunch") and
                 q.cmd("query-migrate").get("status") == "completed", 600)
        q.cmd("cont")
        first = wait_for(lambda: counts(f"{tmp}/qb.log"))[0]
        restore = time.monotonic() - t0
    finally:
        pb.kill()
        pb.wait()
    assert first == last + 1, f"QEMU resumed at {first}, expected {last + 1}"
    return create, restore, os.path.getsize(state)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--sizes", default="256,1024")
    p.add_argument("--rounds", type=int, default=3)
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
            for i, step in enumerate(("create", "restore to running")):
                a = statistics.median(r[i] for r in ins) * 1000
                b = statistics.median(r[i] for r in qem) * 1000
                files = f"{ins[0][2] / 1e6:.1f} MB / {qem[0][2] / 1e6:.1f} MB" if i == 0 else ""
                print(f"| {mib} MiB | {step} | {a:.1f} | {b:.1f} | {a / b:.2f} | {files} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
