#!/usr/bin/env python3
"""Clone-to-running: insula vs QEMU, side by side.

The base is a qcow2 disk of --disk-mib MiB, fully written (so an overlay
that copied anything would show). The guest is the ticker guest
(build/tests/kvm/ticker_pvh.elf), 64 MiB, 1 vCPU. For each round:

  insula: `insula vm create cN --from base` (a qcow2 overlay over the
          source VM's disk, the records in SQLite) + `insula vm start cN`
          (spawns the VMM, configures it through its API, InstanceStart)
          until the VMM's GET / answers "Running"
  QEMU:   `qemu-img create -f qcow2 -b BASE -F qcow2 overlay` + a fresh
          `qemu-system-x86_64 -M microvm` with the overlay on virtio-blk
          until its QMP answers query-status "running"

Both include starting the processes. Rounds are interleaved; the median is
reported. Usage: bench/vm/clone_bench.py BUILD_DIR [--rounds 5] [--disk-mib 256]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vmm"))
from snapshot_bench import Qmp, api  # noqa: E402  (the shared QMP and unix-socket HTTP clients)


def run(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def insula_round(insula, state, i):
    vm = [insula, "vm", "--state-dir", state]
    name = f"c{i}"
    t0 = time.monotonic()
    run(*vm, "create", name, "--from", "base")
    run(*vm, "start", name)
    sock = f"{state}/vms/{name}/api.sock"
    while json.loads(api(sock, "GET", "/")).get("state") != "Running":
        time.sleep(0.001)
    t = time.monotonic() - t0
    run(*vm, "kill", name)
    run(*vm, "rm", name)
    return t


def qemu_round(kernel, base, tmp, i):
    overlay, qmp = f"{tmp}/q{i}.qcow2", f"{tmp}/q{i}.qmp"
    t0 = time.monotonic()
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", overlay)
    p = subprocess.Popen(["qemu-system-x86_64", "-accel", "kvm", "-M", "microvm", "-nodefaults", "-no-user-config",
                          "-m", "64", "-smp", "1", "-kernel", kernel, "-display", "none",
                          "-serial", f"file:{tmp}/q{i}.log", "-qmp", f"unix:{qmp},server=on,wait=off",
                          "-drive", f"file={overlay},format=qcow2,if=none,id=d0",
                          "-device", "virtio-blk-device,drive=d0"])
    try:
        q = Qmp(qmp)
        while q.cmd("query-status").get("status") != "running":
            time.sleep(0.001)
        t = time.monotonic() - t0
        q.cmd("quit")
    finally:
        p.wait(timeout=10) if p.poll() is None else None
    os.unlink(overlay)
    return t


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--disk-mib", type=int, default=256)
    o = p.parse_args()
    insula = os.path.abspath(os.path.join(o.build, "insula"))
    kernel = os.path.abspath(os.path.join(o.build, "tests", "kvm", "ticker_pvh.elf"))
    with tempfile.TemporaryDirectory(prefix="insula-clonebench-") as tmp:
        base = f"{tmp}/base.qcow2"
        raw = f"{tmp}/base.raw"
        with open(raw, "wb") as f:
            for _ in range(o.disk_mib):
                f.write(os.urandom(1 << 20))
        run("qemu-img", "convert", "-O", "qcow2", raw, base)
        os.unlink(raw)
        state = f"{tmp}/state"
        run(insula, "vm", "--state-dir", state, "create", "base", "--kernel", kernel, "--memory", "64M",
            "--disk", base)
        ins, qem = [], []
        for i in range(o.rounds):
            ins.append(insula_round(insula, state, i))
            qem.append(qemu_round(kernel, base, tmp, i))
        a, b = statistics.median(ins) * 1000, statistics.median(qem) * 1000
        print("| base disk | insula ms | QEMU ms | insula / QEMU |")
        print("|---|---|---|---|")
        print(f"| {o.disk_mib} MiB qcow2 | {a:.1f} | {b:.1f} | {a / b:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
