#!/usr/bin/env python3
"""API request latency: insula's VMM `GET /` vs QEMU's QMP `query-status`.

Both VMMs are idle (insula: `insula vmm` with nothing configured; QEMU:
microvm with -S, no guest running) and asked over a unix socket by one
keep-alive client in this process: N requests one after the other, each
timed from just before the send to the end of the parsed reply. insula's
reply is read with http.client (Content-Length body); QMP's is one JSON
line. Prints p50/p99/mean in microseconds and the insula/QEMU ratios.

Usage: bench/vm/api_latency.py BUILD_DIR [--requests 5000]
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def wait_for_socket(path, proc, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        if os.path.exists(path):
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                return s
            except OSError:
                pass
        time.sleep(0.01)
    raise RuntimeError(f"{path} did not appear")


def percentiles(ns):
    us = sorted(x / 1000 for x in ns)
    return {"p50": us[len(us) // 2], "p99": us[int(len(us) * 0.99)], "mean": statistics.fmean(us)}


def insula(build, n, tmp):
    sock = tmp + "/api.sock"
    p = subprocess.Popen([build + "/insula", "vmm", "--api-sock", sock, "--log", tmp + "/log"])
    try:
        wait_for_socket(sock, p).close()
        c = UnixHTTP(sock)
        times = []
        for i in range(n + 100):  # the first 100 warm up
            t = time.perf_counter_ns()
            c.request("GET", "/")
            r = c.getresponse()
            body = r.read()
            dt = time.perf_counter_ns() - t
            if r.status != 200 or b"state" not in body:
                raise RuntimeError(f"GET /: {r.status} {body!r}")
            if i >= 100:
                times.append(dt)
        c.close()
        return percentiles(times)
    finally:
        p.terminate()
        p.wait()


def qemu(n, tmp):
    sock = tmp + "/qmp.sock"
    p = subprocess.Popen(["qemu-system-x86_64", "-accel", "kvm", "-M", "microvm", "-nodefaults", "-no-user-config",
                          "-display", "none", "-m", "64M", "-S", "-qmp", f"unix:{sock},server=on,wait=off"],
                         stdout=subprocess.DEVNULL)
    try:
        s = wait_for_socket(sock, p)
        f = s.makefile("rwb", buffering=0)
        f.readline()  # greeting
        s.sendall(b'{"execute": "qmp_capabilities"}\n')
        f.readline()
        times = []
        for i in range(n + 100):
            t = time.perf_counter_ns()
            s.sendall(b'{"execute": "query-status"}\n')
            line = f.readline()
            dt = time.perf_counter_ns() - t
            reply = json.loads(line)
            if "return" not in reply:
                raise RuntimeError(f"query-status: {line!r}")
            if i >= 100:
                times.append(dt)
        s.close()
        return percentiles(times)
    finally:
        p.terminate()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--requests", type=int, default=5000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        i = insula(os.path.abspath(a.build), a.requests, tmp)
        q = qemu(a.requests, tmp)
    print(f"{a.requests} requests, one keep-alive client, microseconds")
    print(f"{'':28} {'p50':>8} {'p99':>8} {'mean':>8}")
    print(f"{'insula GET /':28} {i['p50']:8.1f} {i['p99']:8.1f} {i['mean']:8.1f}")
    print(f"{'QEMU QMP query-status':28} {q['p50']:8.1f} {q['p99']:8.1f} {q['mean']:8.1f}")
    print(f"{'insula / QEMU':28} {i['p50'] / q['p50']:8.2f} {i['p99'] / q['p99']:8.2f} {i['mean'] / q['mean']:8.2f}")


if __name__ == "__main__":
    main()
