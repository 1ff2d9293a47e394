#!/usr/bin/env python3
"""Container lifecycle latency: `RUNTIME run` (create + start + wait + delete)
of /bin/true in a busybox bundle, N times; prints median/p90 latency and the
peak RSS of the runtime process measured by /usr/bin/time -f %M over 10
further runs (a separate pass, so the latency runs carry no wrapper).
Usage: lifecycle.py NAME RUNTIME BUNDLE ROOT N"""
import os, statistics, subprocess, sys, tempfile, time

name, runtime, bundle, root, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
times = []
for i in range(n):
    cid = f"bench-{name}-{i}"
    t0 = time.perf_counter()
    r = subprocess.run([runtime, "--root", root, "run", "--bundle", bundle, cid],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    times.append((time.perf_counter() - t0) * 1000)
    if r.returncode != 0:
        sys.exit(f"{name}: run {i} failed ({r.returncode}): {r.stderr.decode().strip()}")
rss_kb = 0
with tempfile.NamedTemporaryFile() as out:
    for i in range(10):
        cid = f"bench-{name}-rss-{i}"
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, runtime, "--root", root, "run", "--bundle", bundle, cid],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        rss_kb = max(rss_kb, int(open(out.name).read().split()[-1]))
times.sort()
print(f"{name} {statistics.median(times):.2f} {times[int(len(times) * 0.9)]:.2f} {rss_kb}")
