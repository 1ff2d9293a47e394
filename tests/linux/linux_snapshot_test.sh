#!/usr/bin/env bash
# The Linux-guest snapshot tier: inner_snapshot.sh inside the emulated-hardware
# test host snapshots and restores a running Linux guest with `insula vm`.
# Stores CHECK lines for check.sh. Usage: linux_snapshot_test.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$1
out=$build/tests/linux/snapshot_checks.txt
mkdir -p "$(dirname "$out")"
rm -f "$out"
appliance=$root/.cache/appliance
[ -f "$appliance/vmlinux" ] || "$root/scripts/prepare.d/30-appliance.sh" >&2 || { echo "cannot build the appliance"; exit 1; }
"$root/tests/nested/testhost" run --timeout 900 --memory 3072 \
  --file "$build/insula:/insula" --file "$build/insula-tools:/insula-tools" --file "$appliance:/appliance" \
  --file "$here/inner_snapshot.sh:/inner.sh" \
  -- sh /inner.sh >"$out.log" 2>&1
st=$?
grep '^CHECK ' "$out.log" | tr -d '\r' >"$out"
grep -v '^CHECK ' "$out.log" | tail -40
cat "$out"
grep -q "INNER DONE" "$out.log" || { echo "the test host run did not complete (status $st)"; exit 1; }
