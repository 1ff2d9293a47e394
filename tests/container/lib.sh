# Shared helpers for the container shell tests (sourced).
# Each test makes a temporary busybox bundle and a private --root, and checks
# on exit that it left no container, cgroup or process behind.
set -u
RUNC=${INSULA_RUNC:-$(pwd)/insula-runc}
BUSYBOX=${BUSYBOX:-/bin/busybox}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root"
[ -x "$RUNC" ] || skip "no runtime at $RUNC"
[ -x "$BUSYBOX" ] || skip "needs busybox-static at $BUSYBOX"
command -v python3 >/dev/null || skip "needs python3"

T=$(mktemp -d /tmp/insula-ct-XXXXXX)
chmod 755 "$T"  # a container in a user namespace must be able to reach its rootfs
STATE=$T/state
IDS=()
cleanup() {
  local rc=$?
  for id in $("$RUNC" --root "$STATE" list -q 2>/dev/null) "${IDS[@]}"; do "$RUNC" --root "$STATE" delete --force "$id" >/dev/null 2>&1; done
  for id in "${IDS[@]}"; do
    for d in /sys/fs/cgroup/*/insula/"$id" /sys/fs/cgroup/insula/"$id"; do
      if [ -d "$d" ]; then echo "FAIL: leftover cgroup $d"; rc=1; rmdir "$d" 2>/dev/null; fi
    done
  done
  if grep -q "$T" /proc/mounts; then echo "FAIL: leftover mounts under $T in the host"; rc=1; fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT

# make_bundle DIR: a busybox rootfs and runc's default config with terminal off.
make_bundle() {
  local b=$1
  mkdir -p "$b/rootfs/bin" "$b/rootfs/etc" "$b/rootfs/tmp" "$b/rootfs/proc" "$b/rootfs/sys" "$b/rootfs/dev"
  cp "$BUSYBOX" "$b/rootfs/bin/busybox"
  for c in $("$BUSYBOX" --list); do [ "$c" = busybox ] || ln -sf busybox "$b/rootfs/bin/$c"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$b/rootfs/etc/passwd"
  "$RUNC" spec --bundle "$b" || fail "spec"
  cfg "$b" 'c["process"]["terminal"]=False; c["root"]["readonly"]=False'
}

# cfg DIR PYTHON: edits DIR/config.json as the dict c.
cfg() {
  python3 - "$1/config.json" "$2" <<'PY'
import json, sys
p, code = sys.argv[1], sys.argv[2]
c = json.load(open(p))
exec(code)
json.dump(c, open(p, "w"), indent=1)
PY
}

args() {  # args DIR 'shell command'
  python3 - "$1/config.json" "$2" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p)); c["process"]["args"] = ["sh", "-c", sys.argv[2]]
json.dump(c, open(p, "w"), indent=1)
PY
}

# new_id NAME: sets ID (not a $(...) helper: the id must be recorded in this shell).
new_id() { ID="t$$-$1"; IDS+=("$ID"); }
runc() { "$RUNC" --root "$STATE" "$@"; }
status_of() { runc state "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])'; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }
expect_contains() { case "$1" in *"$2"*) ;; *) fail "$3: expected to contain '$2', got: $1" ;; esac; }
