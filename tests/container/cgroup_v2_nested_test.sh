#!/usr/bin/env bash
# The OCI runtime on a pure cgroup2 hierarchy: this build host is hybrid (v1
# controllers), so insula-runc runs inside the emulated-hardware test host
# (tests/nested/testhost), where inner_cgroup_v2.sh mounts cgroup2 with every
# controller and checks one container's cgroup files from outside. Its
# "CHECK <name> PASS|FAIL" lines go to BUILD_DIR/tests/linux/cgroup_v2_checks.txt
# for tests/linux/check.sh (one ctest test per check).
# Usage: cgroup_v2_nested_test.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$1
out=$build/tests/linux/cgroup_v2_checks.txt
mkdir -p "$(dirname "$out")"
rm -f "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
busybox=${BUSYBOX:-/bin/busybox}
ldd "$busybox" >/dev/null 2>&1 && { echo "$busybox is not static (needs busybox-static)"; exit 1; }
ldd "$build/insula-runc" >/dev/null 2>&1 && { echo "$build/insula-runc is not static"; exit 1; }
loop=$(find "$root/.cache/kernel/lib/modules" -name loop.ko 2>/dev/null | head -1)
[ -n "$loop" ] || "$root/scripts/prepare.d/20-debian-kernel.sh" >&2
loop=$(find "$root/.cache/kernel/lib/modules" -name loop.ko | head -1)
[ -n "$loop" ] || { echo "no loop.ko in .cache/kernel"; exit 1; }
# Without debug info: the test host unpacks every copied byte under TCG.
strip -o "$work/insula-runc" "$build/insula-runc" || exit 1
# The bundle: busybox (applet links are made inside) and runc's default config
# with the limits inner_cgroup_v2.sh expects.
b=$work/ct
mkdir -p "$b/rootfs/bin" "$b/rootfs/etc" "$b/rootfs/tmp" "$b/rootfs/proc" "$b/rootfs/sys" "$b/rootfs/dev"
cp "$busybox" "$b/rootfs/bin/busybox"
echo 'root:x:0:0:root:/root:/bin/sh' >"$b/rootfs/etc/passwd"
"$build/insula-runc" spec --bundle "$b" || exit 1
python3 - "$b/config.json" <<'PY' || exit 1
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
# A shell as init: it reaps the fork bomb's orphans (pids.current counts zombies).
c["process"]["args"] = ["sh", "-c", "while :; do sleep 1; done"]
c["root"]["readonly"] = False
dev = lambda rate: [{"major": 7, "minor": 0, "rate": rate}]
c["linux"]["resources"] = {
    "memory": {"limit": 33554432, "reservation": 16777216, "swap": 33554432},
    "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "1", "mems": "0"},
    "pids": {"limit": 16},
    "blockIO": {"weight": 500, "throttleReadBpsDevice": dev(1048576), "throttleWriteIOPSDevice": dev(1000)},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
    "unified": {"cgroup.max.descendants": "5"},
    # Deny all but the default devices, then loop0 for reading only (loop1 has a node, no rule).
    "devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "r"}],
}
c["linux"]["devices"] = [{"path": f"/dev/loop{n}", "type": "b", "major": 7, "minor": n, "fileMode": 0o660} for n in (0, 1)]
json.dump(c, open(p, "w"), indent=1)
PY
"$root/tests/nested/testhost" run --timeout 600 --file "$work/insula-runc:/insula-runc" --file "$b:/ct" \
  --file "$loop:/loop.ko" --file "$here/inner_cgroup_v2.sh:/inner.sh" -- sh /inner.sh >"$out.log" 2>&1
st=$?
grep '^CHECK ' "$out.log" | tr -d '\r' >"$out"
grep -v '^CHECK ' "$out.log" | tail -40
cat "$out"
grep -q "INNER DONE" "$out.log" || { echo "the test host run did not complete (status $st)"; exit 1; }
