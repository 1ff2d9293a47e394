#!/usr/bin/env python3
"""Container lifecycle latency: `RUNTIME run` (create + start + wait + delete)
of /bin/true in a busybox bundle, N rounds. The runtimes take turns within
each round, so load changes on a shared machine hit them alike. Prints the
median and p90 latency per runtime, and the peak RSS of the runtime process
(/usr/bin/time -f %M, max over 10 further runs, a separate pass so the timed
runs carry no wrapper).
Usage: lifecycle.py BUNDLE ROOT N NAME=RUNTIME..."""
import statistics, subprocess, sys, tempfile, time

bundle, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
runtimes = [a.split("=", 1) for a in sys.argv[4:]]
times = {name: [] for name, _ in runtimes}

def run(name, runtime, cid, prefix=()):
    r = subprocess.run([*prefix, runtime, "--root", f"{root}/{name}", "run", "--bundle", bundle, cid],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit(f"{name}: {cid} failed ({r.returncode}): {r.stderr.decode().strip()}")

for i in range(n):
    for name, runtime in runtimes:
        t0 = time.perf_counter()
        run(name, runtime, f"bench-{i}")
        times[name].append((time.perf_counter() - t0) * 1000)

print("runtime median_ms p90_ms peak_rss_kb")
for name, runtime in runtimes:
    rss = 0
    with tempfile.NamedTemporaryFile() as out:
        for i in range(10):
            run(name, runtime, f"bench-rss-{i}", ("/usr/bin/time", "-f", "%M", "-o", out.name))
            rss = max(rss, int(open(out.name).read().split()[-1]))
    t = sorted(times[name])
    print(f"{name} {statistics.median(t):.2f} {t[int(len(t) * 0.9)]:.2f} {rss}")
