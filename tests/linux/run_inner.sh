#!/usr/bin/env bash
# One Linux-guest tier run: INNER_SCRIPT (tests/linux/inner_*.sh) runs inside
# the emulated-hardware test host with insula's binaries at /insula and
# /insula-tools, the guest appliance at /appliance and the scripts' shared
# helpers at /inner_lib.sh; its "CHECK <name>
# PASS|FAIL ..." lines are stored in BUILD_DIR/tests/linux/CHECKS_FILE for
# check.sh (one ctest test per check). Extra arguments go to `testhost run`
# (--timeout, --memory, more --file's).
# Usage: run_inner.sh BUILD_DIR CHECKS_FILE INNER_SCRIPT [testhost run options...]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$1 checks=$2 inner=$3
shift 3
out=$build/tests/linux/$checks
mkdir -p "$(dirname "$out")"
rm -f "$out"
appliance=$root/.cache/appliance
[ -f "$appliance/vmlinux" ] || "$root/scripts/prepare.d/30-appliance.sh" >&2 || { echo "cannot build the appliance"; exit 1; }
"$root/tests/nested/testhost" run "$@" \
  --file "$build/insula:/insula" --file "$build/insula-tools:/insula-tools" --file "$appliance:/appliance" \
  --file "$here/inner_lib.sh:/inner_lib.sh" --file "$here/$inner:/inner.sh" -- sh /inner.sh >"$out.log" 2>&1
st=$?
grep '^CHECK ' "$out.log" | tr -d '\r' >"$out"
# A guest that hung (run_bounded, inner_lib.sh) in full, whatever came after it.
grep -A60 '^HUNG: ' "$out.log" | grep -v '^CHECK '
grep -v '^CHECK ' "$out.log" | tail -40
cat "$out"
grep -q "INNER DONE" "$out.log" || { echo "the test host run did not complete (status $st)"; exit 1; }
exit 0
