#!/usr/bin/env bash
# Side-by-side container lifecycle benchmark: insula-runc vs crun vs runc.
# Usage: bench/container/run.sh [BUILD_DIR] [RUNS]   (root; busybox-static, crun, runc)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../../build}" && pwd)
runs=${2:-100}
T=$(mktemp -d /tmp/insula-bench-XXXXXX)
trap 'rm -rf "$T"' EXIT
b=$T/bundle
mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/sys" "$b/rootfs/dev" "$b/rootfs/tmp"
cp /bin/busybox "$b/rootfs/bin/busybox"
ln -s busybox "$b/rootfs/bin/true"; ln -s busybox "$b/rootfs/bin/sh"
"$build/insula-runc" spec --bundle "$b"
python3 - "$b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
# Debian's crun 1.8 refuses hybrid cgroups unless the cgroup2 mount is hidden,
# so all three run in one private mount namespace without it (same conditions
# for all: v1 controllers only), taking turns run by run.
unshare -m sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; exec python3 '$here/lifecycle.py' '$b' '$T/state' '$runs' \
  insula-runc='$build/insula-runc' crun='$(command -v crun)' runc='$(command -v runc)'"
